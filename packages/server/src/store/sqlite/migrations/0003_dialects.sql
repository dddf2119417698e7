-- Dialect extras per task (webhook filters, request types …), provider log lines (the queue
-- dialect's `logs`), and owner listing in id order (ids are UUID v7, so id order is time order).
ALTER TABLE tasks ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';

CREATE INDEX tasks_owner_id ON tasks (owner_id, id);

CREATE TABLE task_logs (
  task_id  TEXT NOT NULL,
  seq      INTEGER NOT NULL,
  at       INTEGER NOT NULL,
  level    TEXT NOT NULL,
  message  TEXT NOT NULL,
  PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
