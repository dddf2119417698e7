/**
 * Token and account changes reach every node's authentication cache through Redis at once, not
 * after its 10 s TTL: a token deleted or disabled on node A stops working on node B, which had it
 * cached, within moments.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, call, startGateway, until, type TestGateway } from './helpers.js';
import { freshDatabase, postgresUnavailable } from './pg.js';
import { REDIS_URL, redisUnavailable } from './redis.js';

const skip = (await postgresUnavailable()) ?? (await redisUnavailable()) ?? false;

describe('authentication caches across nodes', { skip }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    db = await freshDatabase();
    const config = { databaseUrl: db.url, redisUrl: REDIS_URL, dispatch: { enabled: false } };
    a = await startGateway({ config });
    b = await startGateway({ config });
    await until('both nodes subscribed to Redis', () => (a.gw.coordination.feed?.complete && b.gw.coordination.feed?.complete ? true : undefined), 5_000);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const balanceOnB = (token: string) => call(b.url, 'GET', '/v1/account/balance', token);
  /** Waits (≤ 3 s, well inside the 10 s cache TTL) until B answers `status` for the token. */
  const untilB = (token: string, status: number) =>
    until(`B to answer ${status}`, async () => ((await balanceOnB(token)).status === status ? true : undefined), 3_000, 20);

  test('a token deleted on A stops working on B at once; one disabled on A, and its account, too', async () => {
    const made = await call(a.url, 'POST', '/admin/tokens', ADMIN_TOKEN, { body: { name: 'roaming' } });
    assert.equal(made.status, 201, made.text);
    assert.equal((await balanceOnB(made.json.token)).status, 200, 'B authenticates it (and caches it)');
    assert.equal((await call(a.url, 'DELETE', `/admin/tokens/${made.json.id}`, ADMIN_TOKEN)).status, 200);
    await untilB(made.json.token, 401);

    const other = (await call(a.url, 'POST', '/admin/tokens', ADMIN_TOKEN, { body: { name: 'paused' } })).json;
    assert.equal((await balanceOnB(other.token)).status, 200);
    assert.equal((await call(a.url, 'POST', `/admin/tokens/${other.id}/disable`, ADMIN_TOKEN)).status, 200);
    await untilB(other.token, 403);
    assert.equal((await call(a.url, 'PATCH', `/admin/tokens/${other.id}`, ADMIN_TOKEN, { body: { disabled: false } })).status, 200);
    await untilB(other.token, 200);
    assert.equal((await call(a.url, 'PATCH', `/admin/accounts/${other.account_id}`, ADMIN_TOKEN, { body: { disabled: true } })).status, 200);
    await untilB(other.token, 403);
  });
});
