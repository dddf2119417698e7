-- Poll leases move from the task row to the upstream row. A claim sets poll_owner and pushes
-- next_poll_at to the lease's expiry (a visibility timeout: a dead poller's tasks come due again
-- by themselves); a recorded poll clears poll_owner and sets the real next poll. A poll that
-- did not end its task no longer writes the task row (or its lease indexes) at all; only the
-- poll that ends a task takes the task's own lease, for the usual compare-and-set finish.
ALTER TABLE upstream_tasks ADD COLUMN poll_owner TEXT;
CREATE INDEX upstream_poll_owner ON upstream_tasks (poll_owner) WHERE poll_owner IS NOT NULL;
