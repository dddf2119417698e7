-- Tasks: the single source of truth for task state. Times are Unix milliseconds.
CREATE TABLE tasks (
  id               TEXT PRIMARY KEY,
  owner_id         TEXT NOT NULL,
  service          TEXT NOT NULL,
  dialect          TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  request          TEXT NOT NULL,            -- JSON: the body as the client sent it
  input            TEXT NOT NULL,            -- JSON: validated provider input
  output           TEXT,                     -- JSON: TaskOutput once succeeded
  error_code       TEXT,
  error_message    TEXT,
  trace_id         TEXT NOT NULL,
  callback_url     TEXT,
  progress         REAL,
  progress_message TEXT,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  run_after        INTEGER NOT NULL,
  deadline_at      INTEGER,
  lease_owner      TEXT,
  lease_expires_at INTEGER,
  attempts         INTEGER NOT NULL DEFAULT 0
);

-- Claiming: due queued tasks and expired running ones, per service.
CREATE INDEX tasks_claim ON tasks (service, state, run_after) WHERE state IN ('queued', 'running');
CREATE INDEX tasks_lease ON tasks (service, lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_owner ON tasks (owner_id, created_at);
