/** The SQLite driver passes the shared TaskStore contract; migrations are idempotent. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { migrate, openDatabase } from '../src/store/sqlite/db.js';
import { createSqliteTaskStore } from '../src/store/sqlite/task-store.js';
import { TaskCache } from '../src/store/sqlite/task-cache.js';
import type { Task } from '../src/core/types.js';
import { createSqliteWebhookStore } from '../src/store/sqlite/webhook-store.js';
import { createSqliteLedgerStore } from '../src/store/sqlite/ledger.js';
import { tempDir } from './helpers.js';
import { newTask, runStoreSuite } from './store-contract.js';
import { runUpstreamSuite } from './upstream-contract.js';

runStoreSuite('sqlite', () => createSqliteTaskStore(openDatabase(join(tempDir(), 'tasks.db'))));
runStoreSuite('sqlite with task cache', () => createSqliteTaskStore(openDatabase(join(tempDir(), 'tasks.db')), { cacheSize: 3 }));
runUpstreamSuite('sqlite', () => createSqliteTaskStore(openDatabase(join(tempDir(), 'tasks.db'))));
runUpstreamSuite('sqlite with task cache', () => createSqliteTaskStore(openDatabase(join(tempDir(), 'tasks.db')), { cacheSize: 3 }));

test('migrations apply once, in order, and reopening keeps the data', async () => {
  const file = join(tempDir(), 'tasks.db');
  const db = openDatabase(file);
  const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
  const files = readdirSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'store', 'sqlite', 'migrations'));
  assert.deepEqual(versions, files.map((f) => Number.parseInt(f, 10)).sort((a, b) => a - b), 'every numbered .sql file, in order');
  assert.throws(() => openDatabase(file), /in use by another process/, 'a second process cannot open a live data dir');
  assert.deepEqual(migrate(db), [], 'nothing left to apply');
  const store = createSqliteTaskStore(db);
  const t = await store.insert(newTask());
  await store.close();
  const reopened = createSqliteTaskStore(openDatabase(file));
  assert.equal((await reopened.get(t.id))?.id, t.id);
  await reopened.close();
});

test('no statement of the task, upstream, webhook or ledger store scans a table that grows with history', () => {
  const db = openDatabase(join(tempDir(), 'tasks.db'));
  const sources: string[] = [];
  const prepare = db.prepare.bind(db);
  // Records every statement the stores prepare (they are built unchanged on this connection).
  db.prepare = ((source: string) => {
    sources.push(source);
    return prepare(source);
  }) as typeof db.prepare;
  createSqliteTaskStore(db);
  createSqliteWebhookStore(db);
  createSqliteLedgerStore(db);
  db.prepare = prepare;
  const growing = /\b(FROM|UPDATE|INTO) (tasks|upstream_tasks|webhook_deliveries|ledger)\b/;
  const readers = sources.filter((s) => growing.test(s));
  assert.ok(readers.length >= 20, `found ${readers.length} statements`);
  for (const source of readers) {
    const named = Object.fromEntries([...new Set(source.match(/@\w+/g) ?? [])].map((p) => [p.slice(1), null]));
    const positional = (source.match(/\?/g) ?? []).map(() => null);
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${source}`);
    const rows = (Object.keys(named).length > 0 ? plan.all(named) : plan.all(...positional)) as Array<{ detail: string }>;
    // A scan of json_each (a parameter's list) or of an index is fine; a bare table scan is not.
    const scans = rows.map((r) => r.detail).filter((d) => /^SCAN (?!json_each|CONSTANT ROW)/.test(d) && !d.includes('USING'));
    assert.deepEqual(scans, [], `a full scan in:\n${source}`);
    // A parameter's list joined inside a loop over rows (not once, as a subquery or the outer
    // loop) is parsed again for every row: quadratic in a batch. (An EXISTS over a row's own
    // JSON column is fine.)
    const details = rows.map((r) => r.detail);
    const inner = details.filter((d, i) => i > 0 && /^SCAN json_each VIRTUAL/.test(d) && !/SUBQUERY|MATERIALIZE|CO-ROUTINE/.test(details[i - 1]!));
    assert.deepEqual(inner, [], `a list scanned per row in:\n${source}\n${details.join('\n')}`);
  }
  db.close();
});

test('task cache: least recently used goes first, a read refreshes, update, refresh, forget and evictWhere apply, size 0 caches nothing', () => {
  const task = (id: string, price = 0): Task => ({ ...newTaskToTaskForTest(id), price });
  const cache = new TaskCache(2);
  cache.set(task('a'));
  cache.set(task('b'));
  assert.equal(cache.get('a')?.id, 'a'); // a is now the most recent
  cache.set(task('c'));
  assert.deepEqual([cache.get('a')?.id, cache.get('b'), cache.get('c')?.id], ['a', undefined, 'c']);
  cache.update('a', (t) => ({ ...t, price: 7 }));
  cache.update('missing', () => assert.fail('not cached: no change'));
  assert.equal(cache.get('a')?.price, 7);
  cache.evictWhere((t) => t.price === 7);
  assert.deepEqual([cache.get('a'), cache.size], [undefined, 1]);
  cache.refresh(task('d'));
  assert.deepEqual([cache.get('d'), cache.get('c')?.id], [undefined, 'c'], 'refresh makes no room: c stays');
  cache.refresh(task('c', 9));
  assert.equal(cache.get('c')?.price, 9, 'refresh keeps a cached copy current');
  cache.forget('c');
  cache.forget('missing');
  assert.deepEqual([cache.get('c'), cache.size], [undefined, 0]);
  const off = new TaskCache(0);
  off.set(task('x'));
  assert.deepEqual([off.get('x'), off.size], [undefined, 0]);
});

function newTaskToTaskForTest(id: string): Task {
  return {
    ...newTask({ id }), state: 'queued', output: null, error: null, progress: null, progressMessage: null,
    startedAt: null, finishedAt: null, deadlineAt: null, leaseOwner: null, leaseExpiresAt: null, attempts: 0, followUp: null,
  };
}

test('a task waiting upstream is found again by its upstream id after the database is reopened', async () => {
  const file = join(tempDir(), 'tasks.db');
  const store = createSqliteTaskStore(openDatabase(file), { cacheSize: 10 });
  const t = await store.insert(newTask());
  await store.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 1, services: [{ service: 'demo/image', concurrency: 1, timeoutMs: 60_000 }] });
  const ref = { id: 'up-42', urls: { status: 'https://up.test/s/up-42' }, data: {} };
  assert.ok(await store.upstream.recordSubmitted({ taskId: t.id, workerId: 'A', channel: 'c', ref, now: 110, nextPollAt: 120 }));
  await store.close();
  const reopened = createSqliteTaskStore(openDatabase(file), { cacheSize: 10 });
  const [due] = await reopened.upstream.claimDuePolls({ workerId: 'B', now: 130, leaseMs: 100, channels: [{ channel: 'c', max: 5 }] });
  assert.deepEqual([due?.taskId, due?.upstream.ref], [t.id, ref]);
  assert.deepEqual(await reopened.claimDue({ workerId: 'B', now: 10_000, leaseMs: 1000, max: 1, services: [{ service: 'demo/image', concurrency: 1, timeoutMs: 60_000 }] }), []);
  await reopened.close();
});
