/** Admin token and the token API: shown once, stored hashed, deleted tokens stop working. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { parseConfig } from '../src/config/load.js';
import { hashToken, TokenService, type AccountStore } from '../src/accounts/tokens.js';
import { createGateway } from '../src/http/gateway.js';
import { openDatabase } from '../src/store/sqlite/db.js';
import { createSqliteAccountStore } from '../src/store/sqlite/account-store.js';
import { ADMIN_TOKEN, call, removeDir, startGateway, tempDir } from './helpers.js';
import { SERVER_ROOT } from './process.js';

const MIGRATIONS = join(SERVER_ROOT, 'src', 'store', 'sqlite', 'migrations');

test('admin API: create shows the token once, list never shows it, delete revokes it', async () => {
  const t = await startGateway();
  try {
    const admin = { token: ADMIN_TOKEN };
    const created = await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'alice' } });
    assert.equal(created.status, 201);
    assert.equal(created.json.name, 'alice');
    assert.match(created.json.token, /^tg_[A-Za-z0-9_-]{32}$/);
    const { id, token } = created.json;

    const list = await t.call('GET', '/admin/tokens', admin);
    assert.equal(list.status, 200);
    const entry = list.json.items.find((i: { id: string }) => i.id === id);
    assert.deepEqual(Object.keys(entry).sort(), [
      'account_id', 'allowed_services', 'created_at', 'disabled', 'expires_at', 'id', 'name', 'rate_limit_rps',
    ]);
    assert.ok(!list.text.includes(token), 'the token is never shown again');

    const use = await t.call('POST', '/v1/midjourney/imagine', { token, body: { prompt: 'x', async: true } });
    assert.equal(use.status, 200);
    const del = await t.call('DELETE', `/admin/tokens/${id}`, admin);
    assert.deepEqual(del.json, { id, deleted: true });
    const after = await t.call('POST', '/v1/midjourney/imagine', { token, body: { prompt: 'x', async: true } });
    assert.equal(after.status, 401);
    assert.equal(after.json.error.code, 'invalid_token');
    const again = await t.call('DELETE', `/admin/tokens/${id}`, admin);
    assert.equal(again.status, 404);

    const kept = (await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'bob' } })).json;
    await t.close();
    const db = new Database(join(t.dataDir, 'taskgate.db'), { readonly: true });
    const row = db.prepare('SELECT token_hash FROM tokens WHERE id = ?').get(kept.id) as { token_hash: string };
    db.close();
    assert.equal(row.token_hash, createHash('sha256').update(kept.token).digest('hex'), 'stored as a hash');
  } finally {
    await t.close();
  }
});

test('admin API refuses missing, API and wrong tokens, and validates the name', async () => {
  const t = await startGateway();
  try {
    const none = await t.call('GET', '/admin/tokens', { token: null });
    assert.equal(none.status, 400);
    assert.equal(none.json.error.code, 'no_token');
    for (const token of [t.token, 'tga_wrong']) {
      const r = await t.call('GET', '/admin/tokens', { token });
      assert.equal(r.status, 401);
      assert.equal(r.json.error.code, 'invalid_token');
    }
    for (const body of [{}, { name: '' }, { name: 5 }]) {
      const r = await t.call('POST', '/admin/tokens', { token: ADMIN_TOKEN, body });
      assert.equal(r.status, 400);
      assert.equal(r.json.error.code, 'bad_request');
    }
  } finally {
    await t.close();
  }
});

test('without TASKGATE_ADMIN_TOKEN an admin token is generated on first start only, stored hashed', async () => {
  const dataDir = tempDir();
  const config = parseConfig({ host: '127.0.0.1', port: 0, logLevel: 'silent', dispatch: { enabled: false } });
  try {
    const first = await createGateway({ config, dataDir });
    assert.equal(first.generatedAdminToken, null, 'nothing generated before the port is bound');
    const url = await first.listen();
    const generated = first.generatedAdminToken;
    assert.match(generated ?? '', /^tga_/);
    const ok = await call(url, 'GET', '/admin/tokens', generated!);
    assert.equal(ok.status, 200);
    await first.close();

    const db = new Database(join(dataDir, 'taskgate.db'), { readonly: true });
    const stored = db.prepare("SELECT value FROM settings WHERE key = 'admin_token_hash'").pluck().get() as string;
    db.close();
    assert.equal(stored, createHash('sha256').update(generated!).digest('hex'));

    const second = await createGateway({ config, dataDir });
    const url2 = await second.listen();
    assert.equal(second.generatedAdminToken, null, 'printed once: not generated again');
    assert.equal((await call(url2, 'GET', '/admin/tokens', generated!)).status, 200);
    await second.close();

    const withEnv = await createGateway({ config, dataDir, adminToken: 'from-env-admin' });
    const url3 = await withEnv.listen();
    assert.equal((await call(url3, 'GET', '/admin/tokens', 'from-env-admin')).status, 200);
    assert.equal((await call(url3, 'GET', '/admin/tokens', generated!)).status, 401);
    await withEnv.close();
  } finally {
    removeDir(dataDir);
  }
});

/** A TokenService over a fresh SQLite file, with a settable clock and a 5 s cache TTL. */
async function withTokens(fn: (ctx: { tokens: TokenService; store: AccountStore; setNow: (ms: number) => void; now: () => number }) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const db = openDatabase(join(dir, 'tokens.db'));
  let now = 1_000;
  const store = createSqliteAccountStore(db);
  const tokens = new TokenService(store, { now: () => now, cacheTtlMs: 5_000 });
  try {
    await fn({ tokens, store, setNow: (ms) => { now = ms; }, now: () => now });
  } finally {
    db.close();
    removeDir(dir);
  }
}

test('authenticated tokens are cached; a token deleted behind the service stops working after the TTL', () =>
  withTokens(async ({ tokens, store, setNow, now }) => {
    const { record, token } = await tokens.create('cached');
    assert.equal((await tokens.authenticate(token))?.token.id, record.id);
    await store.deleteToken(record.id); // e.g. by another node sharing a future network store
    assert.equal((await tokens.authenticate(token))?.token.id, record.id, 'still cached within the TTL');
    setNow(now() + 5_001);
    assert.equal(await tokens.authenticate(token), null, 'gone after the TTL');
    const second = await tokens.create('second');
    await tokens.authenticate(second.token);
    await tokens.delete(second.record.id);
    assert.equal(await tokens.authenticate(second.token), null, 'deleting through the service forgets it at once');
  }));

test('updating or disabling through the service applies at once; a change behind it waits for the TTL', () =>
  withTokens(async ({ tokens, store, setNow }) => {
    const { record, token } = await tokens.create('scoped', { allowedServices: ['flux/*'], expiresAt: 10_000 });
    assert.deepEqual((await tokens.authenticate(token))?.token.allowedServices, ['flux/*']);
    await store.updateToken(record.id, { disabled: true }); // behind the service
    assert.equal((await tokens.authenticate(token))?.token.disabled, false, 'cached within the TTL');
    assert.equal((await tokens.update(record.id, { allowedServices: ['*'] }))?.disabled, true);
    const fresh = (await tokens.authenticate(token))?.token;
    assert.deepEqual([fresh?.allowedServices, fresh?.disabled], [['*'], true], 'through the service: at once');
    await tokens.update(record.id, { disabled: false });
    assert.equal((await tokens.authenticate(token))?.token.disabled, false);
    assert.equal(tokens.isExpired(fresh!), false);
    setNow(10_000);
    assert.equal(tokens.isExpired((await tokens.authenticate(token))!.token), true, 'expiry needs no cache refresh');
    assert.equal(await tokens.update('missing', { disabled: true }), null);
    await assert.rejects(tokens.update(record.id, { allowedServices: [] }), /allowed_services/);
    await assert.rejects(tokens.create('x', { rateLimitRps: 0 }), /rate_limit_rps/);
  }));

test('migration 0008 keeps existing tokens working: every service, no expiry, enabled, no overrides', async () => {
  const dir = tempDir();
  const file = join(dir, 'old.db');
  const old = new Database(file);
  // A database as the release before scoped tokens left it: migrations 0001–0007 applied.
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  for (const f of readdirSync(MIGRATIONS).filter((name) => /^000[1-7]_.*\.sql$/.test(name)).sort()) {
    old.exec(readFileSync(join(MIGRATIONS, f), 'utf8'));
    old.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)').run(Number.parseInt(f, 10));
  }
  old.prepare('INSERT INTO tokens (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)').run('t1', 'old', hashToken('tg_old'), 5);
  old.close();
  const db = openDatabase(file);
  try {
    const tokens = new TokenService(createSqliteAccountStore(db));
    assert.deepEqual((await tokens.authenticate('tg_old'))?.token, {
      id: 't1', accountId: 't1', name: 'old', createdAt: 5, allowedServices: ['*'], expiresAt: null, disabled: false, rateLimitRps: null,
    });
  } finally {
    db.close();
    removeDir(dir);
  }
});
