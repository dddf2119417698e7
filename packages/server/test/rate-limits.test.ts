/**
 * Per-token rate limits: a burst of creates over the limit answers 429 with Retry-After in every
 * dialect's envelope and creates nothing; polls count against the same budget; the budget comes back after the window; per-service
 * limits apply per token; a token's own `rateLimitRps` overrides the default.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { RATE_LIMIT_MESSAGE, RateLimits } from '../src/accounts/rate-limits.js';
import { GatewayError } from '../src/core/errors.js';
import { startGateway, type Reply, type TestGateway } from './helpers.js';

const RPS = 3;

interface Dialect {
  name: string;
  create(t: TestGateway, token: string, prompt: string): Promise<Reply>;
  created: number;
  assert429(r: Reply): void;
}

const DIALECTS: Dialect[] = [
  {
    name: 'task API',
    create: (t, token, prompt) => t.call('POST', '/v1/flux/dev', { token, body: { prompt, async: true } }),
    created: 200,
    assert429: (r) => {
      assert.equal(r.json.error.code, 'too_many_requests');
      assert.equal(r.json.error.message, RATE_LIMIT_MESSAGE);
      assert.ok(r.json.trace_id);
    },
  },
  {
    name: 'APIXO',
    create: (t, token, prompt) => t.call('POST', '/api/v1/generateTask/flux-dev', { token, body: { input: { prompt } } }),
    created: 200,
    assert429: (r) => assert.deepEqual(r.json, { code: 429, message: 'Too many requests', data: { error: RATE_LIMIT_MESSAGE } }),
  },
  {
    name: 'queue',
    create: (t, token, prompt) => t.call('POST', '/v1/queue/fal-ai/flux/dev', { token, body: { prompt } }),
    created: 200,
    assert429: (r) => {
      assert.equal(r.json.error.code, 'RATE_LIMIT_EXCEEDED');
      assert.equal(typeof r.json.request_id, 'string');
    },
  },
  {
    name: 'Replicate',
    create: (t, token, prompt) => t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { token, body: { input: { prompt } } }),
    created: 201,
    assert429: (r) => {
      assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.deepEqual(r.json, { title: 'Too many requests', detail: RATE_LIMIT_MESSAGE, status: 429 });
    },
  },
];

async function storedTasks(t: TestGateway, ownerId: string): Promise<number> {
  return (await t.gw.tasks.list({ ownerId, limit: 1000 })).length;
}

/** Fires `n` creates at once; returns the replies sorted successes first. */
async function burst(d: Dialect, t: TestGateway, token: string, n: number): Promise<Reply[]> {
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => d.create(t, token, `p${i}`)));
  return replies.sort((a, b) => a.status - b.status);
}

test('a burst over the per-token limit answers 429 with Retry-After in each dialect, and resets after the window', async () => {
  const t = await startGateway({ config: { dispatch: { enabled: false }, rateLimits: { rps: RPS } } });
  try {
    for (const d of DIALECTS) {
      const { token, record } = await t.gw.tokens.create(`burst-${d.name}`);
      const replies = await burst(d, t, token, RPS + 2);
      assert.deepEqual(replies.map((r) => r.status), [...Array(RPS).fill(d.created), 429, 429], d.name);
      for (const r of replies.slice(RPS)) {
        assert.equal(r.headers.get('retry-after'), '1', `${d.name}: Retry-After in seconds`);
        d.assert429(r);
      }
      assert.equal(await storedTasks(t, record.accountId), RPS, `${d.name}: refused creates stored nothing`);

      await sleep(1100); // the 1-second window has passed
      const again = await d.create(t, token, 'after the window');
      assert.equal(again.status, d.created, `${d.name}: the budget is back after Retry-After`);
    }
  } finally {
    await t.close();
  }
});

test('polls and reads count against the same per-token budget, in every dialect', async () => {
  const t = await startGateway({ config: { dispatch: { enabled: false }, rateLimits: { rps: 2 } } });
  try {
    const polls: Array<[string, (token: string, id: string) => Promise<Reply>, (r: Reply) => void]> = [
      ['task API', (token, id) => t.call('POST', '/v1/flux/tasks', { token, body: { action: 'retrieve', id } }), DIALECTS[0]!.assert429],
      ['APIXO', (token, id) => t.call('GET', `/api/v1/statusTask/flux-dev?taskId=${id}`, { token }), DIALECTS[1]!.assert429],
      ['queue', (token, id) => t.call('GET', `/v1/queue/fal-ai/flux/requests/${id}/status`, { token }), DIALECTS[2]!.assert429],
      ['Replicate', (token, id) => t.call('GET', `/v1/predictions/${id}`, { token }), DIALECTS[3]!.assert429],
    ];
    for (const [name, poll, assert429] of polls) {
      const { token } = await t.gw.tokens.create(`poll-${name}`);
      const created = await DIALECTS[0]!.create(t, token, 'polled'); // the first of 2 requests this second
      assert.equal(created.status, 200, created.text);
      const id = created.json.task_id as string;
      const [first, second] = await Promise.all([poll(token, id), poll(token, id)]).then((rs) => rs.sort((a, b) => a.status - b.status));
      assert.equal(first!.status, 200, `${name}: ${first!.text}`);
      assert.equal(second!.status, 429, `${name}: the third request in a second is refused`);
      assert.equal(second!.headers.get('retry-after'), '1');
      assert429(second!);
    }
  } finally {
    await t.close();
  }
});

test('tokens have separate budgets', async () => {
  const t = await startGateway({ config: { dispatch: { enabled: false }, rateLimits: { rps: 2 } } });
  try {
    const other = await t.gw.tokens.create('other');
    const task = DIALECTS[0]!;
    assert.deepEqual((await burst(task, t, t.token, 3)).map((r) => r.status), [200, 200, 429]);
    assert.deepEqual((await burst(task, t, other.token, 2)).map((r) => r.status), [200, 200], 'another token is not affected');
  } finally {
    await t.close();
  }
});

test('per-service limits apply per token to that service only; no default limit by default', async () => {
  const t = await startGateway({ config: { dispatch: { enabled: false }, rateLimits: { services: { 'flux/dev': 2 } } } });
  try {
    assert.equal(t.gw.config.rateLimits.rps, null);
    const queue = DIALECTS[2]!;
    const replies = await burst(queue, t, t.token, 3);
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 429]);
    assert.equal(replies[2]!.headers.get('retry-after'), '1');
    const flux = await t.call('POST', '/v1/flux/dev', { body: { prompt: 'x', async: true } });
    assert.equal(flux.status, 429);
    assert.equal(flux.json.error.code, 'too_many_requests');
    assert.match(flux.json.error.message, /flux\/dev/);

    // Other services are not limited (no default rps), and another token has its own budget.
    const others = await Promise.all(Array.from({ length: 10 }, () => t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x', async: true } })));
    assert.ok(others.every((r) => r.status === 200));
    const second = await t.gw.tokens.create('second');
    assert.deepEqual((await burst(queue, t, second.token, 2)).map((r) => r.status), [200, 200]);
  } finally {
    await t.close();
  }
});

test('a per-service limit naming no service fails the start', async () => {
  await assert.rejects(startGateway({ config: { rateLimits: { services: { 'no/such': 1 } } } }), /rateLimits\.services: no such service: no\/such/);
});

test("a token's own rateLimitRps overrides the default", async () => {
  const limits = new RateLimits({ rps: 5, services: {} });
  const consume = async (token: { id: string; rateLimitRps?: number | null }, n: number): Promise<number> => {
    let refused = 0;
    for (let i = 0; i < n; i++) {
      try {
        await limits.request({ token, account: { id: `account-of-${token.id}` } });
      } catch (err) {
        assert.ok(err instanceof GatewayError && err.code === 'too_many_requests' && err.retryAfter === 1);
        refused++;
      }
    }
    return refused;
  };
  assert.equal(await consume({ id: 'a', rateLimitRps: 1 }, 3), 2, 'override lower than the default');
  assert.equal(await consume({ id: 'b', rateLimitRps: 8 }, 8), 0, 'override higher than the default');
  assert.equal(await consume({ id: 'c', rateLimitRps: null }, 6), 1, 'null keeps the default');
  assert.equal(await consume({ id: 'd' }, 6), 1, 'no field keeps the default');
});
