/**
 * The dashboard's charts: the SQLite driver passes the StatsStore contract, and GET /admin/stats
 * and GET /v1/account/stats answer known buckets, percentiles and spend for tasks made at known
 * times (a ManualClock; the test works the tasks through the real TaskService, dispatch off), an
 * account sees only its own, and bad input is a 400 in the task API envelope.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createStores } from '../src/store/factory.js';
import { ADMIN_TOKEN, ManualClock, removeDir, startGateway, tempDir, type Reply, type TestGateway } from './helpers.js';
import { runStatsSuite } from './stats-contract.js';

runStatsSuite('sqlite', () => createStores({ databaseUrl: null }, tempDir()));

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const PAID = { 'paid/image': { provider: 'demo-image', mode: 'async', price: 5, options: { latencyMs: 10, steps: 1, defaultWidth: 64, defaultHeight: 64 } } };

const fail = (r: Reply, status: number, code: string, message?: RegExp): void => {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.ok(r.json.trace_id, 'the task API envelope');
  if (message) assert.match(r.json.error.message, message);
};

describe('GET /admin/stats and /v1/account/stats', () => {
  let t: TestGateway;
  const clock = new ManualClock(T0);
  let other: { token: string; accountId: string };

  /** Creates a task at T0 + createdMs, then (at T0 + finishedMs) ends it as `outcome` through the real TaskService. */
  const task = async (o: { token?: string; service?: string; createdMs: number; finishedMs: number; outcome: 'succeeded' | 'failed' | 'cancelled' }) => {
    const service = o.service ?? 'demo/image';
    clock.t = T0 + o.createdMs;
    const created = await t.call('POST', `/v1/${service}`, { token: o.token ?? t.token, body: { prompt: 'p', async: true } });
    assert.equal(created.status, 200, created.text);
    const id: string = created.json.task_id;
    clock.t = T0 + o.finishedMs;
    if (o.outcome === 'cancelled') {
      const r = await t.call('POST', `/v1/${service.split('/')[0]}/tasks`, { token: o.token ?? t.token, body: { action: 'cancel', id } });
      assert.equal(r.status, 200, r.text);
      return;
    }
    const [claimed] = await t.gw.tasks.claim('test-worker', 1, [{ service, concurrency: 10, timeoutMs: 3_600_000 }], 3_600_000);
    assert.equal(claimed?.id, id);
    const done = o.outcome === 'succeeded'
      ? await t.gw.tasks.succeed(id, 'test-worker', { files: [] })
      : await t.gw.tasks.fail(id, 'test-worker', { code: 'api_error', message: 'boom' });
    assert.equal(done?.state, o.outcome);
  };

  before(async () => {
    t = await startGateway({ clock, config: { dispatch: { enabled: false } }, services: PAID });
    const admin = { token: ADMIN_TOKEN };
    const account = await t.call('POST', '/admin/accounts', { ...admin, body: { name: 'other' } });
    const token = await t.call('POST', `/admin/accounts/${account.json.id}/tokens`, { ...admin, body: { name: 'other' } });
    other = { token: token.json.token, accountId: account.json.id };
    for (const id of [t.ownerId, other.accountId]) {
      assert.equal((await t.call('POST', `/admin/accounts/${id}/topup`, { ...admin, body: { amount: 100, reason: 'test credit' } })).status, 200);
    }
    // Bucket 0 (T0 … +60 s): a paid success (1 s), a paid failure (3 s, refunded), a free success (2 s).
    await task({ service: 'paid/image', createdMs: 0, finishedMs: 1000, outcome: 'succeeded' });
    await task({ service: 'paid/image', createdMs: 2000, finishedMs: 5000, outcome: 'failed' });
    await task({ createdMs: 10_000, finishedMs: 12_000, outcome: 'succeeded' });
    // Bucket 2 (+120 … +180 s): a cancel after 30 s, and the other account's paid success (4 s).
    await task({ createdMs: 100_000, finishedMs: 130_000, outcome: 'cancelled' });
    await task({ token: other.token, service: 'paid/image', createdMs: 121_000, finishedMs: 125_000, outcome: 'succeeded' });
    // Outside the range, and one never finished.
    await task({ createdMs: 179_000, finishedMs: 180_000, outcome: 'succeeded' });
    clock.t = T0 + 150_000;
    assert.equal((await t.call('POST', '/v1/demo/image', { body: { prompt: 'p', async: true } })).status, 200);
    clock.t = T0 + 200_000;
  });
  after(async () => {
    await t.close();
    removeDir(t.dataDir);
  });

  const range = `since=${new Date(T0).toISOString()}&until=${T0 + 180_000}&bucket=60`;
  const empty = { finished: 0, succeeded: 0, failed: 0, cancelled: 0, error_rate: 0, p50_ms: null, p95_ms: null, p99_ms: null, spend: 0 };

  test('the admin sees every account: known buckets, nearest-rank percentiles, spend of succeeded tasks', async () => {
    const r = await t.call('GET', `/admin/stats?${range}`, { token: ADMIN_TOKEN });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      since: new Date(T0).toISOString(), until: new Date(T0 + 180_000).toISOString(), bucket_seconds: 60, truncated: false,
      buckets: [
        { at: new Date(T0).toISOString(), finished: 3, succeeded: 2, failed: 1, cancelled: 0, error_rate: 0.3333, p50_ms: 2000, p95_ms: 3000, p99_ms: 3000, spend: 5 },
        { at: new Date(T0 + 60_000).toISOString(), ...empty },
        { at: new Date(T0 + 120_000).toISOString(), finished: 2, succeeded: 1, failed: 0, cancelled: 1, error_rate: 0, p50_ms: 4000, p95_ms: 30_000, p99_ms: 30_000, spend: 5 },
      ],
      totals: { finished: 5, succeeded: 3, failed: 1, cancelled: 1, error_rate: 0.2, p50_ms: 3000, p95_ms: 30_000, p99_ms: 30_000, spend: 10 },
    });
    const one = await t.call('GET', `/admin/stats?${range}&account=${other.accountId}`, { token: ADMIN_TOKEN });
    assert.deepEqual(one.json.totals, { finished: 1, succeeded: 1, failed: 0, cancelled: 0, error_rate: 0, p50_ms: 4000, p95_ms: 4000, p99_ms: 4000, spend: 5 });
    const paid = await t.call('GET', `/admin/stats?${range}&service=paid/image`, { token: ADMIN_TOKEN });
    assert.deepEqual([paid.json.totals.finished, paid.json.totals.spend, paid.json.totals.failed], [3, 10, 1]);
    const both = await t.call('GET', `/admin/stats?${range}&service=paid/image,demo/image`, { token: ADMIN_TOKEN });
    assert.equal(both.json.totals.finished, 5);
    const repeated = await t.call('GET', `/admin/stats?${range}&service=paid/image&service=demo/image`, { token: ADMIN_TOKEN });
    assert.equal(repeated.json.totals.finished, 5);
  });

  test('an account sees only its own tasks', async () => {
    const mine = await t.call('GET', `/v1/account/stats?${range}`);
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.json.buckets[2], { at: new Date(T0 + 120_000).toISOString(), finished: 1, succeeded: 0, failed: 0, cancelled: 1, error_rate: 0, p50_ms: 30_000, p95_ms: 30_000, p99_ms: 30_000, spend: 0 });
    assert.deepEqual(mine.json.totals, { finished: 4, succeeded: 2, failed: 1, cancelled: 1, error_rate: 0.25, p50_ms: 2000, p95_ms: 30_000, p99_ms: 30_000, spend: 5 });
    const theirs = await t.call('GET', `/v1/account/stats?${range}`, { token: other.token });
    assert.equal(theirs.json.totals.finished, 1);
    assert.equal(theirs.json.totals.spend, 5);
  });

  test('defaults: the last hour up to now, in 60 one-minute buckets', async () => {
    const r = await t.call('GET', '/admin/stats', { token: ADMIN_TOKEN });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.until, new Date(clock.t).toISOString());
    assert.equal(r.json.since, new Date(clock.t - 3_600_000).toISOString());
    assert.equal(r.json.bucket_seconds, 60);
    assert.equal(r.json.buckets.length, 60);
    assert.equal(r.json.totals.finished, 6, 'every finished task of the last hour');
    const day = await t.call('GET', `/admin/stats?since=${clock.t - 86_400_000}&until=${clock.t}`, { token: ADMIN_TOKEN });
    assert.equal(day.json.bucket_seconds, 1800);
    assert.equal(day.json.buckets.length, 48);
  });

  test('bad input is a 400 naming the problem; no token 400, a wrong one 401', async () => {
    const admin = { token: ADMIN_TOKEN };
    fail(await t.call('GET', '/admin/stats?since=yesterday', admin), 400, 'bad_request', /since must be an ISO 8601 time or Unix milliseconds/);
    fail(await t.call('GET', '/admin/stats?until=2030-13-45T99:00:00Z', admin), 400, 'bad_request', /until/);
    fail(await t.call('GET', `/admin/stats?since=${T0}&until=${T0}`, admin), 400, 'bad_request', /since must be before until/);
    fail(await t.call('GET', `/admin/stats?since=${T0 - 32 * 86_400_000}&until=${T0}`, admin), 400, 'bad_request', /at most 31 days/);
    fail(await t.call('GET', `/admin/stats?${range.replace('bucket=60', 'bucket=5')}`, admin), 400, 'bad_request', /at least 10/);
    fail(await t.call('GET', `/admin/stats?${range.replace('bucket=60', 'bucket=1.5')}`, admin), 400, 'bad_request', /bucket/);
    fail(await t.call('GET', `/admin/stats?since=${T0 - 86_400_000}&until=${T0}&bucket=10`, admin), 400, 'bad_request', /8640 buckets; at most 1000/);
    fail(await t.call('GET', `/admin/stats?since=${T0}&since=${T0}`, admin), 400, 'bad_request', /since must be given once/);
    fail(await t.call('GET', '/admin/stats?service=a,,b', admin), 400, 'bad_request', /service/);
    fail(await t.call('GET', `/v1/account/stats?account=${other.accountId}`), 400, 'bad_request', /account is a filter of \/admin\/stats only/);
    fail(await t.call('GET', '/admin/stats', { token: null }), 400, 'no_token');
    fail(await t.call('GET', '/v1/account/stats', { token: null }), 400, 'no_token');
    fail(await t.call('GET', '/admin/stats', { token: t.token }), 401, 'invalid_token');
    fail(await t.call('GET', '/v1/account/stats', { token: 'tg_nope' }), 401, 'invalid_token');
  });
});

describe('stats over more finished tasks than one answer reads', () => {
  let t: TestGateway;
  const clock = new ManualClock(T0);
  before(async () => {
    t = await startGateway({ clock, dashboard: { statsMaxRows: 2 } });
  });
  after(async () => {
    await t.close();
    removeDir(t.dataDir);
  });

  test('the latest finished are counted and the answer says truncated', async () => {
    for (let i = 0; i < 3; i++) {
      clock.t = T0 + i * 1000;
      const r = await t.call('POST', '/v1/demo/image', { body: { prompt: 'p', async: true } });
      assert.equal((await t.call('POST', '/v1/demo/tasks', { body: { action: 'cancel', id: r.json.task_id } })).status, 200);
    }
    const all = await t.call('GET', `/admin/stats?since=${T0}&until=${T0 + 60_000}`, { token: ADMIN_TOKEN });
    assert.equal(all.json.truncated, true);
    assert.equal(all.json.totals.finished, 2);
    const two = await t.call('GET', `/admin/stats?since=${T0 + 1000}&until=${T0 + 60_000}`, { token: ADMIN_TOKEN });
    assert.deepEqual([two.json.truncated, two.json.totals.finished], [false, 2]);
  });
});
