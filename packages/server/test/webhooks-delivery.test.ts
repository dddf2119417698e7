/**
 * The webhook delivery engine against real local receivers (node:http on 127.0.0.1) and a real
 * gateway: retries under one webhook-id, Standard Webhooks signatures (and rotation), timeouts,
 * 410, an exhausted schedule, Retry-After, redirects, the response size cap, the SSRF guard at
 * connect, every terminal state, event order, redelivery and a graceful stop mid-delivery.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { WebhookDelivery, DeliveryAttempt } from '../src/core/types.js';
import { parseRetryAfter, retryDelayMs } from '../src/webhooks/schedule.js';
import { guardedLookup, WebhookSender } from '../src/webhooks/sender.js';
import { removeDir, startGateway, type TestGateway, until } from './helpers.js';

interface Hit { at: number; path: string; headers: Record<string, string>; body: string }
type Handler = (n: number, hit: Hit, res: ServerResponse, req: IncomingMessage) => void;

/** A receiver on 127.0.0.1; `handler` answers the n-th request (0-based) to any path. */
async function receiver(handler: Handler) {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit = { at: Date.now(), path: req.url ?? '', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString() };
      hits.push(hit);
      handler(hits.length - 1, hit, res, req);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base, hook: `${base}/hook`, hits,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const answer = (status: number, headers: Record<string, string> = {}) => (_n: number, _h: Hit, res: ServerResponse) => {
  res.writeHead(status, headers).end(status === 200 ? 'ok' : `status ${status}`);
};

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 8000): Promise<T> => until(what, fn, timeoutMs, 15);

async function createTask(t: TestGateway, callbackUrl: string, prompt = 'a webhook cat', service = 'demo/image'): Promise<string> {
  const r = await t.call('POST', `/v1/${service}`, { body: { prompt, async: true, callback_url: callbackUrl } });
  assert.equal(r.status, 200, r.text);
  return r.json.task_id as string;
}

type Logged = WebhookDelivery & { log: DeliveryAttempt[] };
async function deliveries(t: TestGateway, taskId: string, owner = t.ownerId): Promise<Logged[]> {
  return t.gw.webhooks!.opts.store.listDeliveries(owner, { taskId, limit: 20 });
}
/** The task's single delivery once it is settled (delivered or failed). */
async function settled(t: TestGateway, taskId: string, timeoutMs?: number, owner = t.ownerId): Promise<Logged> {
  return waitFor(`delivery of ${taskId} to settle`, async () => {
    const [d] = await deliveries(t, taskId, owner);
    return d && (d.state === 'delivered' || d.state === 'failed') ? d : undefined;
  }, timeoutMs);
}

async function withGateway(config: Record<string, unknown>, fn: (t: TestGateway) => Promise<void>, services?: Record<string, unknown>) {
  const t = await startGateway({ config: { webhooks: { enabled: true, ...config } }, services });
  try {
    await fn(t);
  } finally {
    await t.close();
    removeDir(t.dataDir);
  }
}

test('first attempts answer 500: delivered on the third, same webhook-id and body, signed, every attempt logged', async () => {
  const rx = await receiver((n, h, res) => answer(n < 2 ? 500 : 200)(n, h, res));
  await withGateway({}, async (t) => {
    const id = await createTask(t, rx.hook);
    const d = await settled(t, id);
    assert.equal(d.state, 'delivered');
    assert.equal(rx.hits.length, 3);
    assert.deepEqual(d.log.map((a) => [a.n, a.statusCode]), [[1, 500], [2, 500], [3, 200]]);
    assert.equal(d.log[0]!.error, 'HTTP 500: status 500');
    assert.equal(d.log[2]!.error, null);
    assert.ok(d.log.every((a) => a.latencyMs >= 0 && a.at > 0));
    assert.deepEqual(new Set(rx.hits.map((h) => h.headers['webhook-id'])), new Set([d.id]));
    assert.equal(new Set(rx.hits.map((h) => h.body)).size, 1, 'retries resend the stored payload verbatim');
    const secret = await t.gw.webhookSecrets.current(t.ownerId);
    assert.match(secret, /^whsec_/);
    for (const h of rx.hits) {
      assert.equal(h.headers['content-type'], 'application/json');
      assert.equal(h.headers['user-agent'], 'taskgate-webhooks');
      new Webhook(secret).verify(h.body, h.headers);
    }
    const body = JSON.parse(rx.hits[0]!.body);
    assert.equal(body.success, true);
    assert.equal(body.task_id, id);
    assert.match(body.data[0].url, /^http:\/\/127\.0\.0\.1:\d+\/files\//);
    assert.throws(() => new Webhook(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).verify(rx.hits[0]!.body, rx.hits[0]!.headers));
  });
  await rx.close();
});

test('during a secret rotation deliveries carry two signatures: old and new secrets both verify', async () => {
  const rx = await receiver(answer(200));
  await withGateway({}, async (t) => {
    const old = await t.gw.webhookSecrets.current(t.ownerId);
    await settled(t, await createTask(t, rx.hook));
    assert.equal(rx.hits[0]!.headers['webhook-signature']!.split(' ').length, 1);
    const { secret: fresh } = await t.gw.webhookSecrets.rotate(t.ownerId, 60);
    assert.notEqual(fresh, old);
    await settled(t, await createTask(t, rx.hook));
    const hit = rx.hits[1]!;
    assert.equal(hit.headers['webhook-signature']!.split(' ').length, 2);
    for (const s of [old, fresh]) new Webhook(s).verify(hit.body, hit.headers);
    assert.ok(Math.abs(Number(hit.headers['webhook-timestamp']) - hit.at / 1000) < 5, 'timestamp is the send time');
  });
  await rx.close();
});

test('a receiver that hangs times out, the attempt is logged and retried, then delivered', async () => {
  const rx = await receiver((n, h, res) => { if (n > 0) answer(200)(n, h, res); });
  await withGateway({ timeoutMs: 300 }, async (t) => {
    const d = await settled(t, await createTask(t, rx.hook));
    assert.equal(d.state, 'delivered');
    assert.equal(d.log.length, 2);
    assert.equal(d.log[0]!.statusCode, null);
    assert.match(d.log[0]!.error ?? '', /timed out after 300 ms/);
    assert.ok(d.log[0]!.latencyMs >= 280 && d.log[0]!.latencyMs < 2000, `latency ${d.log[0]!.latencyMs}`);
    assert.equal(d.log[1]!.statusCode, 200);
    assert.equal(rx.hits[0]!.headers['webhook-id'], rx.hits[1]!.headers['webhook-id']);
  });
  await rx.close();
});

test('410 stops retrying at once; an exhausted schedule ends failed and stays visible', async () => {
  const gone = await receiver(answer(410));
  const down = await receiver(answer(503));
  await withGateway({}, async (t) => {
    const goneId = await createTask(t, gone.hook);
    const downId = await createTask(t, down.hook);
    const g = await settled(t, goneId);
    const f = await settled(t, downId);
    await new Promise((r) => setTimeout(r, 400)); // well past the whole schedule (0, 50, 100 ms)
    assert.equal(gone.hits.length, 1);
    assert.deepEqual([g.state, g.attempts, g.lastStatus, g.log.length], ['failed', 1, 410, 1]);
    assert.equal(down.hits.length, 3);
    const after = (await deliveries(t, downId))[0]!;
    assert.deepEqual([after.state, after.attempts, after.lastStatus, after.log.map((a) => a.statusCode)], ['failed', 3, 503, [503, 503, 503]]);
    assert.ok(f.finishedAt !== null);
  });
  await Promise.all([gone.close(), down.close()]);
});

test('Retry-After on a 429 holds the next attempt back at least that long', async () => {
  const rx = await receiver((n, h, res) => (n === 0 ? answer(429, { 'retry-after': '1' }) : answer(200))(n, h, res));
  await withGateway({ retrySchedule: [0, 0.05] }, async (t) => {
    const d = await settled(t, await createTask(t, rx.hook), 10_000);
    assert.equal(d.state, 'delivered');
    const gap = rx.hits[1]!.at - rx.hits[0]!.at;
    assert.ok(gap >= 950 && gap < 3000, `second attempt ${gap} ms after the first`);
  });
  await rx.close();
});

test('redirects are not followed: a 302 is a failed attempt and its target is never called', async () => {
  const rx = await receiver((n, h, res) => (h.path === '/hook' ? answer(302, { location: '/target' }) : answer(200))(n, h, res));
  await withGateway({ retrySchedule: [0] }, async (t) => {
    const d = await settled(t, await createTask(t, rx.hook));
    assert.deepEqual([d.state, d.lastStatus, d.log.length], ['failed', 302, 1]);
    assert.deepEqual(rx.hits.map((h) => h.path), ['/hook']);
  });
  await rx.close();
});

test('a receiver streaming an endless body is read up to the cap only; the attempt completes quickly', async () => {
  let written = 0;
  const rx = await receiver((_n, _h, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const chunk = Buffer.alloc(16 * 1024, 120);
    const pump = (): void => {
      while (!res.destroyed && written < 512 * 1024 * 1024) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
    };
    pump();
  });
  await withGateway({ maxResponseBytes: 1024, timeoutMs: 5000 }, async (t) => {
    const d = await settled(t, await createTask(t, rx.hook));
    assert.equal(d.state, 'delivered');
    assert.ok(d.log[0]!.latencyMs < 2000, `latency ${d.log[0]!.latencyMs}`);
    assert.ok(written < 64 * 1024 * 1024, `receiver wrote ${written} bytes before the gateway hung up`);
  });
  await rx.close();
});

test('SSRF at delivery: loopback, localhost, private and metadata addresses are refused at connect', async () => {
  const rx = await receiver(answer(200));
  const guarded = new WebhookSender({ timeoutMs: 1000, allowPrivateCallbacks: false, maxResponseBytes: 1024 });
  const open = new WebhookSender({ timeoutMs: 1000, allowPrivateCallbacks: true, maxResponseBytes: 1024 });
  try {
    const port = new URL(rx.base).port;
    for (const url of [rx.hook, `http://localhost:${port}/hook`, `http://[::1]:${port}/hook`, 'http://10.0.0.1/hook', 'http://169.254.169.254/latest', 'http://[::ffff:127.0.0.1]:1/']) {
      const r = await guarded.send(url, { 'content-type': 'application/json' }, '{}');
      assert.equal(r.statusCode, null, url);
      assert.match(r.error ?? '', /loopback, private, link-local or metadata address/, `${url}: ${r.error}`);
    }
    assert.equal(rx.hits.length, 0, 'nothing reached the receiver');
    const ok = await open.send(rx.hook, { 'content-type': 'application/json' }, '{}');
    assert.deepEqual([ok.statusCode, ok.error, rx.hits.length], [200, null, 1], 'allowed when private callbacks are allowed');
    const looked = await new Promise<Error | null>((r) => guardedLookup('localhost', { all: true }, (err) => r(err)));
    assert.equal(looked?.name, 'BlockedAddressError');
  } finally {
    await Promise.all([guarded.close(), open.close(), rx.close()]);
  }
});

test('failed and cancelled tasks get their completed webhook too', async () => {
  const rx = await receiver(answer(200));
  await withGateway({}, async (t) => {
    const failed = await createTask(t, rx.hook, 'a forbidden-demo-word cat');
    const slow = await createTask(t, rx.hook, 'a slow cat', 'slow/image');
    assert.equal((await t.gw.tasks.cancel(t.ownerId, slow)).outcome, 'cancelled');
    for (const [id, code] of [[failed, 'forbidden'], [slow, 'cancelled']] as const) {
      const d = await settled(t, id);
      assert.equal(d.state, 'delivered');
      const body = JSON.parse(rx.hits.find((h) => h.headers['webhook-id'] === d.id)!.body);
      assert.deepEqual([body.success, body.task_id, body.error.code], [false, id, code]);
    }
  }, { 'slow/image': { provider: 'demo-image', mode: 'async', options: { latencyMs: 5000, steps: 1, defaultWidth: 64, defaultHeight: 64 } } });
  await rx.close();
});

test('start, progress and completed events arrive in order, never an older state after a newer one', async () => {
  const rx = await receiver(answer(200));
  await withGateway({}, async (t) => {
    const task = await t.gw.tasks.create({
      ownerId: t.ownerId, service: 'flux/dev', dialect: 'task-api', request: { prompt: 'ordered' }, input: { prompt: 'ordered' },
      traceId: 'trace-ordered', callbackUrl: rx.hook, webhookEvents: ['start', 'progress', 'completed'],
    });
    await waitFor('the completed webhook', async () => (await deliveries(t, task.id)).find((d) => d.event === 'completed' && d.state === 'delivered'));
    const all = (await deliveries(t, task.id)).sort((a, b) => a.seq - b.seq);
    const sent = all.filter((d) => d.state === 'delivered');
    assert.ok(sent.length >= 2, `start/progress delivered too: ${all.map((d) => `${d.event}:${d.state}`).join(' ')}`);
    assert.equal(sent.at(-1)!.event, 'completed');
    assert.deepEqual(rx.hits.map((h) => h.headers['webhook-id']), sent.map((d) => d.id), 'received in seq order');
    assert.ok(all.every((d) => d.state === 'delivered' || d.state === 'superseded'));
  });
  await rx.close();
});

test('a redelivery sends the same webhook-id and body again', async () => {
  const rx = await receiver(answer(200));
  await withGateway({}, async (t) => {
    const d = await settled(t, await createTask(t, rx.hook));
    const again = await t.gw.webhooks!.opts.store.redeliver(t.ownerId, d.id, Date.now());
    assert.equal(again?.state, 'pending');
    t.gw.webhooks!.wake();
    await waitFor('the second receipt', () => (rx.hits.length === 2 ? true : undefined));
    const after = await settled(t, d.taskId);
    assert.deepEqual([after.state, after.attempts], ['delivered', 2]);
    assert.deepEqual([rx.hits[1]!.headers['webhook-id'], rx.hits[1]!.body], [d.id, rx.hits[0]!.body]);
  });
  await rx.close();
});

test('a graceful stop mid-delivery gives the lease back; the next start delivers it under the same id', async () => {
  const rx = await receiver((n, h, res) => { if (n > 0) answer(200)(n, h, res); });
  const first = await startGateway({ config: { webhooks: { enabled: true, timeoutMs: 20_000, leaseMs: 120_000 } } });
  const id = await createTask(first, rx.hook);
  await waitFor('the first (held) request', () => (rx.hits.length === 1 ? true : undefined));
  const started = Date.now();
  await first.close();
  assert.ok(Date.now() - started < 5000, 'stop does not wait for the hanging receiver');
  const second = await startGateway({ dataDir: first.dataDir, config: { webhooks: { enabled: true } } });
  try {
    const d = await settled(second, id, undefined, first.ownerId);
    assert.equal(d.state, 'delivered');
    assert.deepEqual(rx.hits.map((h) => h.headers['webhook-id']), [d.id, d.id]);
    assert.deepEqual(d.log.map((a) => a.statusCode), [200], 'the aborted attempt was not counted');
  } finally {
    await second.close();
    removeDir(first.dataDir);
    await rx.close();
  }
});

test('retry delays: the schedule with ±20 % jitter, raised to Retry-After (seconds or HTTP date, capped), then exhausted', () => {
  const schedule = [0, 5, 300];
  assert.deepEqual([0, 0.5, 0.999].map((r) => retryDelayMs(schedule, 1, null, () => r)), [4000, 5000, 5998]);
  assert.equal(retryDelayMs([0, 0], 1, null, () => 0), 0, 'no jitter on a zero delay');
  assert.equal(retryDelayMs(schedule, 1, 60_000, () => 0.5), 60_000, 'Retry-After raises the delay');
  assert.equal(retryDelayMs(schedule, 2, 1000, () => 0.5), 300_000, 'never lowers it');
  assert.equal(retryDelayMs(schedule, 1, 86_400_000, () => 0.5), 3_600_000, 'capped at an hour');
  assert.equal(retryDelayMs(schedule, 3, null), null, 'exhausted');
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Mon, 31 Dec 2029 00:00:00 GMT', now), 0);
  for (const bad of [undefined, '', '-1', '1.5', 'soon']) assert.equal(parseRetryAfter(bad, now), null, String(bad));
});
