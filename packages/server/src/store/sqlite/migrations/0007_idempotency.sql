-- Idempotency keys: a create retried with the same key (same token, within 24 h) returns the
-- task the first attempt created instead of creating and charging a second one.
CREATE TABLE idempotency_keys (
  owner_id     TEXT NOT NULL,
  key          TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  task_id      TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (owner_id, key)
) WITHOUT ROWID;
