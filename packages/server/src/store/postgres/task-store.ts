/**
 * The Postgres driver of the TaskStore contract: the behaviour of the SQLite driver
 * (store/sqlite/task-store.ts) for several gateway nodes sharing one database. Every mutating
 * call is one transaction on a pooled connection, guarded by compare-and-set on the previous
 * state; a state change commits with its ledger entry, webhook outbox row, file index and
 * upstream end. No task cache (other nodes write the same rows) and no group commit.
 *
 * Claims take rows with FOR UPDATE SKIP LOCKED, so nodes never wait for each other's rows, and
 * count running tasks (per service, per owner) under a transaction-level advisory lock: claim
 * rounds run one at a time, so the concurrency caps stay exact however many nodes claim. This
 * needs READ COMMITTED (Postgres's default): each statement of a round sees what the round before
 * it committed.
 */
import { GatewayError } from '../../core/errors.js';
import type { ClaimRequest, FinishRequest, IdempotencyKey, LiveCount, NewTask, ServiceClaimLimit, TaskStore, TerminateRequest } from '../../core/ports.js';
import type { Task, TaskLog } from '../../core/types.js';
import { newTaskToTask, toTask, type TaskRow } from '../task-row.js';
import { transaction, type Pool } from './db.js';
import { recordFiles, taskOfFile } from './file-index.js';
import { GroupInsert, insertTasks } from './group-insert.js';
import type { PgOutbox, PgTaskLedger, Queryable } from './parts.js';
import { createPgUpstreamStore } from './upstream-store.js';
import { createPgPurge } from './retention.js';
import { searchSql } from '../task-search.js';

/** The advisory lock of claim rounds (any constant shared by every node; db.ts uses …001 for migrations). */
const CLAIM_LOCK = 7_251_413_003;

/** A due row with its owner's concurrency cap (null: none). */
type CappedRow = TaskRow & { owner_cap: number | null };

const first = (rows: TaskRow[]): Task | null => {
  const row = rows[0];
  return row ? toTask(row) : null;
};

export function createPostgresTaskStore(pool: Pool, deps: { outbox: PgOutbox; ledger: PgTaskLedger }): TaskStore {
  const { outbox, ledger } = deps;
  const upstream = createPgUpstreamStore(pool, { outbox });
  const local = `NOT ${upstream.waitingUpstream('t')}`;

  // Due tasks of several services in one statement: per service (\$1, with its limit in \$4), in
  // claim order. The owner's cap: its account's max_concurrency, else the request's default ($3;
  // NULL: none). Owners already at their cap are left out, so their queued tasks never block other
  // owners'. Rows locked by another transaction (a cancel, a release) are skipped, never waited for.
  const due = (where: string, order: string): string =>
    `SELECT d.* FROM unnest($1::text[], $4::int[]) WITH ORDINALITY AS s(service, lim, ord)
     CROSS JOIN LATERAL (
       SELECT t.*, COALESCE(k.max_concurrency, $3::int) AS owner_cap FROM tasks t LEFT JOIN accounts k ON k.owner_id = t.owner_id
       WHERE t.service = s.service AND t.state IN ('queued', 'running') AND ${where}
         AND (COALESCE(k.max_concurrency, $3::int) IS NULL
              OR (SELECT count(*) FROM tasks r WHERE r.owner_id = t.owner_id AND r.state = 'running' AND r.lease_expires_at > $2)
                 < COALESCE(k.max_concurrency, $3::int))
       ORDER BY ${order} LIMIT s.lim
       FOR UPDATE OF t SKIP LOCKED
     ) d
     ORDER BY s.ord, ${order.replaceAll('t.', 'd.')}`;
  const dueQueued = due(`t.state = 'queued' AND t.run_after <= $2`, 't.run_after, t.created_at, t.id');
  // A task waiting upstream is never run or submitted again locally: its poll lease may expire too.
  const expiredRunning = due(`t.state = 'running' AND t.lease_expires_at <= $2 AND ${local}`, 't.lease_expires_at, t.id');
  // Live tasks of each service (tasks waiting upstream hold no worker: their poll leases do not count).
  const runningPerService = `SELECT (SELECT count(*) FROM tasks t WHERE t.service = s.service AND t.state = 'running' AND t.lease_expires_at > $2 AND ${local}) AS n
     FROM unnest($1::text[]) WITH ORDINALITY AS s(service, ord) ORDER BY s.ord`;

  const insertRow = (c: Queryable, t: NewTask): Promise<void> => insertTasks(c, ledger, [t]);
  const grouped = new GroupInsert(pool, ledger);

  const byId = async (c: Queryable, id: string): Promise<Task | null> =>
    first((await c.query<TaskRow>('SELECT * FROM tasks WHERE id = $1', [id])).rows);

  /**
   * The key is taken first (INSERT … ON CONFLICT DO NOTHING): of concurrent creates with one key,
   * the others wait for the first to commit (or roll back, e.g. used_up) and then read its row.
   */
  const insertOnceTx = (t: NewTask, idem: IdempotencyKey) =>
    transaction(pool, async (c): Promise<{ task: Task; created: boolean }> => {
      const taken = await c.query(
        `INSERT INTO idempotency_keys (owner_id, key, request_hash, task_id, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (owner_id, key) DO NOTHING`,
        [t.ownerId, idem.key, idem.requestHash, t.id, t.createdAt],
      );
      if (taken.rowCount === 1) {
        await insertRow(c, t);
        return { task: newTaskToTask(t), created: true };
      }
      const seen = (
        await c.query<{ request_hash: string; task_id: string; created_at: number }>(
          'SELECT request_hash, task_id, created_at FROM idempotency_keys WHERE owner_id = $1 AND key = $2 FOR UPDATE',
          [t.ownerId, idem.key],
        )
      ).rows[0];
      if (seen && seen.created_at >= idem.notBefore) {
        if (seen.request_hash !== idem.requestHash) throw new GatewayError('idempotency_mismatch');
        const earlier = await byId(c, seen.task_id);
        if (earlier) return { task: earlier, created: false };
      }
      // Forgotten (older than notBefore) or its task is gone: a new task takes the key over.
      await insertRow(c, t);
      await c.query(
        `INSERT INTO idempotency_keys (owner_id, key, request_hash, task_id, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (owner_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, task_id = EXCLUDED.task_id,
           created_at = EXCLUDED.created_at`,
        [t.ownerId, idem.key, idem.requestHash, t.id, t.createdAt],
      );
      return { task: newTaskToTask(t), created: true };
    });

  /**
   * One claim round: under the claim lock (so caps stay exact across nodes), the live counts of
   * every service in one statement, then the due tasks of every service with room in one statement
   * (queued first, then expired), claimed in one UPDATE; again for the services whose batch came
   * back full but lost rows to an owner cap. About seven round trips whatever the services.
   */
  const claimTx = (req: ClaimRequest) =>
    transaction(pool, async (c): Promise<Task[]> => {
      await c.query('SELECT pg_advisory_xact_lock($1::bigint)', [CLAIM_LOCK]);
      const out: Task[] = [];
      const until = req.now + req.leaseMs;
      const cap = req.ownerConcurrency ?? null;
      const names = req.services.map((l) => l.service);
      const running = (await c.query<{ n: number }>(runningPerService, [names, req.now])).rows;
      /** Room per service (index of req.services). */
      const free = req.services.map((l, i) => Math.max(0, Math.min(req.max, l.concurrency - (running[i]?.n ?? 0))));
      /** Live tasks per capped owner, counting the claims of this transaction. */
      const live = new Map<string, number>();
      const ownerLive = async (owner: string): Promise<number> => {
        const r = await c.query<{ n: number }>(
          `SELECT count(*) AS n FROM tasks WHERE owner_id = $1 AND state = 'running' AND lease_expires_at > $2`,
          [owner, req.now],
        );
        return r.rows[0]?.n ?? 0;
      };
      for (const sql of [dueQueued, expiredRunning]) {
        // Services still to look at in this pass, and what each may take.
        let open = req.services.map((_, i) => i).filter((i) => free[i]! > 0);
        while (open.length > 0 && out.length < req.max) {
          const rows = (await c.query<CappedRow>(sql, [open.map((i) => names[i]), req.now, cap, open.map((i) => free[i])])).rows;
          const chosen: Array<{ row: CappedRow; limit: ServiceClaimLimit }> = [];
          const again: number[] = [];
          for (const i of open) {
            const limit = req.services[i]!;
            const batch = rows.filter((r) => r.service === limit.service);
            let picked = 0;
            for (const row of batch) {
              if (out.length + chosen.length >= req.max || picked >= free[i]!) break;
              if (row.owner_cap !== null) {
                const n = live.get(row.owner_id) ?? (await ownerLive(row.owner_id));
                if (n >= row.owner_cap) continue;
                live.set(row.owner_id, n + 1);
              }
              chosen.push({ row, limit });
              picked++;
            }
            free[i] = free[i]! - picked;
            // A full batch that lost rows to an owner's cap may hide more due tasks: look again.
            if (picked > 0 && picked < batch.length && batch.length >= free[i]! + picked && free[i]! > 0) again.push(i);
          }
          if (chosen.length > 0) await claimRows(c, chosen, req, until, out);
          open = again;
        }
      }
      return out;
    });

  /** Moves the chosen rows to running under this lease (one UPDATE) and queues their start webhooks. */
  const claimRows = async (
    c: Queryable, chosen: Array<{ row: CappedRow; limit: ServiceClaimLimit }>, req: ClaimRequest, until: number, out: Task[],
  ): Promise<void> => {
    const claimed = await c.query<TaskRow>(
      `UPDATE tasks t SET state = 'running', lease_owner = $4, lease_expires_at = $5, attempts = t.attempts + 1,
         started_at = COALESCE(t.started_at, $6::bigint), deadline_at = COALESCE(t.deadline_at, v.deadline)
       FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(id, deadline, from_state)
       WHERE t.id = v.id AND t.state = v.from_state RETURNING t.*`,
      [
        chosen.map(({ row }) => row.id), chosen.map(({ row, limit }) => (row.started_at ?? req.now) + limit.timeoutMs),
        chosen.map(({ row }) => row.state), req.workerId, until, req.now,
      ],
    );
    const claimedById = new Map(claimed.rows.map((r) => [r.id, r]));
    for (const { row } of chosen) {
      const done = claimedById.get(row.id);
      if (!done) continue;
      const task = toTask(done);
      // The first start only: a task given back by a clean stop and claimed again announces nothing new.
      if (row.started_at === null) await outbox.enqueue(c, task, 'start', req.now);
      out.push(task);
    }
  };

  const progressTx = (id: string, workerId: string, p: number, message: string | null, now: number) =>
    transaction(pool, async (c): Promise<Task | null> => {
      const task = first(
        (
          await c.query<TaskRow>(
            `UPDATE tasks SET progress = $1, progress_message = $2 WHERE id = $3 AND state = 'running' AND lease_owner = $4 RETURNING *`,
            [p, message, id, workerId],
          )
        ).rows,
      );
      if (task && message !== null) {
        // The task row is locked by the update above: concurrent lines of one task take turns.
        await c.query(
          `INSERT INTO task_logs (task_id, seq, at, level, message)
           VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM task_logs WHERE task_id = $1), $2, 'info', $3)`,
          [id, now, message],
        );
        await outbox.enqueue(c, task, 'progress', now);
      }
      return task;
    });

  // A terminal transition and its ledger entry, `completed` webhook, file index and upstream end
  // commit together, or not at all.
  const finishTx = (req: FinishRequest) =>
    transaction(pool, async (c): Promise<Task | null> => {
      const task = first(
        (
          await c.query<TaskRow>(
            `UPDATE tasks SET state = $1::text, output = $2, error_code = $3, error_message = $4, finished_at = $5,
               progress = CASE WHEN $1::text = 'succeeded' THEN 1 ELSE progress END, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = $6 AND state = 'running' AND lease_owner = $7 RETURNING *`,
            [req.state, req.output ? JSON.stringify(req.output) : null, req.error?.code ?? null, req.error?.message ?? null, req.now, req.id, req.workerId],
          )
        ).rows,
      );
      if (task) {
        if (task.state === 'succeeded') {
          await ledger.settle(c, task.ownerId, task.id, task.price, req.now);
          await recordFiles(c, task); // its images can be followed up on
        } else {
          await ledger.refund(c, task.ownerId, task.id, task.price, req.now);
        }
        await outbox.enqueue(c, task, 'completed', req.now);
        await upstream.end(c, task.id, true);
      }
      return task;
    });

  const terminateTx = (req: TerminateRequest) =>
    transaction(pool, async (c): Promise<Task | null> => {
      const task = first(
        (
          await c.query<TaskRow>(
            `UPDATE tasks SET state = $1, error_code = $2, error_message = $3, finished_at = $4, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = $5 AND state = ANY($6::text[]) RETURNING *`,
            [req.state, req.error.code, req.error.message, req.now, req.id, req.from],
          )
        ).rows,
      );
      if (task) {
        await ledger.refund(c, task.ownerId, task.id, task.price, req.now);
        await outbox.enqueue(c, task, 'completed', req.now);
        await upstream.end(c, task.id, false);
      }
      return task;
    });

  let closed: Promise<void> | null = null;

  return {
    insert: async (t) => {
      await grouped.add(t);
      return newTaskToTask(t);
    },
    insertOnce: (t, idempotency) => insertOnceTx(t, idempotency),
    get: (id) => byId(pool, id),
    async getMany(ownerId, ids) {
      if (ids.length === 0) return [];
      const r = await pool.query<TaskRow>('SELECT * FROM tasks WHERE id = ANY($1::text[]) AND owner_id = $2', [ids, ownerId]);
      const found = new Map(r.rows.map((row) => [row.id, row]));
      return ids.flatMap((id) => {
        const row = found.get(id);
        return row ? [toTask(row)] : [];
      });
    },
    async findByOutputFile(ownerId, fileId) {
      const row = await taskOfFile(pool, ownerId, fileId);
      return row ? toTask(row) : null;
    },
    claimDue: async (req) => (req.max <= 0 || req.services.length === 0 ? [] : claimTx(req)),
    async extendLeases(ids, workerId, until) {
      if (ids.length === 0) return [];
      const r = await pool.query<{ id: string }>(
        `UPDATE tasks SET lease_expires_at = $1 WHERE id = ANY($2::text[]) AND state = 'running' AND lease_owner = $3 RETURNING id`,
        [until, ids, workerId],
      );
      return r.rows.map((row) => row.id);
    },
    setProgress: (id, workerId, p, message, now) => progressTx(id, workerId, p, message, now),
    finish: (req) => finishTx(req),
    terminate: (req) => terminateTx(req),
    async logs(id) {
      return (await pool.query<TaskLog>('SELECT at, level, message FROM task_logs WHERE task_id = $1 ORDER BY seq', [id])).rows;
    },
    /** Queued tasks of the service that a claim takes before this one (claim order above). */
    async queuePosition(t) {
      if (t.state !== 'queued') return 0;
      const r = await pool.query<{ n: number }>(
        `SELECT count(*) AS n FROM tasks WHERE service = $1 AND state IN ('queued', 'running') AND state = 'queued'
           AND (run_after, created_at, id) < ($2::bigint, $3::bigint, $4::text)`,
        [t.service, t.runAfter, t.createdAt, t.id],
      );
      return r.rows[0]?.n ?? 0;
    },
    async search(filter) {
      const params: unknown[] = [];
      const sql = searchSql(filter, {
        param: (v) => `$${params.push(v)}${typeof v === 'number' ? '::bigint' : '::text'}`,
        oneOf: (column, values) => `${column} = ANY($${params.push(values)}::text[])`,
      });
      const r = await pool.query<TaskRow & { channel: string | null }>(sql, params);
      return r.rows.map((row) => ({ task: toTask(row), channel: row.channel }));
    },
    async list(req) {
      const r = await pool.query<TaskRow>(
        `SELECT * FROM tasks WHERE owner_id = $1 AND ($2::text IS NULL OR id < $2::text)
           AND ($3::text[] IS NULL OR service = ANY($3::text[]))
         ORDER BY id DESC LIMIT $4`,
        [req.ownerId, req.before ?? null, req.services ?? null, req.limit],
      );
      return r.rows.map(toTask);
    },
    releaseLeases: async (workerIds) =>
      workerIds.length === 0
        ? 0
        : transaction(pool, async (c) => {
            const r = await c.query(`UPDATE tasks SET lease_expires_at = 0 WHERE state = 'running' AND lease_owner = ANY($1::text[])`, [workerIds]);
            return (r.rowCount ?? 0) + (await upstream.releasePolls(c, workerIds));
          }),
    // A clean stop: the attempt in progress is not a lost one, and nobody owns the task any more.
    // A poll lease of a task waiting upstream is simply dropped: polls are not attempts.
    returnLeases: (workerId) =>
      transaction(pool, async (c) => {
        const r = await c.query(
          `UPDATE tasks t SET lease_owner = NULL, lease_expires_at = 0,
             attempts = CASE WHEN ${upstream.waitingUpstream('t')} THEN t.attempts ELSE GREATEST(t.attempts - 1, 0) END
           WHERE t.state = 'running' AND t.lease_owner = $1`,
          [workerId],
        );
        return (r.rowCount ?? 0) + (await upstream.releasePolls(c, [workerId]));
      }),
    async countLive() {
      const r = await pool.query<LiveCount>(
        `SELECT service, state, count(*)::int AS count FROM tasks WHERE state IN ('queued', 'running') GROUP BY service, state`,
      );
      return r.rows;
    },
    async runningLeaseOwners() {
      const r = await pool.query<{ owner: string }>(
        `SELECT lease_owner AS owner FROM tasks WHERE state = 'running' AND lease_owner IS NOT NULL
         UNION SELECT poll_owner FROM upstream_tasks WHERE poll_owner IS NOT NULL`,
      );
      return r.rows.map((row) => row.owner);
    },
    requeue: async (req) =>
      first(
        (
          await pool.query<TaskRow>(
            `UPDATE tasks SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_after = $3,
               attempts = GREATEST(attempts - 1, 0)
             WHERE id = $1 AND state = 'running' AND lease_owner = $2 RETURNING *`,
            [req.id, req.workerId, req.runAfter],
          )
        ).rows,
      ),
    purgeFinished: createPgPurge(pool),
    upstream,
    /** Ends the pool (shared by the other Postgres stores of the same `Stores`); idempotent. */
    close: () => (closed ??= grouped.drain().then(() => pool.end())),
  };
}
