-- Scoped tokens: which services a token may use (a JSON array of glob patterns over service
-- names; '*' = all), when it expires (Unix ms; NULL = never), whether it is disabled, and its own
-- rate-limit and concurrency overrides (NULL = the gateway's defaults).
ALTER TABLE tokens ADD COLUMN allowed_services TEXT NOT NULL DEFAULT '["*"]';
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE tokens ADD COLUMN rate_limit_rps INTEGER CHECK (rate_limit_rps IS NULL OR rate_limit_rps >= 1);
ALTER TABLE tokens ADD COLUMN max_concurrency INTEGER CHECK (max_concurrency IS NULL OR max_concurrency >= 1);
-- A token's running tasks are counted at every claim when it has a concurrency limit.
CREATE INDEX tasks_owner_running ON tasks (owner_id, lease_expires_at) WHERE state = 'running';
