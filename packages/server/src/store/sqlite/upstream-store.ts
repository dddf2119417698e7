/**
 * The upstream side of relayed tasks in the SQLite store (`upstream_tasks`, migration 0009). The
 * task store composes it: both share the task cache, and the task store calls `end` inside its
 * finish and terminate transactions, so a task that ends stops being polled in the same commit.
 * A poll's lease is the task's own lease, so a terminal result passes the task store's `finish`.
 */
import type { JsonObject, Task } from '../../core/types.js';
import type { PollClaim, PollRecord, UpstreamRef, UpstreamStore, UpstreamTask } from '../../core/upstream.js';
import type { Db } from './db.js';
import type { TaskCache } from './task-cache.js';

interface UpstreamRow {
  task_id: string;
  channel: string;
  upstream_id: string | null;
  urls: string;
  data: string;
  submitted_at: number;
  next_poll_at: number | null;
  polls: number;
  last_status: string | null;
  last_progress: number | null;
}

function toUpstream(row: UpstreamRow): UpstreamTask {
  return {
    taskId: row.task_id,
    channel: row.channel,
    ref: row.upstream_id === null ? null : { id: row.upstream_id, urls: JSON.parse(row.urls) as Record<string, string>, data: JSON.parse(row.data) as JsonObject },
    submittedAt: row.submitted_at,
    nextPollAt: row.next_poll_at,
    polls: row.polls,
    lastStatus: row.last_status,
    lastProgress: row.last_progress,
  };
}

/** What the task store lends the upstream store: its row mapping, cache and webhook outbox. */
export interface UpstreamStoreDeps<Row> {
  toTask(row: Row): Task;
  cache: TaskCache;
  /** Queues a webhook event for the task (inside the caller's transaction). */
  enqueue(taskId: string, event: 'progress', now: number): void;
}

export interface SqliteUpstreamStore extends UpstreamStore {
  /**
   * The task ended (call inside the terminal transition's transaction): no more polls. A result
   * that came back from the upstream (`finished`) also drops the reference's URLs and data (an
   * inline result such as a base64 image can be megabytes); a task ended here (cancelled, timed
   * out by the sweep) keeps them, so the cancel can still be sent upstream.
   */
  end(taskId: string, finished: boolean): void;
  /**
   * SQL condition, true for a task waiting upstream (`tasks` named `table` in the statement): the
   * local claim leaves such tasks alone (they must never be run or submitted again).
   */
  waitingUpstream(table: string): string;
}

const waiting = (table: string): string =>
  `EXISTS (SELECT 1 FROM upstream_tasks u WHERE u.task_id = ${table}.id AND u.next_poll_at IS NOT NULL)`;

export function createUpstreamStore<Row>(db: Db, deps: UpstreamStoreDeps<Row>): SqliteUpstreamStore {
  const { cache } = deps;
  const detach = db.prepare<[{ id: string; owner: string }], Row>(
    `UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL WHERE id = @id AND state = 'running' AND lease_owner = @owner RETURNING *`,
  );
  const insert = db.prepare<[{ id: string; channel: string; upstream: string | null; urls: string; data: string; now: number; next: number | null }]>(
    `INSERT INTO upstream_tasks (task_id, channel, upstream_id, urls, data, submitted_at, next_poll_at)
     VALUES (@id, @channel, @upstream, @urls, @data, @now, @next)
     ON CONFLICT (task_id) DO UPDATE SET channel = excluded.channel, upstream_id = excluded.upstream_id, urls = excluded.urls,
       data = excluded.data, submitted_at = excluded.submitted_at, next_poll_at = excluded.next_poll_at`,
  );
  const holds = db.prepare<[string, string], number>(`SELECT count(*) FROM tasks WHERE id = ? AND state = 'running' AND lease_owner = ?`).pluck();
  const liveRef = db.prepare<[string], number>('SELECT count(*) FROM upstream_tasks WHERE task_id = ? AND next_poll_at IS NOT NULL').pluck();
  const due = db.prepare<[{ channel: string; now: number; by: number; limit: number }], string>(
    `SELECT u.task_id FROM upstream_tasks u JOIN tasks t ON t.id = u.task_id
     WHERE u.channel = @channel AND u.next_poll_at IS NOT NULL AND u.next_poll_at <= @by
       AND t.state = 'running' AND (t.lease_expires_at IS NULL OR t.lease_expires_at <= @now)
     ORDER BY u.next_poll_at LIMIT @limit`,
  ).pluck();
  const lease = db.prepare<[{ id: string; owner: string; until: number; now: number }], Row>(
    `UPDATE tasks SET lease_owner = @owner, lease_expires_at = @until
     WHERE id = @id AND state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= @now) RETURNING *`,
  );
  const byTask = db.prepare<[string], UpstreamRow>('SELECT * FROM upstream_tasks WHERE task_id = ?');
  const unwake = db.prepare<[string]>('UPDATE upstream_tasks SET woken = 0 WHERE task_id = ? AND woken = 1');
  const progressOf = db.prepare<[string, string], number | null>(
    `SELECT progress FROM tasks WHERE id = ? AND state = 'running' AND lease_owner = ?`,
  ).pluck();
  const release = db.prepare<[{ id: string; owner: string; progress: number | null }], Row>(
    `UPDATE tasks SET progress = COALESCE(@progress, progress), lease_owner = NULL, lease_expires_at = NULL
     WHERE id = @id AND state = 'running' AND lease_owner = @owner RETURNING *`,
  );
  const polled = db.prepare<[{ id: string; now: number; next: number; raw: string | null; progress: number | null }]>(
    `UPDATE upstream_tasks SET next_poll_at = CASE WHEN woken = 1 THEN MIN(@next, @now) ELSE @next END, woken = 0,
       polls = polls + 1, last_status = @raw,
       last_progress = COALESCE(@progress, last_progress)
     WHERE task_id = @id AND next_poll_at IS NOT NULL`,
  );
  const now_ = db.prepare<[{ id: string; now: number }]>(
    `UPDATE upstream_tasks SET next_poll_at = MIN(next_poll_at, @now), woken = 1 WHERE task_id = @id AND next_poll_at IS NOT NULL`,
  );
  const endRow = db.prepare<[string]>('UPDATE upstream_tasks SET next_poll_at = NULL WHERE task_id = ?');
  const dropRef = db.prepare<[string]>(`UPDATE upstream_tasks SET next_poll_at = NULL, urls = '{}', data = '{}' WHERE task_id = ?`);
  const perChannel = db.prepare<[], { channel: string; n: number }>(
    'SELECT channel, count(*) AS n FROM upstream_tasks WHERE next_poll_at IS NOT NULL GROUP BY channel',
  );

  const unmark = db.prepare<[{ id: string; owner: string }]>(
    `DELETE FROM upstream_tasks WHERE task_id = @id AND upstream_id IS NULL AND next_poll_at IS NULL
       AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = @id AND t.state = 'running' AND t.lease_owner = @owner)`,
  );
  const submittingTx = db.transaction((req: { taskId: string; workerId: string; channel: string; now: number }): boolean => {
    if (holds.get(req.taskId, req.workerId) !== 1 || liveRef.get(req.taskId) !== 0) return false;
    insert.run({ id: req.taskId, channel: req.channel, upstream: null, urls: '{}', data: '{}', now: req.now, next: null });
    return true;
  });

  const submittedTx = db.transaction((req: { taskId: string; workerId: string; channel: string; ref: UpstreamRef; now: number; nextPollAt: number }): Task | null => {
    const row = detach.all({ id: req.taskId, owner: req.workerId })[0];
    if (!row) return null;
    insert.run({
      id: req.taskId, channel: req.channel, upstream: req.ref.id, urls: JSON.stringify(req.ref.urls), data: JSON.stringify(req.ref.data),
      now: req.now, next: req.nextPollAt,
    });
    return deps.toTask(row);
  });

  const claimTx = db.transaction((req: { workerId: string; now: number; leaseMs: number; channels: ReadonlyArray<PollClaim> }) => {
    const out: Array<{ task: Task; upstream: UpstreamTask }> = [];
    for (const { channel, max, aheadMs = 0 } of req.channels) {
      if (max <= 0) continue;
      let ids = due.all({ channel, now: req.now, by: req.now, limit: max });
      if (ids.length > 0 && ids.length < max && aheadMs > 0) ids = due.all({ channel, now: req.now, by: req.now + aheadMs, limit: max });
      for (const id of ids) {
        const row = lease.all({ id, owner: req.workerId, until: req.now + req.leaseMs, now: req.now })[0];
        if (row) unwake.run(id); // this poll answers any callback so far
        const upstream = row ? byTask.get(id) : undefined;
        if (row && upstream) out.push({ task: deps.toTask(row), upstream: toUpstream(upstream) });
      }
    }
    return out;
  });

  const pollOne = (req: PollRecord): { task: Task; progressed: boolean } | null => {
    const before = progressOf.get(req.taskId, req.workerId);
    const row = release.all({ id: req.taskId, owner: req.workerId, progress: req.progress })[0];
    if (!row) return null;
    polled.run({ id: req.taskId, now: req.now, next: req.nextPollAt, raw: req.raw, progress: req.progress });
    const progressed = req.progress !== null && req.progress > (before ?? -1);
    if (progressed) deps.enqueue(req.taskId, 'progress', req.now);
    return { task: deps.toTask(row), progressed };
  };
  const pollsTx = db.transaction((reqs: readonly PollRecord[]) => reqs.map(pollOne));

  return {
    waitingUpstream: waiting,
    end: (taskId, finished) => void (finished ? dropRef : endRow).run(taskId),
    recordSubmitting: async (req) => submittingTx(req),
    clearSubmitting: async (req) => void unmark.run({ id: req.taskId, owner: req.workerId }),
    recordSubmitted: async (req) => {
      const task = submittedTx(req);
      return task ? cache.set(task) : null;
    },
    claimDuePolls: async (req) => {
      const claimed = claimTx(req);
      for (const c of claimed) cache.refresh(c.task);
      return claimed;
    },
    recordPoll: async (req) => {
      const [done] = pollsTx([req]);
      return done ? cache.refresh(done.task) : null;
    },
    recordPolls: async (reqs) => pollsTx(reqs).map((done) => (done ? { task: cache.refresh(done.task), progressed: done.progressed } : null)),
    pollNow: async (taskId, now) => now_.run({ id: taskId, now }).changes > 0,
    get: async (taskId) => {
      const row = byTask.get(taskId);
      return row ? toUpstream(row) : null;
    },
    inFlightByChannel: async () => Object.fromEntries(perChannel.all().map((r) => [r.channel, r.n])),
  };
}
