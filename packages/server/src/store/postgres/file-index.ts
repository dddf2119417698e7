/**
 * The output files of succeeded tasks by owner and file id (`task_files`), for follow-ups, as in
 * the SQLite driver: the task store records a task's files in the transaction that finishes it,
 * and a follow-up finds the task again by (owner, file) — another owner's file id is a miss
 * exactly like an unknown one.
 */
import type { Task } from '../../core/types.js';
import type { TaskRow } from '../task-row.js';
import type { Queryable } from './parts.js';

/** Records a succeeded task's output files (call inside the finishing transaction). */
export async function recordFiles(c: Queryable, task: Task): Promise<void> {
  const ids = (task.output?.files ?? []).map((f) => f.id).filter((id): id is string => typeof id === 'string');
  if (ids.length === 0) return;
  await c.query(
    `INSERT INTO task_files (owner_id, file_id, task_id) SELECT $1, f, $2 FROM unnest($3::text[]) AS f ON CONFLICT DO NOTHING`,
    [task.ownerId, task.id, ids],
  );
}

/** The owner's succeeded task that produced `fileId` (one primary-key lookup and the task's row). */
export async function taskOfFile(c: Queryable, ownerId: string, fileId: string): Promise<TaskRow | undefined> {
  const r = await c.query<TaskRow>(
    `SELECT t.* FROM task_files f JOIN tasks t ON t.id = f.task_id
     WHERE f.owner_id = $1 AND f.file_id = $2 AND t.owner_id = $1 AND t.state = 'succeeded'`,
    [ownerId, fileId],
  );
  return r.rows[0];
}
