/**
 * The Postgres task store shared by several gateway nodes (each node its own pool on one
 * database): idempotent creates racing on one key make one task, concurrent claim rounds keep the
 * service and owner caps exact and never take a task twice, and polls recorded while the same
 * tasks are cancelled neither deadlock nor lose a transition, and a finish racing a cancel settles
 * or refunds each task exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ServiceClaimLimit, TaskStore } from '../src/core/ports.js';
import type { Task } from '../src/core/types.js';
import { createPool, type Pool } from '../src/store/postgres/db.js';
import { createPgTaskLedger } from '../src/store/postgres/ledger.js';
import { createPostgresTaskStore } from '../src/store/postgres/task-store.js';
import { createPgOutbox } from '../src/store/postgres/webhook-store.js';
import { freshDatabase, postgresUnavailable } from './pg.js';
import { newTask } from './store-contract.js';

const skip = (await postgresUnavailable()) ?? false;

const SERVICE: ServiceClaimLimit = { service: 'demo/image', concurrency: 7, timeoutMs: 60_000 };

describe('Postgres task store on several nodes', { skip }, () => {
  let db: { url: string; drop: () => Promise<void> };
  let pools: Pool[];
  let nodes: TaskStore[];
  let admin: Pool;
  before(async () => {
    db = await freshDatabase();
    pools = [createPool({ url: db.url, max: 5 }), createPool({ url: db.url, max: 5 })];
    nodes = pools.map((pool) => createPostgresTaskStore(pool, { outbox: createPgOutbox(), ledger: createPgTaskLedger() }));
    admin = createPool({ url: db.url, max: 2 });
  });
  after(async () => {
    await Promise.all([...nodes.map((n) => n.close()), admin.end()]);
    await db.drop();
  });
  const node = (i: number): TaskStore => nodes[i % nodes.length]!;

  test('creates racing on one idempotency key make one task; another request with the key is refused', async () => {
    const key = { key: 'k-1', requestHash: 'h-1', notBefore: 0 };
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => node(i).insertOnce(newTask({ ownerId: 'idem', createdAt: 10 }), key)),
    );
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(new Set(results.map((r) => r.task.id)).size, 1, 'every racer gets the one task');
    const { rows } = await admin.query<{ n: number }>(`SELECT count(*) AS n FROM tasks WHERE owner_id = 'idem'`);
    assert.equal(rows[0]?.n, 1);
    await assert.rejects(node(0).insertOnce(newTask({ ownerId: 'idem' }), { ...key, requestHash: 'other' }), { code: 'idempotency_mismatch' });
    const later = await node(1).insertOnce(newTask({ ownerId: 'idem', createdAt: 500 }), { ...key, requestHash: 'other', notBefore: 100 });
    assert.equal(later.created, true, 'a forgotten key (older than notBefore) makes a new task');
    const again = await node(0).insertOnce(newTask({ ownerId: 'idem', createdAt: 600 }), { ...key, requestHash: 'other', notBefore: 100 });
    assert.deepEqual([again.created, again.task.id], [false, later.task.id], 'and the key now names that one');
  });

  test('a create the balance cannot pay is rolled back whole, its idempotency key included', async () => {
    await admin.query(`INSERT INTO accounts (owner_id, balance) VALUES ('poor', 5)`);
    const key = { key: 'k-poor', requestHash: 'h', notBefore: 0 };
    await assert.rejects(node(0).insertOnce(newTask({ ownerId: 'poor', price: 10 }), key), { code: 'used_up' });
    await assert.rejects(node(1).insert(newTask({ ownerId: 'poor', price: 10 })), { code: 'used_up' });
    const { rows } = await admin.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM tasks WHERE owner_id = 'poor') + (SELECT count(*) FROM idempotency_keys WHERE owner_id = 'poor') AS n`,
    );
    assert.equal(rows[0]?.n, 0);
    const paid = await node(1).insertOnce(newTask({ ownerId: 'poor', price: 5 }), key);
    assert.equal(paid.created, true, 'the key was not kept by the refused create');
  });

  test('concurrent claim rounds on two nodes keep the service and owner caps exact and never take a task twice', async () => {
    await admin.query(`INSERT INTO accounts (owner_id, max_concurrency) VALUES ('capped', 2)`);
    // The capped owner's tasks come first in claim order: every round must look past them.
    for (let i = 0; i < 10; i++) await node(i).insert(newTask({ ownerId: 'capped', createdAt: 100 + i, runAfter: 100 + i }));
    for (let i = 0; i < 10; i++) await node(i).insert(newTask({ ownerId: `o${i % 3}`, createdAt: 200 + i, runAfter: 200 + i }));
    const claim = (i: number) => node(i).claimDue({ workerId: `w${i}`, now: 1000, leaseMs: 60_000, max: 2, services: [SERVICE], ownerConcurrency: 2 });
    const claimed = (await Promise.all(Array.from({ length: 10 }, (_, i) => claim(i)))).flat();
    assert.equal(claimed.length, SERVICE.concurrency, 'the service cap, exactly');
    assert.equal(new Set(claimed.map((t) => t.id)).size, claimed.length, 'no task taken twice');
    const per = (owner: string, tasks: Task[]) => tasks.filter((t) => t.ownerId === owner).length;
    assert.equal(per('capped', claimed), 2, 'the account cap, exactly');
    for (const o of ['o0', 'o1', 'o2']) assert.ok(per(o, claimed) <= 2, `${o} within the default cap`);
    const { rows } = await admin.query<{ n: number }>(`SELECT count(*) AS n FROM tasks WHERE state = 'running'`);
    assert.equal(rows[0]?.n, SERVICE.concurrency);
    assert.deepEqual(await claim(99), [], 'nothing more while they run');
    // Clean up for the next test.
    await Promise.all(claimed.map((t) => node(0).terminate({ id: t.id, from: ['running'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 1001 })));
    await admin.query(`UPDATE tasks SET state = 'cancelled' WHERE state = 'queued'`);
  });

  test('polls recorded on one node while another cancels the same tasks: no deadlock, each task ends once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const t = await node(0).insert(newTask({ ownerId: 'relay', createdAt: 2000 + i, runAfter: 2000 + i }));
      ids.push(t.id);
    }
    const limit = { ...SERVICE, concurrency: 100 };
    await node(0).claimDue({ workerId: 'A', now: 3000, leaseMs: 60_000, max: 100, services: [limit] });
    for (const id of ids) {
      assert.ok(await node(0).upstream.recordSubmitted({ taskId: id, workerId: 'A', channel: 'c', ref: { id: `up-${id}`, urls: {}, data: {} }, now: 3001, nextPollAt: 3002 }));
    }
    const due = await node(0).upstream.claimDuePolls({ workerId: 'P', now: 3002, leaseMs: 60_000, channels: [{ channel: 'c', max: 100 }] });
    assert.equal(due.length, ids.length);
    const polls = [...ids].reverse().map((taskId) => ({ taskId, raw: 'RUNNING', progress: 0.5, nextPollAt: 4000 }));
    const [recorded, cancelled] = await Promise.all([
      node(0).upstream.recordPolls({ workerId: 'P', now: 3003, polls }),
      Promise.all(ids.map((id) => node(1).terminate({ id, from: ['running'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 3003 }))),
    ]);
    assert.equal(cancelled.filter((t) => t?.state === 'cancelled').length, ids.length, 'every cancel applied once');
    assert.equal(recorded.length, ids.length);
    assert.deepEqual(await node(1).upstream.inFlightByChannel(), {}, 'no cancelled task is polled again');
  });

  test('a finish on one node racing a cancel on the other: each task settles or refunds exactly once', async () => {
    await admin.query(`INSERT INTO accounts (owner_id, balance) VALUES ('payer', 1000)`);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await node(i).insert(newTask({ ownerId: 'payer', price: 5, createdAt: 5000 + i, runAfter: 5000 + i, callbackUrl: 'https://hooks.example/x' }))).id);
    const limit = { ...SERVICE, concurrency: 100 };
    const claimed = await node(0).claimDue({ workerId: 'A', now: 6000, leaseMs: 60_000, max: 100, services: [limit] });
    assert.equal(claimed.length, ids.length);
    const results = await Promise.all(ids.flatMap((id) => [
      node(0).finish({ id, workerId: 'A', now: 6001, state: 'succeeded', output: { files: [] } }),
      node(1).terminate({ id, from: ['running'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 6001 }),
    ]));
    assert.equal(results.filter((t) => t !== null).length, ids.length, 'exactly one of the two applied, per task');
    const { rows } = await admin.query<{ task_id: string; kinds: string }>(
      `SELECT task_id, string_agg(kind, ',' ORDER BY kind) AS kinds FROM ledger WHERE owner_id = 'payer' GROUP BY task_id`,
    );
    for (const r of rows) assert.ok(r.kinds === 'hold,settle' || r.kinds === 'hold,refund', `${r.task_id}: ${r.kinds}`);
    const account = (await admin.query<{ balance: number; held: number; used: number }>(`SELECT balance, held, used FROM accounts WHERE owner_id = 'payer'`)).rows[0]!;
    const settled = rows.filter((r) => r.kinds === 'hold,settle').length;
    assert.deepEqual([account.held, account.used, account.balance], [0, settled * 5, 1000 - settled * 5]);
    const completed = await admin.query<{ n: number }>(`SELECT count(*) AS n FROM webhook_deliveries WHERE event = 'completed' AND owner_id = 'payer'`);
    assert.equal(completed.rows[0]?.n, ids.length, 'one completed webhook per task');
  });
});
