/**
 * Migration 0013 (accounts apart from tokens) on a data dir made by the gateway before it
 * (main at f956a7c, migrations 0001–0012; `test/fixtures/db/main-0012.*`: two tokens with
 * credits, scopes, a concurrency cap, finished tasks, an idempotency key and a rotated webhook
 * secret). Every token becomes an account with the same id holding that token; nothing is lost.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { ADMIN_TOKEN, call, removeDir, startGateway, tempDir } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'db');
interface Made {
  alice: { id: string; token: string; task: string; asyncTask: string; secret: { secret: string } };
  bob: { id: string; token: string; task: string };
}
const made = JSON.parse(readFileSync(join(FIXTURE, 'main-0012.json'), 'utf8')) as Made;

test('a data dir made before accounts: every token is an account with its tasks, credits, secret, scopes and cap', async () => {
  const dataDir = tempDir();
  mkdirSync(dataDir, { recursive: true });
  copyFileSync(join(FIXTURE, 'main-0012.db'), join(dataDir, 'taskgate.db'));
  const before = new Database(join(dataDir, 'taskgate.db'), { readonly: true });
  const counts = (db: Database.Database) =>
    ['tasks', 'ledger', 'webhook_secrets', 'idempotency_keys', 'task_files', 'tokens'].map((table) => db.prepare(`SELECT count(*) AS n FROM ${table}`).get());
  const countsBefore = counts(before);
  assert.equal((before.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v, 12);
  const credits = before.prepare('SELECT balance, used FROM accounts WHERE owner_id = ?').get(made.alice.id) as { balance: number; used: number };
  assert.ok(credits.used > 0 && credits.balance > 0, 'the fixture has spent and unspent credits');
  before.close();

  const t = await startGateway({ dataDir });
  try {
    const admin = { token: ADMIN_TOKEN };
    const { alice, bob } = made;
    // Each token is an account with the same id, named after it, holding that one token.
    const account = (await t.call('GET', `/admin/accounts/${alice.id}`, admin)).json;
    assert.deepEqual(
      { name: account.name, max_concurrency: account.max_concurrency, balance: account.balance, used: account.used },
      { name: 'alice', max_concurrency: 2, balance: credits.balance, used: credits.used },
    );
    assert.deepEqual((await t.call('GET', `/admin/accounts/${alice.id}/tokens`, admin)).json.items.map((x: { id: string }) => x.id), [alice.id]);
    const aliceToken = (await t.call('GET', `/admin/tokens/${alice.id}`, admin)).json;
    assert.deepEqual([aliceToken.account_id, aliceToken.rate_limit_rps], [alice.id, 50], "the token keeps its own rate");
    const bobToken = (await t.call('GET', `/admin/tokens/${bob.id}`, admin)).json;
    assert.deepEqual([bobToken.account_id, bobToken.allowed_services, bobToken.expires_at], [bob.id, ['flux/*'], '2099-01-01T00:00:00.000Z']);

    // The old tokens still work and see what they made, through the same reads as before.
    const retrieve = (token: string, vendor: string, id: string) => call(t.url, 'POST', `/v1/${vendor}/tasks`, token, { body: { action: 'retrieve', id } });
    assert.equal((await retrieve(alice.token, 'flux', alice.task)).json.response?.success, true);
    assert.equal((await retrieve(alice.token, 'midjourney', alice.asyncTask)).json.id, alice.asyncTask);
    assert.equal((await retrieve(bob.token, 'flux', bob.task)).json.id, bob.task);
    assert.equal((await retrieve(bob.token, 'flux', alice.task)).status, 404, 'still no tenant leak');
    assert.equal((await call(t.url, 'GET', '/v1/webhooks/secret', alice.token)).json.secret, alice.secret.secret);
    // The idempotency key made before the migration still returns its first task.
    const again = await call(t.url, 'POST', '/v1/midjourney/imagine', alice.token, { headers: { 'idempotency-key': 'key-1' }, body: { prompt: 'a cat', async: true } });
    assert.equal(again.json.task_id, alice.asyncTask);

    // A replacement token on the migrated account keeps all of it once the old one is deleted.
    const fresh = (await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'alice-2', account_id: alice.id } })).json;
    assert.equal((await t.call('DELETE', `/admin/tokens/${alice.id}`, admin)).status, 200);
    assert.equal((await retrieve(alice.token, 'flux', alice.task)).status, 401);
    assert.equal((await retrieve(fresh.token, 'flux', alice.task)).json.response?.success, true);
    assert.equal((await call(t.url, 'GET', '/v1/account/balance', fresh.token)).json.balance, credits.balance);
    assert.equal((await call(t.url, 'GET', '/v1/webhooks/secret', fresh.token)).json.secret, alice.secret.secret);
  } finally {
    await t.close();
  }
  const afterDb = new Database(join(dataDir, 'taskgate.db'), { readonly: true });
  try {
    // Nothing stored was lost, and the idempotent retry made no task: the same rows, plus the
    // tokens made since (startGateway's own and alice-2) less the deleted one.
    const [tokens, ...rest] = counts(afterDb).reverse() as Array<{ n: number }>;
    const [tokens0, ...rest0] = [...countsBefore].reverse() as Array<{ n: number }>;
    assert.deepEqual(rest, rest0);
    assert.equal(tokens!.n, tokens0!.n + 1);
  } finally {
    afterDb.close();
    removeDir(dataDir);
  }
});
