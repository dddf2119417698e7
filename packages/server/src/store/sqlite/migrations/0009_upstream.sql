-- Tasks relayed to an upstream platform: the upstream side of each, kept durably so a task
-- submitted upstream is resumed by its upstream id after any restart and never submitted twice.
-- The poll lease is the task's own lease (tasks.lease_owner / lease_expires_at), so a terminal
-- poll result passes the same compare-and-set as a local run. Times are Unix milliseconds.
CREATE TABLE upstream_tasks (
  task_id       TEXT PRIMARY KEY REFERENCES tasks (id),
  channel       TEXT NOT NULL,
  upstream_id   TEXT,                         -- NULL: a submit began and its answer was never stored
  urls          TEXT NOT NULL DEFAULT '{}',   -- JSON: the URLs the upstream handed out
  data          TEXT NOT NULL DEFAULT '{}',   -- JSON: protocol-specific state
  submitted_at  INTEGER NOT NULL,
  next_poll_at  INTEGER,                      -- NULL once the task has ended
  polls         INTEGER NOT NULL DEFAULT 0,
  last_status   TEXT,
  last_progress REAL
);

-- Due polls: only live rows are indexed, so finished history never slows the scheduler down.
CREATE INDEX upstream_due ON upstream_tasks (channel, next_poll_at) WHERE next_poll_at IS NOT NULL;
