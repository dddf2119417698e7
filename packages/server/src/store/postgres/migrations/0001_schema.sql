-- taskgate on Postgres: the same tables as the SQLite store after its migration 0013, in one
-- step. Times are Unix milliseconds (BIGINT); JSON columns are text, written and read exactly as
-- the SQLite driver does (store/task-row.ts maps both). Partial indexes cover only live rows, so
-- finished history never slows claims, polls or deliveries down.

CREATE TABLE accounts (
  owner_id        TEXT PRIMARY KEY,
  name            TEXT NOT NULL DEFAULT '',
  created_at      BIGINT NOT NULL DEFAULT 0,
  disabled        BOOLEAN NOT NULL DEFAULT false,
  rate_limit_rps  INTEGER CHECK (rate_limit_rps IS NULL OR rate_limit_rps >= 1),
  max_concurrency INTEGER CHECK (max_concurrency IS NULL OR max_concurrency >= 1),
  balance         BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
  held            BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
  used            BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
  id               TEXT PRIMARY KEY,
  account_id       TEXT NOT NULL REFERENCES accounts (owner_id),
  name             TEXT NOT NULL,
  token_hash       TEXT NOT NULL UNIQUE,
  created_at       BIGINT NOT NULL,
  allowed_services TEXT NOT NULL DEFAULT '["*"]',
  expires_at       BIGINT,
  disabled         BOOLEAN NOT NULL DEFAULT false,
  rate_limit_rps   INTEGER CHECK (rate_limit_rps IS NULL OR rate_limit_rps >= 1)
);
CREATE INDEX tokens_account ON tokens (account_id, created_at);

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE tasks (
  id               TEXT PRIMARY KEY,
  owner_id         TEXT NOT NULL,
  service          TEXT NOT NULL,
  dialect          TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  request          TEXT NOT NULL,
  input            TEXT NOT NULL,
  output           TEXT,
  error_code       TEXT,
  error_message    TEXT,
  trace_id         TEXT NOT NULL,
  callback_url     TEXT,
  progress         DOUBLE PRECISION,
  progress_message TEXT,
  created_at       BIGINT NOT NULL,
  started_at       BIGINT,
  finished_at      BIGINT,
  run_after        BIGINT NOT NULL,
  deadline_at      BIGINT,
  lease_owner      TEXT,
  lease_expires_at BIGINT,
  attempts         INTEGER NOT NULL DEFAULT 0,
  meta             TEXT NOT NULL DEFAULT '{}',
  webhook_events   TEXT NOT NULL DEFAULT '["completed"]',
  origin           TEXT,
  price            BIGINT NOT NULL DEFAULT 0,
  follow_up        TEXT
);
CREATE INDEX tasks_claim ON tasks (service, state, run_after) WHERE state IN ('queued', 'running');
CREATE INDEX tasks_lease ON tasks (service, lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_owner_id ON tasks (owner_id, id);
CREATE INDEX tasks_owner_running ON tasks (owner_id, lease_expires_at) WHERE state = 'running';

CREATE TABLE task_logs (
  task_id TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  at      BIGINT NOT NULL,
  level   TEXT NOT NULL,
  message TEXT NOT NULL,
  PRIMARY KEY (task_id, seq)
);

CREATE TABLE task_files (
  owner_id TEXT NOT NULL,
  file_id  TEXT NOT NULL,
  task_id  TEXT NOT NULL REFERENCES tasks (id),
  PRIMARY KEY (owner_id, file_id)
);

CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY,
  task_id          TEXT NOT NULL,
  owner_id         TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  event            TEXT NOT NULL,
  url              TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'failed', 'superseded')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  BIGINT NOT NULL,
  lease_owner      TEXT,
  lease_expires_at BIGINT,
  payload          TEXT,
  created_at       BIGINT NOT NULL,
  finished_at      BIGINT,
  last_status      INTEGER,
  last_error       TEXT,
  UNIQUE (task_id, seq)
);
CREATE INDEX webhook_due ON webhook_deliveries (next_attempt_at) WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_owner ON webhook_deliveries (owner_id, task_id);

CREATE TABLE webhook_attempts (
  delivery_id TEXT NOT NULL,
  n           INTEGER NOT NULL,
  at          BIGINT NOT NULL,
  status_code INTEGER,
  latency_ms  INTEGER NOT NULL,
  error       TEXT,
  PRIMARY KEY (delivery_id, n)
);

CREATE TABLE webhook_secrets (
  owner_id   TEXT NOT NULL,
  secret     TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  PRIMARY KEY (owner_id, secret)
);

CREATE TABLE ledger (
  seq      BIGSERIAL PRIMARY KEY,
  owner_id TEXT NOT NULL,
  task_id  TEXT,
  kind     TEXT NOT NULL CHECK (kind IN ('hold', 'settle', 'refund', 'topup', 'adjust')),
  amount   BIGINT NOT NULL,
  reason   TEXT,
  at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX ledger_task_kind ON ledger (task_id, kind) WHERE task_id IS NOT NULL;
CREATE INDEX ledger_owner ON ledger (owner_id, seq);

CREATE TABLE idempotency_keys (
  owner_id     TEXT NOT NULL,
  key          TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  task_id      TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (owner_id, key)
);

CREATE TABLE upstream_tasks (
  task_id       TEXT PRIMARY KEY REFERENCES tasks (id),
  channel       TEXT NOT NULL,
  upstream_id   TEXT,
  urls          TEXT NOT NULL DEFAULT '{}',
  data          TEXT NOT NULL DEFAULT '{}',
  submitted_at  BIGINT NOT NULL,
  next_poll_at  BIGINT,
  polls         INTEGER NOT NULL DEFAULT 0,
  last_status   TEXT,
  last_progress DOUBLE PRECISION,
  woken         BOOLEAN NOT NULL DEFAULT false,
  poll_owner    TEXT
);
CREATE INDEX upstream_due ON upstream_tasks (channel, next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX upstream_poll_owner ON upstream_tasks (poll_owner) WHERE poll_owner IS NOT NULL;
