/**
 * Retention for the Postgres driver (TaskStore.purgeFinished): one transaction locks the oldest
 * finished tasks past the age (FOR UPDATE SKIP LOCKED: nodes purging at once take different
 * tasks, never wait for each other) and removes them with their dependent rows.
 */
import type { PurgedTask } from '../../core/ports.js';
import type { TaskOutput } from '../../core/types.js';
import { transaction, type Pool } from './db.js';

interface Candidate {
  id: string;
  owner_id: string;
  output: string | null;
}

export function createPgPurge(pool: Pool): (before: number, limit: number) => Promise<PurgedTask[]> {
  return (before, limit) =>
    transaction(pool, async (c) => {
      // An unfinished task's follow-up parent, and a task with a delivery still to make, stay.
      const { rows } = await c.query<Candidate>(
        `SELECT t.id, t.owner_id, t.output FROM tasks t
         WHERE t.finished_at < $1 AND t.state IN ('succeeded', 'failed', 'cancelled')
           AND t.id NOT IN (SELECT p.follow_up::jsonb #>> '{parent,taskId}' FROM tasks p
                            WHERE p.state IN ('queued', 'running') AND p.follow_up IS NOT NULL
                              AND (p.follow_up::jsonb #>> '{parent,taskId}') IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.id AND d.state IN ('pending', 'delivering'))
         ORDER BY t.finished_at LIMIT $2
         FOR UPDATE OF t SKIP LOCKED`,
        [before, limit],
      );
      if (rows.length === 0) return [];
      const ids = rows.map((r) => r.id);
      const files = new Map(rows.map((r) => [r.id, r.output === null ? [] : ((JSON.parse(r.output) as TaskOutput).files ?? [])]));
      for (const sql of [
        'DELETE FROM task_logs WHERE task_id = ANY($1::text[])',
        'DELETE FROM task_files WHERE task_id = ANY($1::text[])',
        'DELETE FROM idempotency_keys WHERE task_id = ANY($1::text[])',
        'DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE task_id = ANY($1::text[]))',
        'DELETE FROM webhook_deliveries WHERE task_id = ANY($1::text[])',
        'DELETE FROM upstream_tasks WHERE task_id = ANY($1::text[])',
      ]) {
        await c.query(sql, [ids]);
      }
      const removed = await c.query<{ id: string }>('DELETE FROM tasks WHERE id = ANY($1::text[]) RETURNING id', [ids]);
      return removed.rows.map((r) => ({ id: r.id, files: files.get(r.id) ?? [] }));
    });
}
