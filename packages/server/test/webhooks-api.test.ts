/**
 * The owner's webhook API (/v1/webhooks) over real HTTP: signing secrets (read, Replicate's
 * default/secret, rotation with and without overlap), the delivery log and redelivery, each only
 * for its own token, and the auth errors. Delivery is off in this gateway so every delivery state
 * is the test's doing: rows come from real tasks with callback URLs (the outbox), and attempts are
 * recorded through the gateway's own webhook store, as a delivery worker records them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { WebhookStore } from '../src/core/ports.js';
import { isTerminal } from '../src/core/types.js';
import { call, startGateway, waitForTask, type Reply, type TestGateway } from './helpers.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SECRET = /^whsec_[A-Za-z0-9+/]{32}$/;
const HOOK = 'http://127.0.0.1:9/hook';
const ITEM_KEYS = [
  'attempts', 'created_at', 'event', 'finished_at', 'id', 'last_error', 'last_status', 'log', 'next_attempt_at', 'state', 'task_id', 'url',
];

function assertError(r: Reply, status: number, code: string): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(typeof r.json.trace_id, 'string');
}

describe('webhooks API', () => {
  let t: TestGateway;
  let other: string;
  let store: WebhookStore;
  const as = (token: string | null, method: string, path: string, body?: unknown) => call(t.url, method, path, t.token, { token, body });

  before(async () => {
    t = await startGateway({ config: { webhooks: { enabled: false } } });
    other = (await t.gw.tokens.create('other')).token;
    // The gateway's own store (the SQLite file is held exclusively, so no second handle can open it).
    store = t.gw.webhookStore;
  });
  after(() => t.close());

  /** A finished task (created with a callback) and its deliveries as the API lists them. */
  async function taskWithDelivery(token = t.token, hook = HOOK): Promise<{ taskId: string; items: Reply['json'][] }> {
    const created = await as(token, 'POST', '/v1/demo/image', { prompt: 'a cat', callback_url: hook });
    assert.equal(created.status, 200, created.text);
    const owner = token === t.token ? t.ownerId : (await t.gw.tokens.authenticate(token))!.account.id;
    await waitForTask(t.gw, owner, created.json.task_id, (x) => isTerminal(x.state));
    const list = await as(token, 'GET', `/v1/webhooks/deliveries?task_id=${created.json.task_id}`);
    assert.equal(list.status, 200, list.text);
    return { taskId: created.json.task_id, items: list.json.items };
  }

  test('every route needs a valid token: no_token 400, invalid_token 401', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/v1/webhooks/secret'], ['POST', '/v1/webhooks/secret/rotate'], ['GET', '/v1/webhooks/default/secret'],
      ['GET', '/v1/webhooks/deliveries'], ['POST', '/v1/webhooks/deliveries/msg_x/redeliver'],
    ];
    for (const [method, path] of routes) {
      assertError(await as(null, method, path), 400, 'no_token');
      assertError(await as('tg_not_a_real_token', method, path), 401, 'invalid_token');
    }
  });

  test('the signing secret is created on first read, stable, per token, and is a valid Standard Webhooks key', async () => {
    const first = await as(t.token, 'GET', '/v1/webhooks/secret');
    assert.equal(first.status, 200, first.text);
    assert.match(first.json.secret, SECRET);
    assert.deepEqual(first.json.previous, []);
    assert.deepEqual((await as(t.token, 'GET', '/v1/webhooks/secret')).json, first.json);
    assert.deepEqual((await as(t.token, 'GET', '/v1/webhooks/default/secret')).json, { key: first.json.secret });
    assert.equal(first.json.secret, await t.gw.webhookSecrets.current(t.ownerId), 'the key the engine signs with');

    const theirs = (await as(other, 'GET', '/v1/webhooks/default/secret')).json.key;
    assert.match(theirs, SECRET);
    assert.notEqual(theirs, first.json.secret);

    const payload = '{"ok":true}';
    const now = new Date();
    const signature = new Webhook(first.json.secret).sign('msg_1', now, payload);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': signature };
    assert.deepEqual(new Webhook(first.json.secret).verify(payload, headers), { ok: true });
    assert.throws(() => new Webhook(theirs).verify(payload, headers));
  });

  test('rotation: a new secret, both in force during the overlap, only the new one after a zero overlap', async () => {
    const before = (await as(other, 'GET', '/v1/webhooks/secret')).json;
    const old = (await as(t.token, 'GET', '/v1/webhooks/secret')).json.secret;

    const started = Date.now();
    const rotated = await as(t.token, 'POST', '/v1/webhooks/secret/rotate', { overlap_seconds: 600 });
    assert.equal(rotated.status, 200, rotated.text);
    assert.match(rotated.json.secret, SECRET);
    assert.notEqual(rotated.json.secret, old);
    assert.match(rotated.json.previous_expire_at, ISO);
    const expires = Date.parse(rotated.json.previous_expire_at) - started;
    assert.ok(expires >= 599_000 && expires <= 601_000, `expires in ${expires} ms`);
    assert.deepEqual((await as(t.token, 'GET', '/v1/webhooks/secret')).json, { secret: rotated.json.secret, previous: [old] });
    assert.deepEqual(await t.gw.webhookSecrets.active(t.ownerId), [rotated.json.secret, old]);
    assert.deepEqual((await as(t.token, 'GET', '/v1/webhooks/default/secret')).json, { key: rotated.json.secret });

    const again = await as(t.token, 'POST', '/v1/webhooks/secret/rotate', { overlap_seconds: 0 });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual((await as(t.token, 'GET', '/v1/webhooks/secret')).json, { secret: again.json.secret, previous: [] });
    assert.deepEqual((await as(other, 'GET', '/v1/webhooks/secret')).json, before, "another token's secret is untouched");
  });

  test('rotation without a body uses the configured overlap; a bad overlap is a bad_request', async () => {
    const started = Date.now();
    const bare = await call(t.url, 'POST', '/v1/webhooks/secret/rotate', t.token, { headers: { 'content-type': 'application/json' } });
    assert.equal(bare.status, 200, bare.text);
    const overlap = t.gw.config.webhooks.secretOverlapSeconds * 1000;
    assert.ok(Math.abs(Date.parse(bare.json.previous_expire_at) - started - overlap) < 2000);
    assert.equal((await as(t.token, 'GET', '/v1/webhooks/secret')).json.previous.length, 1);
    for (const overlap_seconds of [-1, 1.5, '60', 31 * 86_400]) {
      const r = await as(t.token, 'POST', '/v1/webhooks/secret/rotate', { overlap_seconds });
      assertError(r, 400, 'bad_request');
      assert.match(r.json.error.message, /overlap_seconds/);
    }
    assertError(await as(t.token, 'POST', '/v1/webhooks/secret/rotate', [1]), 400, 'bad_request');
  });

  test('deliveries: a finished task with a callback has its completed delivery listed, without payload', async () => {
    const { taskId, items } = await taskWithDelivery();
    assert.equal(items.length, 1);
    const [d] = items;
    assert.deepEqual(Object.keys(d).sort(), ITEM_KEYS);
    assert.match(d.id, /^msg_/);
    assert.deepEqual(
      { task_id: d.task_id, event: d.event, url: d.url, state: d.state, attempts: d.attempts, finished_at: d.finished_at, log: d.log },
      { task_id: taskId, event: 'completed', url: HOOK, state: 'pending', attempts: 0, finished_at: null, log: [] },
    );
    assert.match(d.created_at, ISO);
    assert.match(d.next_attempt_at, ISO);
    assert.equal(d.last_status, null);
  });

  test('deliveries: a callback URL\'s password and query values are not echoed back', async () => {
    const secretHook = HOOK.replace('://', '://user:pw-5e3a9d@') + '?sig=sig-77b1c0';
    const { items } = await taskWithDelivery(t.token, secretHook);
    assert.equal(items[0].url, HOOK.replace('://', '://[redacted]@') + '?sig=[redacted]');
  });

  test('deliveries: attempts are listed with time, status, latency and error; redelivery queues the same id again', async () => {
    const { taskId, items } = await taskWithDelivery();
    const id = items[0].id;
    // Act as a delivery worker: claim it and record a failed attempt that gives up.
    const claimed = await store.claimDeliveries({ workerId: 'test-worker', now: Date.now(), leaseMs: 60_000, max: 100 });
    assert.ok(claimed.some((d) => d.id === id));
    const at = Date.now();
    const settled = await store.recordAttempt(id, 'test-worker', { n: 1, at, statusCode: 500, latencyMs: 12, error: 'HTTP 500' }, { state: 'failed' });
    assert.equal(settled?.state, 'failed');
    for (const d of claimed.filter((c) => c.id !== id)) {
      await store.recordAttempt(d.id, 'test-worker', { n: 1, at, statusCode: 200, latencyMs: 1, error: null }, { state: 'delivered' });
    }

    const [failed] = (await as(t.token, 'GET', `/v1/webhooks/deliveries?task_id=${taskId}`)).json.items;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.attempts, 1);
    assert.equal(failed.last_status, 500);
    assert.equal(failed.last_error, 'HTTP 500');
    assert.equal(failed.next_attempt_at, null);
    assert.match(failed.finished_at, ISO);
    assert.deepEqual(failed.log, [{ n: 1, at: new Date(at).toISOString(), status_code: 500, latency_ms: 12, error: 'HTTP 500' }]);

    assertError(await as(other, 'POST', `/v1/webhooks/deliveries/${id}/redeliver`), 404, 'not_found');
    assertError(await as(t.token, 'POST', '/v1/webhooks/deliveries/msg_unknown/redeliver'), 404, 'not_found');
    assert.equal((await as(t.token, 'GET', `/v1/webhooks/deliveries?task_id=${taskId}`)).json.items[0].state, 'failed');

    const again = await as(t.token, 'POST', `/v1/webhooks/deliveries/${id}/redeliver`);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.id, id);
    assert.equal(again.json.state, 'pending');
    assert.equal(again.json.finished_at, null);
    assert.equal(again.json.attempts, 1);
    assert.match(again.json.next_attempt_at, ISO);
    assert.equal(again.json.log.length, 1);
    const due = await store.claimDeliveries({ workerId: 'test-worker', now: Date.now() + 1, leaseMs: 60_000, max: 100 });
    assert.deepEqual(due.map((d) => d.id), [id], 'claimable again, under the same webhook-id');
  });

  test("deliveries are listed only to their owner; limit and task_id filter; bad queries are bad_request", async () => {
    const mine = await taskWithDelivery();
    const theirs = await taskWithDelivery(other);
    const all = (await as(t.token, 'GET', '/v1/webhooks/deliveries?limit=100')).json;
    assert.equal(all.count, all.items.length);
    assert.ok(all.items.some((d: { task_id: string }) => d.task_id === mine.taskId));
    assert.ok(!all.items.some((d: { task_id: string }) => d.task_id === theirs.taskId));
    assert.deepEqual((await as(t.token, 'GET', `/v1/webhooks/deliveries?task_id=${theirs.taskId}`)).json, { items: [], count: 0 });
    assertError(await as(t.token, 'POST', `/v1/webhooks/deliveries/${theirs.items[0].id}/redeliver`), 404, 'not_found');

    const two = (await as(t.token, 'GET', '/v1/webhooks/deliveries?limit=2')).json;
    assert.equal(two.count, 2);
    assert.deepEqual(two.items, all.items.slice(0, 2), 'newest first');
    for (const q of ['limit=0', 'limit=101', 'limit=x', 'limit=1&limit=2', 'task_id=a&task_id=b']) {
      assertError(await as(t.token, 'GET', `/v1/webhooks/deliveries?${q}`), 400, 'bad_request');
    }
  });

  test("Replicate's webhook_events_filter decides which events are queued", async () => {
    const create = async (filter?: string[]) => {
      const body = { input: { prompt: 'a cat' }, webhook: HOOK, ...(filter ? { webhook_events_filter: filter } : {}) };
      const r = await as(t.token, 'POST', '/v1/models/black-forest-labs/flux-dev/predictions', body);
      assert.equal(r.status, 201, r.text);
      await waitForTask(t.gw, t.ownerId, r.json.id, (x) => isTerminal(x.state));
      const items = (await as(t.token, 'GET', `/v1/webhooks/deliveries?task_id=${r.json.id}`)).json.items as Array<{ event: string; state: string }>;
      return { events: [...new Set(items.map((d) => d.event))].sort(), pending: items.filter((d) => d.state === 'pending').map((d) => d.event) };
    };
    assert.deepEqual(await create(['completed']), { events: ['completed'], pending: ['completed'] });
    assert.deepEqual(await create(['output']), { events: ['completed'], pending: ['completed'] });
    // All events: start and progress are queued too, and superseded by the newer completed one.
    assert.deepEqual(await create(), { events: ['completed', 'progress', 'start'], pending: ['completed'] });
  });
});
