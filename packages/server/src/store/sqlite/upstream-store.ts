/**
 * The upstream side of relayed tasks in the SQLite store (`upstream_tasks`, migration 0009). The
 * task store composes it: both share the task cache, and the task store calls `end` inside its
 * finish and terminate transactions, so a task that ends stops being polled in the same commit.
 * A poll's lease lives on the upstream row (migration 0012), so polls that see no end never write
 * the task row; the poll that ends a task takes the task's own lease (`takeTask`), so a terminal
 * result passes the task store's `finish`.
 */
import type { Task } from '../../core/types.js';
import type { DuePoll, PollClaim, PollRecord, UpstreamRef, UpstreamStore } from '../../core/upstream.js';
import { toUpstream, type UpstreamRow } from '../rows.js';
import type { Db } from './db.js';
import { GroupCommit } from './group-commit.js';
import type { TaskCache } from './task-cache.js';

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
  /** Drops the poll leases of these workers (a clean stop, or dead local pollers): due at once. */
  releasePolls(workerIds: readonly string[]): number;
  /** Workers holding poll leases (for dead-worker detection). */
  pollOwners(): string[];
  /** Waits for grouped writes (before the database closes). */
  drain(): Promise<void>;
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
  // Due: the poll time has come and no live poll lease holds it (a leased row's next_poll_at is
  // its lease's expiry, so an expired lease is simply due). The task-lease condition leaves a
  // task alone while the poller that ends it holds its own lease.
  const due = db.prepare<[{ channel: string; now: number; by: number; limit: number }], { task_id: string; service: string; deadline_at: number | null }>(
    `SELECT u.task_id, t.service, t.deadline_at FROM upstream_tasks u JOIN tasks t ON t.id = u.task_id
     WHERE u.channel = @channel AND u.next_poll_at IS NOT NULL AND u.next_poll_at <= @by AND (u.poll_owner IS NULL OR u.next_poll_at <= @now)
       AND t.state = 'running' AND (t.lease_expires_at IS NULL OR t.lease_expires_at <= @now)
     ORDER BY u.next_poll_at LIMIT @limit`,
  );
  // A claim answers any callback so far (woken = 0).
  const lease = db.prepare<[{ ids: string; owner: string; until: number }], UpstreamRow>(
    `UPDATE upstream_tasks SET poll_owner = @owner, next_poll_at = @until, woken = 0
     WHERE task_id IN (SELECT value FROM json_each(@ids)) RETURNING *`,
  );
  const byTask = db.prepare<[string], UpstreamRow>('SELECT * FROM upstream_tasks WHERE task_id = ?');
  // The answers of one batch, in one statement (`polls`: a JSON array of {id, next, raw, progress}).
  // `+poll_owner` keeps SQLite from looping over the poller's leased rows with the list inside.
  const polled = db.prepare<[{ polls: string; owner: string; now: number }], string>(
    `UPDATE upstream_tasks SET next_poll_at = CASE WHEN woken = 1 THEN 0 ELSE j.next END, woken = 0, poll_owner = NULL,
       polls = polls + 1, last_status = j.raw, last_progress = COALESCE(j.progress, last_progress)
     FROM (SELECT value ->> 'id' AS id, value ->> 'next' AS next, value ->> 'raw' AS raw, value ->> 'progress' AS progress FROM json_each(@polls)) AS j
     WHERE upstream_tasks.task_id = j.id AND +upstream_tasks.poll_owner = @owner AND upstream_tasks.next_poll_at IS NOT NULL
     RETURNING task_id`,
  ).pluck();
  const rise = db.prepare<[{ id: string; progress: number }], Row>(
    `UPDATE tasks SET progress = @progress WHERE id = @id AND state = 'running' AND (progress IS NULL OR progress < @progress) RETURNING *`,
  );
  const renew = db.prepare<[{ ids: string; owner: string; until: number }], string>(
    `UPDATE upstream_tasks SET next_poll_at = @until
     WHERE task_id IN (SELECT value FROM json_each(@ids)) AND poll_owner = @owner AND next_poll_at IS NOT NULL RETURNING task_id`,
  ).pluck();
  const take = db.prepare<[{ id: string; owner: string; now: number; until: number }], Row>(
    `UPDATE tasks SET lease_owner = @owner, lease_expires_at = @until
     WHERE id = @id AND state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= @now)
       AND EXISTS (SELECT 1 FROM upstream_tasks u WHERE u.task_id = @id AND u.poll_owner = @owner AND u.next_poll_at IS NOT NULL)
     RETURNING *`,
  );
  // Handed back (a clean stop) or released (a dead local poller): due at once.
  const dropPolls = db.prepare<[string]>(
    `UPDATE upstream_tasks SET poll_owner = NULL, next_poll_at = 0
     WHERE poll_owner IN (SELECT value FROM json_each(?)) AND next_poll_at IS NOT NULL`,
  );
  const pollOwners = db.prepare<[], string>('SELECT DISTINCT poll_owner FROM upstream_tasks WHERE poll_owner IS NOT NULL').pluck();
  // A callback's poll is due before every poll that is merely due (next_poll_at 0: claims take the
  // oldest due first), so a backlog of routine polls never delays it. While a poll is in flight
  // only `woken` is set: its record makes the next poll due that way.
  const now_ = db.prepare<[{ id: string; now: number }]>(
    `UPDATE upstream_tasks SET next_poll_at = CASE WHEN poll_owner IS NULL THEN 0 ELSE next_poll_at END, woken = 1
     WHERE task_id = @id AND next_poll_at IS NOT NULL`,
  );
  const endRow = db.prepare<[string]>('UPDATE upstream_tasks SET next_poll_at = NULL, poll_owner = NULL WHERE task_id = ?');
  const dropRef = db.prepare<[string]>(`UPDATE upstream_tasks SET next_poll_at = NULL, poll_owner = NULL, urls = '{}', data = '{}' WHERE task_id = ?`);
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

  const claimTx = db.transaction((req: { workerId: string; now: number; leaseMs: number; channels: ReadonlyArray<PollClaim> }): DuePoll[] => {
    const out: DuePoll[] = [];
    for (const { channel, max, aheadMs = 0 } of req.channels) {
      if (max <= 0) continue;
      let rows = due.all({ channel, now: req.now, by: req.now, limit: max });
      if (rows.length > 0 && rows.length < max && aheadMs > 0) rows = due.all({ channel, now: req.now, by: req.now + aheadMs, limit: max });
      if (rows.length === 0) continue;
      const leased = new Map(lease.all({ ids: JSON.stringify(rows.map((r) => r.task_id)), owner: req.workerId, until: req.now + req.leaseMs }).map((u) => [u.task_id, u]));
      for (const row of rows) {
        const upstream = leased.get(row.task_id);
        if (upstream) out.push({ taskId: row.task_id, service: row.service, deadlineAt: row.deadline_at, upstream: toUpstream(upstream) });
      }
    }
    return out;
  });

  const recordAll = (req: { workerId: string; now: number; polls: readonly PollRecord[] }) => {
    const json = JSON.stringify(req.polls.map((p) => ({ id: p.taskId, next: p.nextPollAt, raw: p.raw, progress: p.progress })));
    const recorded = new Set(polled.all({ polls: json, owner: req.workerId, now: req.now }));
    return req.polls.map((p): { progressed: Task | null } | null => {
      if (!recorded.has(p.taskId)) return null;
      const row = p.progress === null ? undefined : rise.all({ id: p.taskId, progress: p.progress })[0];
      if (!row) return { progressed: null };
      deps.enqueue(p.taskId, 'progress', req.now);
      return { progressed: cache.refresh(deps.toTask(row)) };
    });
  };
  // The answers of the batches that come back in one event-loop turn share one commit (with
  // single-task polls, one commit per poll was most of a poll's cost); so do the takeTasks.
  const records = new GroupCommit(db, recordAll);
  const takes = new GroupCommit(db, (req: { taskId: string; workerId: string; now: number; leaseMs: number }) => {
    const row = take.all({ id: req.taskId, owner: req.workerId, now: req.now, until: req.now + req.leaseMs })[0];
    return row ? cache.refresh(deps.toTask(row)) : null;
  });

  return {
    waitingUpstream: waiting,
    releasePolls: (workerIds) => (workerIds.length === 0 ? 0 : dropPolls.run(JSON.stringify(workerIds)).changes),
    pollOwners: () => pollOwners.all(),
    end: (taskId, finished) => void (finished ? dropRef : endRow).run(taskId),
    recordSubmitting: async (req) => submittingTx(req),
    clearSubmitting: async (req) => void unmark.run({ id: req.taskId, owner: req.workerId }),
    recordSubmitted: async (req) => {
      const task = submittedTx(req);
      // A task waiting upstream may wait minutes and nobody may read it meanwhile (a callback
      // client): it leaves the cache, so tasks in flight upstream cost no cache memory. A read
      // brings it back.
      if (task) cache.forget(task.id);
      return task;
    },
    claimDuePolls: async (req) => claimTx(req),
    recordPolls: (req) => records.add(req),
    renewPolls: async (req) => (req.taskIds.length === 0 ? [] : renew.all({ ids: JSON.stringify(req.taskIds), owner: req.workerId, until: req.until })),
    takeTask: (req) => takes.add(req),
    drain: async () => {
      await records.drain();
      await takes.drain();
    },
    pollNow: async (taskId, now) => now_.run({ id: taskId, now }).changes > 0,
    get: async (taskId) => {
      const row = byTask.get(taskId);
      return row ? toUpstream(row) : null;
    },
    inFlightByChannel: async () => Object.fromEntries(perChannel.all().map((r) => [r.channel, r.n])),
  };
}
