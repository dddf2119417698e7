/** Idempotency-Key on create: a retry returns the first task (no second task, no second charge). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_TOKEN, ManualClock, startGateway, waitForTask, type TestGateway } from './helpers.js';

const SERVICES = {
  'paid/image': {
    provider: 'demo-image', mode: 'wait', price: 2, waitLimitMs: 5000,
    aliases: { apixo: ['paid'], queue: ['acme/paid/image'], replicate: ['acme/paid'] },
    options: { latencyMs: 300, steps: 2, defaultWidth: 64, defaultHeight: 64 },
  },
};

async function fund(t: TestGateway, amount: number): Promise<void> {
  const r = await t.call('POST', `/admin/accounts/${t.ownerId}/topup`, { token: ADMIN_TOKEN, body: { amount, reason: 'test' } });
  assert.equal(r.status, 200, r.text);
}

async function holds(t: TestGateway): Promise<number> {
  return (await t.call('GET', '/v1/account/ledger?limit=200')).json.items.filter((e: { kind: string }) => e.kind === 'hold').length;
}

test('a create retried after a dropped response returns the first task: one task, one charge', async () => {
  const t = await startGateway({ services: SERVICES });
  try {
    await fund(t, 10);
    const headers = { 'idempotency-key': 'order-42', 'content-type': 'application/json', authorization: `Bearer ${t.token}` };
    const body = JSON.stringify({ prompt: 'a lighthouse' });
    // The client gives up before the (waiting) create answers: the response is lost.
    const dropped = new AbortController();
    const first = fetch(`${t.url}/v1/paid/image`, { method: 'POST', headers, body, signal: dropped.signal });
    await new Promise((r) => setTimeout(r, 60));
    dropped.abort();
    await assert.rejects(first);
    const retry = await t.call('POST', '/v1/paid/image', { raw: body, headers: { 'idempotency-key': 'order-42' } });
    assert.equal(retry.status, 200, retry.text);
    assert.equal(retry.json.success, true);
    const again = await t.call('POST', '/v1/paid/image', { raw: body, headers: { 'idempotency-key': 'order-42' } });
    assert.deepEqual(again.json, retry.json, 'the same response every time');
    assert.equal(await holds(t), 1, 'charged once');
    assert.deepEqual((await t.call('GET', '/v1/account/balance')).json, { balance: 8, held: 0, used: 2 });
    const listed = await t.call('POST', '/v1/paid/tasks', { body: { action: 'retrieve_batch', ids: [retry.json.task_id] } });
    assert.equal(listed.json.count, 1);
  } finally {
    await t.close();
  }
});

test('concurrent creates with one key make one task; another token’s key is its own', async () => {
  const t = await startGateway({ services: SERVICES, config: { dispatch: { enabled: false } } });
  try {
    await fund(t, 100);
    const send = (token?: string) => t.call('POST', '/v1/paid/image', { token, body: { prompt: 'same', async: true }, headers: { 'idempotency-key': 'k-1' } });
    const answers = await Promise.all(Array.from({ length: 10 }, () => send()));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    assert.equal(new Set(answers.map((a) => a.json.task_id)).size, 1);
    assert.equal(await holds(t), 1);
    const { token: other, record } = await t.gw.tokens.create('other');
    await t.call('POST', `/admin/accounts/${record.accountId}/topup`, { token: ADMIN_TOKEN, body: { amount: 10, reason: 'x' } });
    const theirs = await send(other);
    assert.equal(theirs.status, 200);
    assert.notEqual(theirs.json.task_id, answers[0]!.json.task_id);
  } finally {
    await t.close();
  }
});

test('the same key with a different request is refused in every dialect’s envelope; nothing is created', async () => {
  const t = await startGateway({ services: SERVICES, config: { dispatch: { enabled: false } } });
  try {
    await fund(t, 100);
    const key = { 'idempotency-key': 'reused' };
    assert.equal((await t.call('POST', '/v1/paid/image', { body: { prompt: 'first', async: true }, headers: key })).status, 200);
    const task = await t.call('POST', '/v1/paid/image', { body: { prompt: 'second', async: true }, headers: key });
    assert.deepEqual([task.status, task.json.error.code], [422, 'idempotency_mismatch']);
    const apixo = await t.call('POST', '/api/v1/generateTask/paid', { body: { input: { prompt: 'other' } }, headers: key });
    assert.ok(apixo.status >= 400 && apixo.status < 500 && apixo.json.code === apixo.status, apixo.text);
    const queue = await t.call('POST', '/v1/queue/acme/paid/image', { body: { prompt: 'other' }, headers: key });
    assert.equal(queue.status, 422);
    assert.match(queue.json.detail, /Idempotency-Key/);
    const replicate = await t.call('POST', '/v1/models/acme/paid/predictions', { body: { input: { prompt: 'other' } }, headers: key });
    assert.deepEqual([replicate.status, replicate.json.status], [422, 422]);
    assert.equal(await holds(t), 1);
    const bad = await t.call('POST', '/v1/paid/image', { body: { prompt: 'x' }, headers: { 'idempotency-key': 'x'.repeat(256) } });
    assert.deepEqual([bad.status, bad.json.error.code], [400, 'bad_request']);
  } finally {
    await t.close();
  }
});

test('every dialect returns the first task for a repeated key', async () => {
  const t = await startGateway({ services: SERVICES, config: { dispatch: { enabled: false } } });
  try {
    await fund(t, 100);
    const twice = async (send: (n: number) => Promise<string>) => {
      const [a, b] = [await send(1), await send(2)];
      assert.equal(a, b);
      return a;
    };
    await twice(async () => (await t.call('POST', '/api/v1/generateTask/paid', { body: { input: { prompt: 'p' } }, headers: { 'idempotency-key': 'a' } })).json.data.taskId);
    await twice(async () => (await t.call('POST', '/v1/queue/acme/paid/image', { body: { prompt: 'p' }, headers: { 'idempotency-key': 'q' } })).json.request_id);
    await twice(async () => (await t.call('POST', '/v1/models/acme/paid/predictions', { body: { input: { prompt: 'p' } }, headers: { 'idempotency-key': 'r' } })).json.id);
    assert.equal(await holds(t), 3);
  } finally {
    await t.close();
  }
});

test('a key is remembered for 24 hours, then a create makes a new task', async () => {
  const clock = new ManualClock();
  const t = await startGateway({ clock, services: SERVICES, config: { dispatch: { enabled: false } } });
  try {
    await fund(t, 100);
    const send = () => t.call('POST', '/v1/paid/image', { body: { prompt: 'daily', async: true }, headers: { 'idempotency-key': 'daily' } });
    const first = (await send()).json.task_id;
    clock.advance(24 * 3600 * 1000 - 1);
    assert.equal((await send()).json.task_id, first);
    clock.advance(2);
    const later = (await send()).json.task_id;
    assert.notEqual(later, first);
    await waitForTask(t.gw, t.ownerId, later, () => true);
    assert.equal(await holds(t), 2);
  } finally {
    await t.close();
  }
});
