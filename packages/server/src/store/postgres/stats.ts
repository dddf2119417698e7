/**
 * The Postgres driver of the StatsStore (core/stats.ts): finished tasks in a time range over the
 * partial `tasks_finished` index (`finished_at`), only the four columns the charts need.
 */
import type { FinishedQuery, FinishedTaskRow, StatsStore } from '../../core/stats.js';
import type { TerminalState } from '../../core/types.js';
import type { Pool } from './db.js';

interface Row {
  state: TerminalState;
  created_at: number;
  finished_at: number;
  price: number;
}

export function createPostgresStatsStore(pool: Pool): StatsStore {
  return {
    async finishedTasks(q: FinishedQuery): Promise<FinishedTaskRow[]> {
      const params: Array<number | string | readonly string[]> = [q.since, q.until, q.limit];
      let where = `finished_at >= $1 AND finished_at < $2 AND state IN ('succeeded', 'failed', 'cancelled')`;
      if (q.ownerId !== undefined) {
        params.push(q.ownerId);
        where += ` AND owner_id = $${params.length}`;
      }
      if (q.services !== undefined) {
        params.push(q.services);
        where += ` AND service = ANY($${params.length}::text[])`;
      }
      const { rows } = await pool.query<Row>(
        `SELECT state, created_at, finished_at, price FROM tasks WHERE ${where} ORDER BY finished_at DESC LIMIT $3`,
        params,
      );
      return rows.map((r) => ({ state: r.state, createdAt: r.created_at, finishedAt: r.finished_at, price: r.price }));
    },
  };
}
