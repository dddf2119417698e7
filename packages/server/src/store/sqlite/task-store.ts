/** The SQLite driver of the TaskStore contract (better-sqlite3, synchronous, WAL). */
import { GatewayError } from '../../core/errors.js';
import type {
  ClaimRequest, FinishRequest, IdempotencyKey, ListRequest, LiveCount, NewTask, ServiceClaimLimit, TaskStore, TerminateRequest,
} from '../../core/ports.js';
import type { Task, TaskLog, TaskState } from '../../core/types.js';
import type { Db } from './db.js';
import { createFileIndex } from './file-index.js';
import { GroupCommit } from './group-commit.js';
import { TaskCache } from './task-cache.js';
import { newTaskToTask, one, toTask, type TaskRow } from '../task-row.js';
import { createTaskLedger } from './ledger.js';
import { createOutbox } from './webhook-store.js';
import { createUpstreamStore } from './upstream-store.js';
import { createPurge } from './retention.js';
import { searchSql } from '../task-search.js';

/** A due row with its owner's concurrency cap (null: none). */
type CappedRow = TaskRow & { owner_cap: number | null };

/**
 * The SQLite driver. Statements with RETURNING are always read with `.all()`: a statement left
 * unfinished (`.get()` stops after one row) keeps SQLite from ever checkpointing the WAL.
 */
export interface SqliteTaskStoreOptions {
  /**
   * Tasks kept in memory for reads (0 disables). Only safe while this process holds the database
   * exclusively (the default locking mode); the gateway turns it off for `shared` locking.
   */
  cacheSize?: number;
}

export function createSqliteTaskStore(db: Db, opts: SqliteTaskStoreOptions = {}): TaskStore {
  const cache = new TaskCache(opts.cacheSize ?? 0);
  const insert = db.prepare<[string, string, string, string, string, string, string, string | null, number, number, string, string, string | null, number, string | null]>(
    `INSERT INTO tasks (id, owner_id, service, dialect, state, request, input, trace_id, callback_url, created_at, run_after, meta,
                        webhook_events, origin, price, follow_up)
     VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const files = createFileIndex(db);
  const purge = createPurge(db, (id) => cache.forget(id));
  const ledger = createTaskLedger(db);
  const outbox = createOutbox(db);
  const upstream = createUpstreamStore(db, { toTask, cache, enqueue: (id, event, now) => outbox.enqueue(id, event, now) });
  const local = `NOT ${upstream.waitingUpstream('t')}`;
  const byId = db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id = ?');
  const byIds = db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id IN (SELECT value FROM json_each(?))');
  const liveCount = db
    .prepare<[string, number], number>(
      // Tasks waiting upstream hold no worker: their short poll leases do not count against the service.
      `SELECT count(*) FROM tasks t WHERE service = ? AND state = 'running' AND lease_expires_at > ? AND ${local}`,
    )
    .pluck();
  // The owner's cap: its account's max_concurrency, else the request's default (NULL: none).
  // Owners already at their cap are left out, so their queued tasks never block other owners'.
  // `state IN ('queued', 'running')` repeats the partial index's condition so SQLite uses it
  // (it does not infer it from `state = 'queued'`) instead of scanning every task ever stored.
  const due = (where: string, order: string) =>
    `SELECT t.*, COALESCE(k.max_concurrency, @cap) AS owner_cap FROM tasks t LEFT JOIN accounts k ON k.owner_id = t.owner_id
     WHERE t.service = @service AND t.state IN ('queued', 'running') AND ${where}
       AND (COALESCE(k.max_concurrency, @cap) IS NULL
            OR (SELECT count(*) FROM tasks r WHERE r.owner_id = t.owner_id AND r.state = 'running' AND r.lease_expires_at > @now)
               < COALESCE(k.max_concurrency, @cap))
     ORDER BY ${order} LIMIT @limit`;
  type DueParams = { service: string; now: number; cap: number | null; limit: number };
  const dueQueued = db.prepare<[DueParams], CappedRow>(due(`t.state = 'queued' AND t.run_after <= @now`, 't.run_after, t.created_at, t.id'));
  // A task waiting upstream is never run or submitted again locally: its poll lease may expire too.
  const expiredRunning = db.prepare<[DueParams], CappedRow>(due(`t.state = 'running' AND t.lease_expires_at <= @now AND ${local}`, 't.lease_expires_at'));
  const ownerLive = db
    .prepare<[string, number], number>(`SELECT count(*) FROM tasks WHERE owner_id = ? AND state = 'running' AND lease_expires_at > ?`)
    .pluck();
  const claim = db.prepare<[{ owner: string; until: number; now: number; deadline: number; id: string; from: TaskState }], TaskRow>(
    `UPDATE tasks SET state = 'running', lease_owner = @owner, lease_expires_at = @until, attempts = attempts + 1,
       started_at = COALESCE(started_at, @now), deadline_at = COALESCE(deadline_at, @deadline)
     WHERE id = @id AND state = @from RETURNING *`,
  );
  const extend = db
    .prepare<[number, string, string], string>(
      `UPDATE tasks SET lease_expires_at = ?
       WHERE id IN (SELECT value FROM json_each(?)) AND state = 'running' AND lease_owner = ? RETURNING id`,
    )
    .pluck();
  const progress = db.prepare<[number, string | null, string, string], TaskRow>(
    `UPDATE tasks SET progress = ?, progress_message = ? WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING *`,
  );
  const appendLog = db.prepare<[string, string, number, string, string]>(
    `INSERT INTO task_logs (task_id, seq, at, level, message)
     VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM task_logs WHERE task_id = ?), ?, ?, ?)`,
  );
  const logsOf = db.prepare<[string], TaskLog>('SELECT at, level, message FROM task_logs WHERE task_id = ? ORDER BY seq');
  /** Queued tasks of the service that a claim takes before this one (claim order below). */
  const ahead = db
    .prepare<[{ service: string; runAfter: number; createdAt: number; id: string }], number>(
      `SELECT count(*) FROM tasks WHERE service = @service AND state IN ('queued', 'running') AND state = 'queued'
         AND (run_after, created_at, id) < (@runAfter, @createdAt, @id)`,
    )
    .pluck();
  const finish = db.prepare<
    [{ state: TaskState; output: string | null; code: string | null; message: string | null; now: number; id: string; owner: string }],
    TaskRow
  >(
    `UPDATE tasks SET state = @state, output = @output, error_code = @code, error_message = @message, finished_at = @now,
       progress = CASE WHEN @state = 'succeeded' THEN 1 ELSE progress END, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = @id AND state = 'running' AND lease_owner = @owner RETURNING *`,
  );
  const terminate = db.prepare<[{ state: string; code: string; message: string; now: number; id: string; from: string }], TaskRow>(
    `UPDATE tasks SET state = @state, error_code = @code, error_message = @message, finished_at = @now,
       lease_owner = NULL, lease_expires_at = NULL
     WHERE id = @id AND state IN (SELECT value FROM json_each(@from)) RETURNING *`,
  );
  // One prepared statement per shape of search (a few dozen at most: which filters are present).
  const searches = new Map<string, ReturnType<typeof db.prepare<unknown[], TaskRow & { channel: string | null }>>>();
  const cachedStatement = (sql: string) => {
    let st = searches.get(sql);
    if (!st) searches.set(sql, (st = db.prepare<unknown[], TaskRow & { channel: string | null }>(sql)));
    return st;
  };
  const listOwner = db.prepare<[{ owner: string; before: string | null; services: string | null; limit: number }], TaskRow>(
    `SELECT * FROM tasks WHERE owner_id = @owner AND (@before IS NULL OR id < @before)
       AND (@services IS NULL OR service IN (SELECT value FROM json_each(@services)))
     ORDER BY id DESC LIMIT @limit`,
  );
  const release = db.prepare<[string]>(
    `UPDATE tasks SET lease_expires_at = 0 WHERE state = 'running' AND lease_owner IN (SELECT value FROM json_each(?))`,
  );
  // A clean stop: the attempt in progress is not a lost one, and nobody owns the task any more.
  const giveBack = db.prepare<[string]>(
    // A poll lease of a task waiting upstream is simply dropped: polls are not attempts.
    `UPDATE tasks SET lease_owner = NULL, lease_expires_at = 0,
       attempts = CASE WHEN ${upstream.waitingUpstream('tasks')} THEN attempts ELSE MAX(attempts - 1, 0) END
     WHERE state = 'running' AND lease_owner IN (SELECT value FROM json_each(?))`,
  );
  const requeueRow = db.prepare<[{ id: string; owner: string; runAfter: number }], TaskRow>(
    `UPDATE tasks SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_after = @runAfter,
       attempts = MAX(attempts - 1, 0)
     WHERE id = @id AND state = 'running' AND lease_owner = @owner RETURNING *`,
  );
  // `state IN (…)` is the partial claim index's own condition: only unfinished tasks are counted.
  const live = db.prepare<[], LiveCount>(
    `SELECT service, state, count(*) AS count FROM tasks WHERE state IN ('queued', 'running') GROUP BY service, state`,
  );
  const owners = db.prepare<[], string>(`SELECT DISTINCT lease_owner FROM tasks WHERE state = 'running' AND lease_owner IS NOT NULL`).pluck();

  const claimTx = db.transaction((req: ClaimRequest): Task[] => {
    const out: Task[] = [];
    const until = req.now + req.leaseMs;
    /** Live tasks per capped owner, counting the claims of this transaction. */
    const live = new Map<string, number>();
    /** Claims the rows in order, skipping those whose owner reached its cap in this batch. */
    const take = (rows: CappedRow[], limit: ServiceClaimLimit): number => {
      let taken = 0;
      for (const row of rows) {
        if (row.owner_cap !== null) {
          const running = live.get(row.owner_id) ?? ownerLive.get(row.owner_id, req.now)!;
          if (running >= row.owner_cap) continue;
          live.set(row.owner_id, running + 1);
        }
        const deadline = (row.started_at ?? req.now) + limit.timeoutMs;
        const claimed = one(claim.all({ owner: req.workerId, until, now: req.now, deadline, id: row.id, from: row.state }));
        if (!claimed) continue;
        // The first start only: a task given back by a clean stop and claimed again announces nothing new.
        if (row.started_at === null) outbox.enqueue(claimed.id, 'start', req.now);
        out.push(claimed);
        taken++;
      }
      return taken;
    };
    const cap = req.ownerConcurrency ?? null;
    for (const limit of req.services) {
      let free = Math.min(req.max - out.length, limit.concurrency - liveCount.get(limit.service, req.now)!);
      // Again while rows come back: a batch may skip rows of an owner it filled up, and the next
      // query leaves that owner out. Each round takes at least its first row.
      for (const due of [dueQueued, expiredRunning]) {
        while (free > 0) {
          const rows = due.all({ service: limit.service, now: req.now, cap, limit: free });
          const taken = take(rows, limit);
          free -= taken;
          if (taken === 0 || rows.length < free + taken) break;
        }
      }
    }
    return out;
  });

  /** The first row as a task, remembered in the cache (reads outside transactions only). */
  const cached = (rows: TaskRow[]): Task | null => {
    const task = one(rows);
    return task ? cache.set(task) : null;
  };
  /**
   * A task a write transaction returned, remembered once it has committed: inside the transaction
   * the cache must not change, or a rollback would leave it disagreeing with the database.
   */
  const remember = (task: Task | null): Task | null => (task ? cache.set(task) : null);

  const progressTx = db.transaction((id: string, workerId: string, p: number, message: string | null, now: number): Task | null => {
    const task = one(progress.all(p, message, id, workerId));
    if (task && message !== null) {
      appendLog.run(id, id, now, 'info', message);
      outbox.enqueue(id, 'progress', now);
    }
    return task;
  });

  // A terminal transition and its `completed` webhook commit together, or not at all.
  const finishTx = db.transaction((req: FinishRequest): Task | null => {
    const output = req.output ? JSON.stringify(req.output) : null;
    const task = one(
      finish.all({
        state: req.state, output, code: req.error?.code ?? null, message: req.error?.message ?? null,
        now: req.now, id: req.id, owner: req.workerId,
      }),
    );
    if (task) {
      if (task.state === 'succeeded') {
        ledger.settle(task.ownerId, task.id, task.price, req.now);
        files.record(task); // its images can be followed up on
      } else {
        ledger.refund(task.ownerId, task.id, task.price, req.now);
      }
      outbox.enqueue(task.id, 'completed', req.now);
      upstream.end(task.id, true);
    }
    return task;
  });
  const terminateTx = db.transaction((req: TerminateRequest): Task | null => {
    const task = one(
      terminate.all({ state: req.state, code: req.error.code, message: req.error.message, now: req.now, id: req.id, from: JSON.stringify(req.from) }),
    );
    if (task) {
      ledger.refund(task.ownerId, task.id, task.price, req.now);
      outbox.enqueue(task.id, 'completed', req.now);
      upstream.end(task.id, false);
    }
    return task;
  });

  const keyOf = db.prepare<[string, string], { request_hash: string; task_id: string; created_at: number }>(
    'SELECT request_hash, task_id, created_at FROM idempotency_keys WHERE owner_id = ? AND key = ?',
  );
  const rememberKey = db.prepare<[string, string, string, string, number]>(
    `INSERT INTO idempotency_keys (owner_id, key, request_hash, task_id, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (owner_id, key) DO UPDATE SET request_hash = excluded.request_hash, task_id = excluded.task_id,
       created_at = excluded.created_at`,
  );
  /** One row of a group commit: the task, or the one an earlier create with the same key made. */
  const insertOnceRow = ({ task: t, idempotency: idem }: { task: NewTask; idempotency?: IdempotencyKey }): { task: Task; created: boolean } => {
    if (idem) {
      const seen = keyOf.get(t.ownerId, idem.key);
      if (seen && seen.created_at >= idem.notBefore) {
        if (seen.request_hash !== idem.requestHash) throw new GatewayError('idempotency_mismatch');
        const first = one(byId.all(seen.task_id));
        if (first) return { task: first, created: false };
      }
    }
    insertRow(t);
    if (idem) rememberKey.run(t.ownerId, idem.key, idem.requestHash, t.id, t.createdAt);
    return { task: newTaskToTask(t), created: true };
  };

  const insertRow = (t: NewTask): void => {
    insert.run(
      t.id, t.ownerId, t.service, t.dialect, JSON.stringify(t.request), JSON.stringify(t.input),
      t.traceId, t.callbackUrl, t.createdAt, t.runAfter, JSON.stringify(t.meta), JSON.stringify(t.webhookEvents), t.origin, t.price, t.followUp ? JSON.stringify(t.followUp) : null,
    );
    ledger.hold(t.ownerId, t.id, t.price, t.createdAt); // throws used_up: the insert rolls back with it
  };
  const inserts = new GroupCommit(db, insertOnceRow);

  return {
    insert: async (t) => cache.set((await inserts.add({ task: t })).task),
    insertOnce: async (t, idempotency) => {
      const result = await inserts.add({ task: t, idempotency });
      return { task: cache.set(result.task), created: result.created };
    },
    get: async (id) => cache.get(id) ?? cached(byId.all(id)),
    async getMany(ownerId, ids) {
      const found = new Map<string, Task>();
      const missing: string[] = [];
      for (const id of ids) {
        const task = cache.get(id);
        if (task) found.set(id, task);
        else missing.push(id);
      }
      if (missing.length) for (const row of byIds.all(JSON.stringify(missing))) found.set(row.id, cache.set(toTask(row)));
      return ids.flatMap((id) => {
        const task = found.get(id);
        return task && task.ownerId === ownerId ? [task] : [];
      });
    },
    async findByOutputFile(ownerId, fileId) {
      const id = files.taskOf(ownerId, fileId);
      const task = id === null ? null : (cache.get(id) ?? cached(byId.all(id)));
      return task?.ownerId === ownerId && task.state === 'succeeded' ? task : null;
    },
    claimDue: async (req) => claimTx.immediate(req).map((t) => cache.set(t)),
    extendLeases: async (ids, workerId, until) => {
      if (ids.length === 0) return [];
      const held = extend.all(until, JSON.stringify(ids), workerId);
      for (const id of held) cache.update(id, (t) => Object.assign({}, t, { leaseExpiresAt: until })); // not spread: see newTaskToTask
      return held;
    },
    setProgress: async (id, workerId, p, message, now) => remember(progressTx.immediate(id, workerId, p, message, now)),
    finish: async (req: FinishRequest) => remember(finishTx.immediate(req)),
    terminate: async (req: TerminateRequest) => remember(terminateTx.immediate(req)),
    logs: async (id) => logsOf.all(id),
    queuePosition: async (t) =>
      t.state === 'queued' ? ahead.get({ service: t.service, runAfter: t.runAfter, createdAt: t.createdAt, id: t.id })! : 0,
    search: async (filter) => {
      const params: Array<string | number> = [];
      const sql = searchSql(filter, {
        param: (v) => (params.push(v), '?'),
        oneOf: (column, values) => (params.push(JSON.stringify(values)), `${column} IN (SELECT value FROM json_each(?))`),
      });
      return cachedStatement(sql).all(...params).map((row) => ({ task: cache.get(row.id) ?? toTask(row), channel: row.channel }));
    },
    list: async (req: ListRequest) =>
      listOwner
        .all({ owner: req.ownerId, before: req.before ?? null, services: req.services ? JSON.stringify(req.services) : null, limit: req.limit })
        .map((row) => cache.get(row.id) ?? cache.set(toTask(row))),
    releaseLeases: async (workerIds) => {
      if (workerIds.length === 0) return 0;
      const owners = new Set(workerIds);
      cache.evictWhere((t) => t.state === 'running' && t.leaseOwner !== null && owners.has(t.leaseOwner));
      return release.run(JSON.stringify(workerIds)).changes + upstream.releasePolls(workerIds);
    },
    returnLeases: async (workerId) => {
      cache.evictWhere((t) => t.state === 'running' && t.leaseOwner === workerId);
      return giveBack.run(JSON.stringify([workerId])).changes + upstream.releasePolls([workerId]);
    },
    runningLeaseOwners: async () => [...new Set([...owners.all(), ...upstream.pollOwners()])],
    countLive: async () => live.all(),
    requeue: async (req) => remember(one(requeueRow.all({ id: req.id, owner: req.workerId, runAfter: req.runAfter }))),
    purgeFinished: async (before, limit) => purge(before, limit),
    upstream,
    close: async () => {
      await inserts.drain();
      await upstream.drain();
      db.close();
    },
  };
}
