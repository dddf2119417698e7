-- Credits: each owner's account (available balance, amount held by unfinished tasks, amount
-- used) and the ledger of every change. A task's hold, settle and refund are written in the same
-- transaction as its state change; the unique (task, kind) index makes a second settle or refund
-- of one task impossible even if a bug tried.
CREATE TABLE accounts (
  owner_id TEXT PRIMARY KEY,
  balance  INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
  held     INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
  used     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE ledger (
  seq      INTEGER PRIMARY KEY AUTOINCREMENT,
  owner_id TEXT NOT NULL,
  task_id  TEXT,
  kind     TEXT NOT NULL CHECK (kind IN ('hold', 'settle', 'refund', 'topup', 'adjust')),
  amount   INTEGER NOT NULL,           -- change to the available balance (settle: 0, hold → used)
  reason   TEXT,
  at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX ledger_task_kind ON ledger (task_id, kind) WHERE task_id IS NOT NULL;
CREATE INDEX ledger_owner ON ledger (owner_id, seq);

ALTER TABLE tasks ADD COLUMN price INTEGER NOT NULL DEFAULT 0;
