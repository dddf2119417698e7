/**
 * The SQLite driver of the StatsStore (core/stats.ts): finished tasks in a time range over the
 * partial `tasks_finished` index (`finished_at`), only the four columns the charts need.
 */
import type { FinishedQuery, FinishedTaskRow, StatsStore } from '../../core/stats.js';
import type { TerminalState } from '../../core/types.js';
import type { Db } from './db.js';

interface Row {
  state: TerminalState;
  created_at: number;
  finished_at: number;
  price: number;
}

export function createSqliteStatsStore(db: Db): StatsStore {
  // `finished_at >= ?` implies the index's `finished_at IS NOT NULL`, so SQLite ranges over it.
  // The owner and services are bound as NULL when not asked for.
  const finished = db.prepare<[{ since: number; until: number; owner: string | null; services: string | null; limit: number }], Row>(
    `SELECT state, created_at, finished_at, price FROM tasks INDEXED BY tasks_finished
     WHERE finished_at >= @since AND finished_at < @until AND state IN ('succeeded', 'failed', 'cancelled')
       AND (@owner IS NULL OR owner_id = @owner)
       AND (@services IS NULL OR service IN (SELECT value FROM json_each(@services)))
     ORDER BY finished_at DESC LIMIT @limit`,
  );
  return {
    finishedTasks: async (q: FinishedQuery): Promise<FinishedTaskRow[]> =>
      finished
        .all({
          since: q.since, until: q.until, owner: q.ownerId ?? null, services: q.services ? JSON.stringify(q.services) : null, limit: q.limit,
        })
        .map((r) => ({ state: r.state, createdAt: r.created_at, finishedAt: r.finished_at, price: r.price })),
  };
}
