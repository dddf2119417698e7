-- Webhooks: which events a task's callback wants, the base URL its client used (file URLs in
-- payloads), the delivery outbox (written in the same transaction as the state change), every
-- attempt, and each owner's signing secrets (two are active during a rotation).
ALTER TABLE tasks ADD COLUMN webhook_events TEXT NOT NULL DEFAULT '["completed"]';
ALTER TABLE tasks ADD COLUMN origin TEXT;

CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY,   -- the Standard Webhooks webhook-id, stable across retries
  task_id          TEXT NOT NULL,
  owner_id         TEXT NOT NULL,
  seq              INTEGER NOT NULL,   -- order of this task's deliveries
  event            TEXT NOT NULL,      -- start | progress | completed
  url              TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'failed', 'superseded')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL,
  lease_owner      TEXT,
  lease_expires_at INTEGER,
  payload          TEXT,               -- rendered at the first attempt, resent verbatim on retries
  created_at       INTEGER NOT NULL,
  finished_at      INTEGER,
  last_status      INTEGER,
  last_error       TEXT,
  UNIQUE (task_id, seq)
);
CREATE INDEX webhook_due ON webhook_deliveries (next_attempt_at) WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_owner ON webhook_deliveries (owner_id, task_id);

CREATE TABLE webhook_attempts (
  delivery_id TEXT NOT NULL,
  n           INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  status_code INTEGER,
  latency_ms  INTEGER NOT NULL,
  error       TEXT,
  PRIMARY KEY (delivery_id, n)
) WITHOUT ROWID;

CREATE TABLE webhook_secrets (
  owner_id   TEXT NOT NULL,
  secret     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,                  -- set when rotated out; signing uses it until then
  PRIMARY KEY (owner_id, secret)
) WITHOUT ROWID;
