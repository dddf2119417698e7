/**
 * The upstream side of relayed tasks in the Postgres store (`upstream_tasks`): the same
 * behaviour as the SQLite driver (store/sqlite/upstream-store.ts), for several nodes at once. The
 * task store calls `end` inside its finish and terminate transactions, so a task that ends stops
 * being polled in the same commit. A poll's lease lives on the upstream row (`poll_owner`, with
 * `next_poll_at` pushed to the lease's expiry): claims take due rows with FOR UPDATE SKIP LOCKED,
 * so pollers on several nodes never wait for each other nor poll a task twice, and a poll that
 * does not end its task writes only its upstream row.
 *
 * Lock order, everywhere: the task row first, then its upstream row (finish, terminate and the
 * submit marks already go that way; recordPolls locks the task rows it will raise before it
 * writes their upstream rows), so two transactions never wait for each other in a cycle.
 */
import type { Task } from '../../core/types.js';
import type { DuePoll, UpstreamRef, UpstreamStore } from '../../core/upstream.js';
import { toUpstream, type UpstreamRow } from '../rows.js';
import { toTask, type TaskRow } from '../task-row.js';
import { transaction, type Pool } from './db.js';
import type { PgOutbox, Queryable } from './parts.js';


interface DueRow {
  task_id: string;
  service: string;
  deadline_at: number | null;
}


export interface PgUpstreamStore extends UpstreamStore {
  /**
   * The task ended (call inside the terminal transition's transaction, on its connection): no
   * more polls. A result that came back from the upstream (`finished`) also drops the reference's
   * URLs and data; a task ended here (cancelled, timed out) keeps them for the upstream cancel.
   */
  end(c: Queryable, taskId: string, finished: boolean): Promise<void>;
  /**
   * SQL condition, true for a task waiting upstream (`tasks` named `table` in the statement): the
   * local claim leaves such tasks alone (they must never be run or submitted again).
   */
  waitingUpstream(table: string): string;
  /** Drops the poll leases of these workers (a clean stop, or dead pollers): due at once. */
  releasePolls(c: Queryable, workerIds: readonly string[]): Promise<number>;
}

const waiting = (table: string): string =>
  `EXISTS (SELECT 1 FROM upstream_tasks u WHERE u.task_id = ${table}.id AND u.next_poll_at IS NOT NULL)`;

const UPSERT = `INSERT INTO upstream_tasks (task_id, channel, upstream_id, urls, data, submitted_at, next_poll_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (task_id) DO UPDATE SET channel = EXCLUDED.channel, upstream_id = EXCLUDED.upstream_id, urls = EXCLUDED.urls,
    data = EXCLUDED.data, submitted_at = EXCLUDED.submitted_at, next_poll_at = EXCLUDED.next_poll_at`;

// Due: the poll time has come and no live poll lease holds it (a leased row's next_poll_at is its
// lease's expiry, so an expired lease is simply due). The task-lease condition leaves a task alone
// while the poller that ends it holds its own lease. Rows another poller is claiming are skipped.
const DUE = `SELECT u.task_id, t.service, t.deadline_at FROM upstream_tasks u JOIN tasks t ON t.id = u.task_id
  WHERE u.channel = $1 AND u.next_poll_at IS NOT NULL AND u.next_poll_at <= $3 AND (u.poll_owner IS NULL OR u.next_poll_at <= $2)
    AND t.state = 'running' AND (t.lease_expires_at IS NULL OR t.lease_expires_at <= $2)
  ORDER BY u.next_poll_at LIMIT $4
  FOR UPDATE OF u SKIP LOCKED`;

/** The answers of one batch as a relation (`$1`: a JSON array of {id, next, raw, progress}). */
const POLLS = `json_to_recordset($1::json) AS j(id text, next bigint, raw text, progress double precision)`;

export function createPgUpstreamStore(pool: Pool, deps: { outbox: PgOutbox }): PgUpstreamStore {
  return {
    waitingUpstream: waiting,

    async end(c, taskId, finished) {
      await c.query(
        finished
          ? `UPDATE upstream_tasks SET next_poll_at = NULL, poll_owner = NULL, urls = '{}', data = '{}' WHERE task_id = $1`
          : 'UPDATE upstream_tasks SET next_poll_at = NULL, poll_owner = NULL WHERE task_id = $1',
        [taskId],
      );
    },

    async releasePolls(c, workerIds) {
      if (workerIds.length === 0) return 0;
      const r = await c.query(
        `UPDATE upstream_tasks SET poll_owner = NULL, next_poll_at = 0 WHERE poll_owner = ANY($1::text[]) AND next_poll_at IS NOT NULL`,
        [workerIds],
      );
      return r.rowCount ?? 0;
    },

    recordSubmitting: (req) =>
      transaction(pool, async (c) => {
        // The task row stays locked until the mark commits: the lease cannot move on meanwhile.
        const held = await c.query(`SELECT 1 FROM tasks WHERE id = $1 AND state = 'running' AND lease_owner = $2 FOR NO KEY UPDATE`, [req.taskId, req.workerId]);
        if (held.rowCount !== 1) return false;
        const live = await c.query('SELECT 1 FROM upstream_tasks WHERE task_id = $1 AND next_poll_at IS NOT NULL', [req.taskId]);
        if (live.rowCount !== 0) return false;
        await c.query(UPSERT, [req.taskId, req.channel, null, '{}', '{}', req.now, null]);
        return true;
      }),

    // The share lock on the task row (taken before the upstream row's) keeps a claim from moving
    // the lease on while the mark is dropped.
    async clearSubmitting(req) {
      await pool.query(
        `DELETE FROM upstream_tasks WHERE task_id = $1 AND upstream_id IS NULL AND next_poll_at IS NULL
           AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = $1 AND t.state = 'running' AND t.lease_owner = $2 FOR SHARE)`,
        [req.taskId, req.workerId],
      );
    },

    recordSubmitted: (req) =>
      transaction(pool, async (c): Promise<Task | null> => {
        const row = (
          await c.query<TaskRow>(
            `UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND state = 'running' AND lease_owner = $2 RETURNING *`,
            [req.taskId, req.workerId],
          )
        ).rows[0];
        if (!row) return null;
        const ref: UpstreamRef = req.ref;
        await c.query(UPSERT, [req.taskId, req.channel, ref.id, JSON.stringify(ref.urls), JSON.stringify(ref.data), req.now, req.nextPollAt]);
        return toTask(row);
      }),

    claimDuePolls: (req) =>
      transaction(pool, async (c) => {
        const out: DuePoll[] = [];
        for (const { channel, max, aheadMs = 0 } of req.channels) {
          if (max <= 0) continue;
          let rows = (await c.query<DueRow>(DUE, [channel, req.now, req.now, max])).rows;
          // Rows the first query locked are ours: the second one returns them again, not skips them.
          if (rows.length > 0 && rows.length < max && aheadMs > 0) rows = (await c.query<DueRow>(DUE, [channel, req.now, req.now + aheadMs, max])).rows;
          if (rows.length === 0) continue;
          // A claim answers any callback so far (woken = false).
          const leased = await c.query<UpstreamRow>(
            `UPDATE upstream_tasks SET poll_owner = $2, next_poll_at = $3, woken = false WHERE task_id = ANY($1::text[]) RETURNING *`,
            [rows.map((r) => r.task_id), req.workerId, req.now + req.leaseMs],
          );
          const byId = new Map(leased.rows.map((u) => [u.task_id, u]));
          for (const row of rows) {
            const upstream = byId.get(row.task_id);
            if (upstream) out.push({ taskId: row.task_id, service: row.service, deadlineAt: row.deadline_at, upstream: toUpstream(upstream) });
          }
        }
        return out;
      }),

    async recordPolls(req) {
      if (req.polls.length === 0) return [];
      const json = JSON.stringify(req.polls.map((p) => ({ id: p.taskId, next: p.nextPollAt, raw: p.raw, progress: p.progress })));
      return transaction(pool, async (c) => {
        // The tasks whose progress would rise are locked first (task row before upstream row).
        if (req.polls.some((p) => p.progress !== null)) {
          await c.query(
            `SELECT t.id FROM tasks t JOIN ${POLLS} ON t.id = j.id
             WHERE j.progress IS NOT NULL AND t.state = 'running' AND (t.progress IS NULL OR t.progress < j.progress)
             ORDER BY t.id FOR NO KEY UPDATE OF t`,
            [json],
          );
        }
        // Every answer in one statement; a callback during the poll (woken) makes the next one due at once.
        const polled = await c.query<{ task_id: string }>(
          `UPDATE upstream_tasks u SET next_poll_at = CASE WHEN u.woken THEN 0 ELSE j.next END, woken = false, poll_owner = NULL,
             polls = u.polls + 1, last_status = j.raw, last_progress = COALESCE(j.progress, u.last_progress)
           FROM ${POLLS}
           WHERE u.task_id = j.id AND u.poll_owner = $2 AND u.next_poll_at IS NOT NULL
           RETURNING u.task_id`,
          [json, req.workerId],
        );
        const recorded = new Set(polled.rows.map((r) => r.task_id));
        const rising = req.polls.filter((p) => p.progress !== null && recorded.has(p.taskId)).map((p) => p.taskId);
        const risen = new Map<string, Task>();
        if (rising.length > 0) {
          const rows = await c.query<TaskRow>(
            `UPDATE tasks t SET progress = j.progress FROM ${POLLS}
             WHERE t.id = j.id AND t.id = ANY($2::text[]) AND j.progress IS NOT NULL
               AND t.state = 'running' AND (t.progress IS NULL OR t.progress < j.progress)
             RETURNING t.*`,
            [json, rising],
          );
          for (const row of rows.rows) risen.set(row.id, toTask(row));
        }
        const out: Array<{ progressed: Task | null } | null> = [];
        for (const p of req.polls) {
          if (!recorded.has(p.taskId)) {
            out.push(null);
            continue;
          }
          const task = risen.get(p.taskId) ?? null;
          if (task) {
            risen.delete(p.taskId); // a task listed twice in one batch rises (and is announced) once
            await deps.outbox.enqueue(c, task, 'progress', req.now);
          }
          out.push({ progressed: task });
        }
        return out;
      });
    },

    async renewPolls(req) {
      if (req.taskIds.length === 0) return [];
      const r = await pool.query<{ task_id: string }>(
        `UPDATE upstream_tasks SET next_poll_at = $3
         WHERE task_id = ANY($1::text[]) AND poll_owner = $2 AND next_poll_at IS NOT NULL RETURNING task_id`,
        [req.taskIds, req.workerId, req.until],
      );
      return r.rows.map((row) => row.task_id);
    },

    // The task row is locked first, then the poll lease is read under a share lock: a poller on
    // another node claiming the same expired poll lease waits, or is skipped, never both win.
    takeTask: (req) =>
      transaction(pool, async (c): Promise<Task | null> => {
        const free = await c.query(
          `SELECT 1 FROM tasks WHERE id = $1 AND state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= $2) FOR NO KEY UPDATE`,
          [req.taskId, req.now],
        );
        if (free.rowCount !== 1) return null;
        const polling = await c.query(
          'SELECT 1 FROM upstream_tasks WHERE task_id = $1 AND poll_owner = $2 AND next_poll_at IS NOT NULL FOR SHARE',
          [req.taskId, req.workerId],
        );
        if (polling.rowCount !== 1) return null;
        const row = (
          await c.query<TaskRow>('UPDATE tasks SET lease_owner = $2, lease_expires_at = $3 WHERE id = $1 RETURNING *', [
            req.taskId, req.workerId, req.now + req.leaseMs,
          ])
        ).rows[0];
        return row ? toTask(row) : null;
      }),

    // A callback's poll is due before every poll that is merely due (0: claims take the oldest due
    // first); while a poll is in flight only `woken` is set, and its record makes the next poll due.
    async pollNow(taskId, _now) {
      const r = await pool.query(
        `UPDATE upstream_tasks SET next_poll_at = CASE WHEN poll_owner IS NULL THEN 0 ELSE next_poll_at END, woken = true
         WHERE task_id = $1 AND next_poll_at IS NOT NULL`,
        [taskId],
      );
      return (r.rowCount ?? 0) > 0;
    },

    async get(taskId) {
      const row = (await pool.query<UpstreamRow>('SELECT * FROM upstream_tasks WHERE task_id = $1', [taskId])).rows[0];
      return row ? toUpstream(row) : null;
    },

    async inFlightByChannel() {
      const r = await pool.query<{ channel: string; n: number }>(
        'SELECT channel, count(*) AS n FROM upstream_tasks WHERE next_poll_at IS NOT NULL GROUP BY channel',
      );
      return Object.fromEntries(r.rows.map((row) => [row.channel, row.n]));
    },
  };
}
