/**
 * Retention for the SQLite driver (TaskStore.purgeFinished): one transaction finds the oldest
 * finished tasks past the age and removes them with their dependent rows. SQLite writes one
 * transaction at a time, so two processes sharing the file never remove the same task twice.
 */
import type { PurgedTask } from '../../core/ports.js';
import type { TaskOutput } from '../../core/types.js';
import type { Db } from './db.js';

interface Candidate {
  id: string;
  owner_id: string;
  output: string | null;
}

export function createPurge(db: Db, forget: (id: string) => void): (before: number, limit: number) => PurgedTask[] {
  // An unfinished task's follow-up parent, and a task with a delivery still to make, stay.
  const candidates = db.prepare<[number, number], Candidate>(
    `SELECT t.id, t.owner_id, t.output FROM tasks t
     WHERE t.finished_at < ? AND t.state IN ('succeeded', 'failed', 'cancelled')
       AND t.id NOT IN (SELECT json_extract(c.follow_up, '$.parent.taskId') FROM tasks c
                        WHERE c.state IN ('queued', 'running') AND json_extract(c.follow_up, '$.parent.taskId') IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.owner_id = t.owner_id AND d.task_id = t.id
                         AND d.state IN ('pending', 'delivering'))
     ORDER BY t.finished_at LIMIT ?`,
  );
  const statements = [
    'DELETE FROM task_logs WHERE task_id = @id',
    'DELETE FROM task_files WHERE task_id = @id',
    'DELETE FROM idempotency_keys WHERE task_id = @id',
    'DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE owner_id = @owner AND task_id = @id)',
    'DELETE FROM webhook_deliveries WHERE owner_id = @owner AND task_id = @id',
    'DELETE FROM upstream_tasks WHERE task_id = @id',
  ].map((sql) => db.prepare<[{ id: string; owner: string }]>(sql));
  const removeTask = db.prepare<[string]>('DELETE FROM tasks WHERE id = ?');
  const purge = db.transaction((before: number, limit: number): PurgedTask[] => {
    const removed: PurgedTask[] = [];
    for (const row of candidates.all(before, limit)) {
      const files = row.output === null ? [] : ((JSON.parse(row.output) as TaskOutput).files ?? []);
      for (const statement of statements) statement.run({ id: row.id, owner: row.owner_id });
      if (removeTask.run(row.id).changes === 0) continue;
      removed.push({ id: row.id, files });
    }
    return removed;
  });
  return (before, limit) => {
    const removed = purge.immediate(before, limit);
    for (const { id } of removed) forget(id);
    return removed;
  };
}
