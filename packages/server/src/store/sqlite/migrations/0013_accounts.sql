-- Accounts apart from tokens. An account (the row that already held each owner's credits) now
-- also has a name, a creation time, a disabled flag and the limits that apply to all its tokens;
-- a token belongs to one account. Tasks, the ledger, idempotency keys and webhook secrets keep
-- their owner_id, which is an account id from now on.
--
-- Existing data: every token becomes an account with the same id (so every owner_id already
-- stored stays valid, nothing is rewritten) holding that one token; its running-task cap moves to
-- the account (tokens.max_concurrency is no longer read). Its request rate stays on the token.
ALTER TABLE accounts ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE accounts ADD COLUMN rate_limit_rps INTEGER CHECK (rate_limit_rps IS NULL OR rate_limit_rps >= 1);
ALTER TABLE accounts ADD COLUMN max_concurrency INTEGER CHECK (max_concurrency IS NULL OR max_concurrency >= 1);

INSERT INTO accounts (owner_id, name, created_at, max_concurrency)
  SELECT id, name, created_at, max_concurrency FROM tokens WHERE true
  ON CONFLICT (owner_id) DO UPDATE SET name = excluded.name, created_at = excluded.created_at, max_concurrency = excluded.max_concurrency;

ALTER TABLE tokens ADD COLUMN account_id TEXT REFERENCES accounts (owner_id);
UPDATE tokens SET account_id = id;
CREATE INDEX tokens_account ON tokens (account_id, created_at);
