/**
 * The dashboard's API (docs/dashboard-api.md) over real HTTP, on SQLite and on Postgres: the task
 * list with every filter and its pages, the CSV export, a task's page (output link, timeline,
 * deliveries, ledger), redelivery, services, and who sees what: the admin every account, an
 * account's token its own tasks only.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isTerminal } from '../src/core/types.js';
import { ADMIN_TOKEN, call, startGateway, until, waitForTask, type Reply, type TestGateway } from './helpers.js';
import { freshDatabase, postgresUnavailable } from './pg.js';

const pgSkip = (await postgresUnavailable()) ?? false;

const PAID = { provider: 'demo-image', mode: 'async', price: 3, options: { latencyMs: 10, steps: 2, defaultWidth: 64, defaultHeight: 64 } };

function assertError(r: Reply, status: number, code: string): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error.code, code, r.text);
}

/** A webhook receiver on 127.0.0.1 that keeps every request's headers. */
async function receiver(): Promise<{ url: string; seen: IncomingHttpHeaders[]; close: () => Promise<void> }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

for (const driver of ['sqlite', 'postgres'] as const) {
  describe(`dashboard API on ${driver}`, { skip: driver === 'postgres' ? pgSkip : false }, () => {
    let t: TestGateway;
    let hook: Awaited<ReturnType<typeof receiver>>;
    let drop = async () => {};
    let other: { token: string; accountId: string };
    const admin = (method: string, path: string, body?: unknown) => call(t.url, method, path, ADMIN_TOKEN, { body });
    const mine = (method: string, path: string, body?: unknown) => t.call(method, path, { body });
    const finished = async (token: string, ownerId: string, body: Record<string, unknown>, path = '/v1/demo/image') => {
      const created = await call(t.url, 'POST', path, token, { body: { async: true, ...body } });
      assert.equal(created.status, 200, created.text);
      return waitForTask(t.gw, ownerId, created.json.task_id, (x) => isTerminal(x.state));
    };

    before(async () => {
      hook = await receiver();
      const db = driver === 'postgres' ? await freshDatabase() : null;
      if (db) drop = db.drop;
      t = await startGateway({ config: { webhooks: { enabled: true }, ...(db ? { databaseUrl: db.url } : {}) }, services: { 'paid/image': PAID } });
      const created = await t.gw.tokens.create('other');
      other = { token: created.token, accountId: created.record.accountId };
      for (const id of [t.ownerId, other.accountId]) await call(t.url, 'POST', `/admin/accounts/${id}/topup`, ADMIN_TOKEN, { body: { amount: 100, reason: 'test' } });
    });
    after(async () => {
      await t.close();
      await hook.close();
      await drop();
    });

    test('who is signed in: the admin token, or an account with its credits and the token it presented', async () => {
      assert.deepEqual((await admin('GET', '/admin/whoami')).json, { role: 'admin' });
      const me = await mine('GET', '/v1/account');
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.role, 'account');
      assert.equal(me.json.account.id, t.ownerId);
      assert.equal(typeof me.json.account.balance, 'number');
      assert.equal(me.json.token.account_id, t.ownerId);
      assert.equal(me.json.token.token, undefined, 'never a secret');
      const tokens = await mine('GET', '/v1/account/tokens');
      assert.deepEqual(tokens.json.items.map((x: { account_id: string }) => x.account_id), [t.ownerId]);
      assert.ok(!tokens.text.includes(t.token), 'the token itself is not listed');
    });

    test('every route needs its token: an account token is not the admin’s, and no token is refused', async () => {
      for (const path of ['/admin/whoami', '/admin/tasks', '/admin/tasks/export.csv', '/admin/tasks/x', '/admin/services']) {
        assertError(await call(t.url, 'GET', path, t.token), 401, 'invalid_token');
        assertError(await call(t.url, 'GET', path, t.token, { token: null }), 400, 'no_token');
      }
      for (const path of ['/v1/account', '/v1/account/tasks', '/v1/account/tasks/export.csv', '/v1/account/tasks/x', '/v1/account/services', '/v1/account/tokens']) {
        assertError(await call(t.url, 'GET', path, t.token, { token: null }), 400, 'no_token');
        assertError(await call(t.url, 'GET', path, t.token, { token: 'tg_nope' }), 401, 'invalid_token');
      }
    });

    test('the list filters by service, state, account and time, pages with next_before, and an account sees only its own', async () => {
      const a1 = await finished(t.token, t.ownerId, { prompt: 'one' });
      const a2 = await finished(t.token, t.ownerId, { prompt: 'fail-demo-word' });
      const b1 = await finished(other.token, other.accountId, { prompt: 'theirs' });
      const ids = (r: Reply) => r.json.items.map((x: { id: string }) => x.id);

      const all = await admin('GET', '/admin/tasks?service=demo/image');
      assert.equal(all.status, 200, all.text);
      assert.deepEqual(ids(all).slice(0, 3), [b1.id, a2.id, a1.id]);
      const row = all.json.items.find((x: { id: string }) => x.id === a2.id);
      assert.equal(row.state, 'failed');
      assert.equal(row.account_id, t.ownerId);
      assert.equal(row.error.code, 'api_error');
      assert.equal(row.channel, null);
      assert.equal(typeof row.duration_ms, 'number');

      assert.deepEqual(ids(await admin('GET', `/admin/tasks?account=${other.accountId}`)), [b1.id]);
      assert.deepEqual(ids(await admin('GET', '/admin/tasks?state=failed&service=demo/image')), [a2.id]);
      assert.deepEqual(ids(await admin('GET', '/admin/tasks?state=failed,succeeded&state=cancelled&limit=2')), [b1.id, a2.id]);
      assert.deepEqual(ids(await admin('GET', '/admin/tasks?channel=nowhere')), []);
      const since = new Date(a2.createdAt).toISOString();
      assert.deepEqual(ids(await admin('GET', `/admin/tasks?service=demo/image&since=${since}&until=${b1.createdAt}`)), [a2.id]);

      const p1 = await admin('GET', '/admin/tasks?service=demo/image&limit=2');
      assert.deepEqual(ids(p1), [b1.id, a2.id]);
      const p2 = await admin('GET', `/admin/tasks?service=demo/image&limit=2&before=${p1.json.next_before}`);
      assert.deepEqual(ids(p2), [a1.id]);
      assert.equal(p2.json.next_before, null);

      const own = await mine('GET', '/v1/account/tasks?service=demo/image');
      assert.deepEqual(ids(own), [a2.id, a1.id], 'another account’s task is not listed');
      assertError(await mine('GET', `/v1/account/tasks?account=${other.accountId}`), 400, 'bad_request');
      for (const q of ['state=done', 'limit=0', 'limit=201', 'since=yesterday', 'limit=1&limit=2', 'state=', `before=${'x'.repeat(201)}`]) {
        assertError(await admin('GET', `/admin/tasks?${q}`), 400, 'bad_request');
      }
    });

    test('CSV export: the filtered list with a header row, newest first; an account exports its own only', async () => {
      const a = await finished(t.token, t.ownerId, { prompt: 'csv' }, '/v1/paid/image');
      const b = await finished(other.token, other.accountId, { prompt: 'csv' }, '/v1/paid/image');
      const r = await admin('GET', '/admin/tasks/export.csv?service=paid/image&state=succeeded');
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type')!, /^text\/csv/);
      assert.match(r.headers.get('content-disposition')!, /attachment; filename="tasks.csv"/);
      const [header, ...rows] = r.text.trim().split('\n');
      assert.equal(header, 'id,account_id,service,dialect,state,channel,price,attempts,error_code,error_message,created_at,started_at,finished_at,duration_ms');
      assert.ok(rows.length >= 2);
      assert.deepEqual(rows.slice(0, 2).map((l) => l.split(',')[0]), [b.id, a.id]);
      assert.ok(rows.every((l) => l.split(',')[2] === 'paid/image' && l.split(',')[4] === 'succeeded'));
      assert.equal(rows.find((l) => l.startsWith(a.id))!.split(',')[6], '3', 'the price');

      const own = await mine('GET', '/v1/account/tasks/export.csv?service=paid/image');
      assert.ok(own.text.includes(a.id) && !own.text.includes(b.id));
      assertError(await admin('GET', '/admin/tasks/export.csv?limit=5'), 400, 'bad_request');
    });

    test('a task’s page: request, signed output link, timeline, deliveries with attempts, ledger; redeliver sends the same webhook-id again', async () => {
      const task = await finished(t.token, t.ownerId, { prompt: 'a page', callback_url: hook.url }, '/v1/paid/image');
      await until('the webhook arrived', () => (hook.seen.some((h) => h['webhook-id']) ? true : undefined));
      const page = await until('the delivery is recorded', async () => {
        const r = await admin('GET', `/admin/tasks/${task.id}`);
        return r.json.deliveries?.[0]?.state === 'delivered' ? r : undefined;
      });
      const d = page.json;
      assert.equal(d.id, task.id);
      assert.equal(d.state, 'succeeded');
      assert.equal(d.request.prompt, 'a page');
      assert.equal(d.callback_url, hook.url);
      // What the task API client got: that dialect's own result shape, with a signed file link.
      assert.equal(d.response.success, true);
      assert.equal(d.response.task_id, task.id);
      assert.equal((await fetch(d.response.data[0].url)).status, 200);
      const file = d.output.files[0];
      assert.equal(file.kind, 'image');
      const image = await fetch(file.url);
      assert.equal(image.status, 200);
      assert.match(image.headers.get('content-type')!, /^image\//);
      assert.deepEqual(d.timeline.map((e: { event: string }) => e.event).filter((e: string) => e !== 'progress'), ['created', 'started', 'succeeded']);
      assert.ok(d.timeline.some((e: { event: string }) => e.event === 'progress'), 'the provider’s progress lines');
      assert.deepEqual(d.ledger.map((e: { kind: string; amount: number; task_id: string }) => [e.kind, e.amount, e.task_id]), [['hold', -3, task.id], ['settle', 0, task.id]]);
      const delivery = d.deliveries[0];
      assert.equal(delivery.log.length, 1);
      assert.equal(delivery.log[0].status_code, 200);

      const webhookId = delivery.id;
      const before = hook.seen.filter((h) => h['webhook-id'] === webhookId).length;
      const again = await admin('POST', `/admin/tasks/${task.id}/deliveries/${webhookId}/redeliver`);
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.id, webhookId);
      await until('the redelivery arrived', () => (hook.seen.filter((h) => h['webhook-id'] === webhookId).length > before ? true : undefined));
      const settled = async () => (await admin('GET', `/admin/tasks/${task.id}`)).json.deliveries[0];
      const redelivered = await until('the redelivery recorded', async () => {
        const x = await settled();
        return x.state === 'delivered' && x.attempts === delivery.attempts + 1 ? x : undefined;
      });
      // Named under another task of the same owner, the delivery is not found, and not queued either.
      const sibling = await finished(t.token, t.ownerId, { prompt: 'no callback' });
      assertError(await admin('POST', `/admin/tasks/${sibling.id}/deliveries/${webhookId}/redeliver`), 404, 'not_found');
      assert.deepEqual(
        [(await settled()).state, (await settled()).attempts],
        [redelivered.state, redelivered.attempts],
        'left as it was',
      );
      // The owner can do the same from its own routes; another account cannot even see the task.
      assert.equal((await mine('POST', `/v1/account/tasks/${task.id}/deliveries/${webhookId}/redeliver`)).status, 200);
      assertError(await call(t.url, 'GET', `/v1/account/tasks/${task.id}`, other.token), 404, 'not_found');
      assertError(await call(t.url, 'POST', `/v1/account/tasks/${task.id}/deliveries/${webhookId}/redeliver`, other.token), 404, 'not_found');
      assertError(await admin('POST', `/admin/tasks/${task.id}/deliveries/msg_nope/redeliver`), 404, 'not_found');
      assertError(await admin('GET', '/admin/tasks/nope'), 404, 'not_found');
      assert.equal((await mine('GET', `/v1/account/tasks/${task.id}`)).json.id, task.id);
    });

    test('services: the admin sees queue depth, caps and channels; an account only the services its token may use', async () => {
      const all = await admin('GET', '/admin/services');
      assert.equal(all.status, 200, all.text);
      const paid = all.json.items.find((s: { name: string }) => s.name === 'paid/image');
      assert.deepEqual(
        { kind: paid.kind, mode: paid.mode, queued: paid.queued, running: paid.running, channels: paid.channels },
        { kind: 'local', mode: 'async', queued: 0, running: 0, channels: [] },
      );
      assert.equal(typeof paid.concurrency, 'number');
      const limited = await t.gw.tokens.create('limited', { allowedServices: ['paid/*'] });
      const seen = await call(t.url, 'GET', '/v1/account/services', limited.token);
      assert.deepEqual(seen.json.items.map((s: { name: string }) => s.name), ['paid/image']);
      assert.equal(seen.json.items[0].queued, undefined, 'an account is not shown the gateway’s load');
    });
  });
}
