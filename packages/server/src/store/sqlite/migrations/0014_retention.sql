-- Retention (the background job removing old finished tasks): finished tasks by when they
-- finished, oldest first; a task's idempotency keys and file index rows, removed with it (the
-- latter also checked by the foreign key when a task row goes).
CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX idempotency_task ON idempotency_keys (task_id);
CREATE INDEX task_files_task ON task_files (task_id);
