/**
 * The output files of succeeded tasks by owner and file id (`task_files`, migration 0010), for
 * follow-ups: the task store records a task's files in the transaction that finishes it, and
 * `taskOf` finds the task again with one primary-key lookup on (owner, file). Another owner's file
 * id is a miss exactly like an unknown one.
 */
import type { Task } from '../../core/types.js';
import type { Db } from './db.js';

export interface FileIndex {
  /** Records a succeeded task's output files (inside the finishing transaction). */
  record(task: Task): void;
  /** The id of the owner's task that produced `fileId`, or null. */
  taskOf(ownerId: string, fileId: string): string | null;
}

export function createFileIndex(db: Db): FileIndex {
  const add = db.prepare<[string, string, string]>('INSERT OR IGNORE INTO task_files (owner_id, file_id, task_id) VALUES (?, ?, ?)');
  const find = db.prepare<[string, string], string>('SELECT task_id FROM task_files WHERE owner_id = ? AND file_id = ?').pluck();
  return {
    record(task) {
      for (const file of task.output?.files ?? []) add.run(task.ownerId, file.id, task.id);
    },
    taskOf: (ownerId, fileId) => find.get(ownerId, fileId) ?? null,
  };
}
