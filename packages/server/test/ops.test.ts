/**
 * The operations endpoints: `GET /` (the index, no token, no secrets), `/healthz`, and `/readyz`
 * flipping to 503 while the store or Redis is unreachable (a TCP proxy between the gateway and a
 * real Postgres / Redis, cut and restored) and while a migration is missing, and back after.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { removeDir, startGateway, until, type TestGateway } from './helpers.js';
import { freshDatabase, postgresUnavailable } from './pg.js';
import { REDIS_URL, redisUnavailable } from './redis.js';
import { startTcpProxy, type TcpProxy } from './fixtures/tcp-proxy.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

test('GET / answers the index without a token: version, dialects, services, links; no secrets', async () => {
  const t = await startGateway({
    services: {
      'relay/img': { channels: [{ name: 'secret-channel-name', provider: 'task-api', baseUrl: 'http://127.0.0.1:9/upstream-host/v1', apiKey: 'sk-very-secret-key', model: 'x/y' }] },
    },
  });
  try {
    const r = await t.call('GET', '/', { token: null });
    assert.equal(r.status, 200);
    assert.equal(r.json.name, 'taskgate');
    assert.equal(r.json.version, pkg.version);
    assert.deepEqual(r.json.dialects.map((d: { name: string }) => d.name), ['task-api', 'apixo', 'queue', 'replicate']);
    assert.deepEqual(r.json.links, { dashboard: '/dashboard/', docs: '/docs', openapi: '/openapi.json', healthz: '/healthz', readyz: '/readyz' });
    const byName = new Map<string, { kind: string; mode: string }>(r.json.services.map((s: { name: string }) => [s.name, s]));
    assert.equal(byName.get('midjourney/imagine')?.kind, 'local');
    assert.equal(byName.get('veo/videos')?.mode, 'async');
    assert.equal(byName.get('relay/img')?.kind, 'relayed');
    for (const secret of ['secret-channel-name', 'sk-very-secret-key', 'upstream-host', '127.0.0.1:9']) assert.ok(!r.text.includes(secret), secret);
    assert.ok(r.headers.get('x-trace-id'));
    // Only GET / is the index: other methods and unknown paths still answer no_api.
    const post = await t.call('POST', '/', { token: null, body: {} });
    assert.equal(post.status, 404);
    assert.equal(post.json.error.code, 'no_api');
  } finally {
    await t.close();
    removeDir(t.dataDir);
  }
});

test('/healthz and /readyz answer 200 on a SQLite gateway without Redis', async () => {
  const t = await startGateway();
  try {
    assert.deepEqual((await t.call('GET', '/healthz', { token: null })).json, { ok: true });
    const r = await t.call('GET', '/readyz', { token: null });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { ready: true, checks: { store: { ok: true }, migrations: { ok: true }, redis: { ok: true, configured: false } } });
  } finally {
    await t.close();
    removeDir(t.dataDir);
  }
});

const skipPg = (await postgresUnavailable()) ?? false;
const skipRedis = skipPg || ((await redisUnavailable()) ?? false);

describe('/readyz on Postgres and Redis', { skip: skipRedis, timeout: 90_000 }, () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  const ready = async (t: TestGateway) => t.call('GET', '/readyz', { token: null });

  test('flips to 503 naming the store while Postgres is unreachable, and back after', async () => {
    const db = await freshDatabase();
    cleanup.push(db.drop);
    const target = new URL(db.url);
    const proxy: TcpProxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    cleanup.push(() => proxy.close());
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const t = await startGateway({ config: { databaseUrl: viaProxy.toString() } });
    cleanup.push(async () => {
      await t.close();
      removeDir(t.dataDir);
    });
    assert.equal((await ready(t)).status, 200);

    proxy.cut();
    const down = await until('readyz 503', async () => {
      const r = await ready(t);
      return r.status === 503 ? r : undefined;
    });
    assert.equal(down.json.ready, false);
    assert.equal(down.json.checks.store.ok, false);
    assert.equal(typeof down.json.checks.store.error, 'string');
    assert.equal(down.json.checks.redis.configured, false);
    assert.equal((await t.call('GET', '/healthz', { token: null })).status, 200, 'liveness does not depend on the store');

    proxy.restore();
    await until('readyz 200 again', async () => ((await ready(t)).status === 200 ? true : undefined));

    // A migration the database has not recorded: not ready, the version named.
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query<{ v: number }>('DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations) RETURNING version AS v');
    const missing = rows[0]!.v;
    const r = await ready(t);
    assert.equal(r.status, 503);
    assert.deepEqual(r.json.checks.store, { ok: true });
    assert.deepEqual(r.json.checks.migrations, { ok: false, error: `not applied: ${missing}` });
    await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [missing, Date.now()]);
    await c.end();
    assert.equal((await ready(t)).status, 200);
  });

  test('flips to 503 naming Redis while it is unreachable, and back after', async () => {
    const target = new URL(REDIS_URL);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
    cleanup.push(() => proxy.close());
    const t = await startGateway({ config: { redisUrl: `redis://127.0.0.1:${proxy.port}` } });
    cleanup.push(async () => {
      await t.close();
      removeDir(t.dataDir);
    });
    await until('readyz 200 with Redis connected', async () => ((await ready(t)).status === 200 ? true : undefined));
    assert.deepEqual((await ready(t)).json.checks.redis, { ok: true });

    proxy.cut();
    const down = await until('readyz 503', async () => {
      const r = await ready(t);
      return r.status === 503 ? r : undefined;
    });
    assert.equal(down.json.checks.redis.ok, false);
    assert.deepEqual(down.json.checks.store, { ok: true });

    proxy.restore();
    await until('readyz 200 again', async () => ((await ready(t)).status === 200 ? true : undefined));
  });
});
