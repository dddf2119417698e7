-- A callback that arrives while its task is being polled: the poll in flight may have been
-- answered before the upstream finished, so its answer must not push the next poll a whole
-- interval away. pollNow sets woken; a claim clears it; recordPoll makes the next poll due at
-- once when it was set meanwhile.
ALTER TABLE upstream_tasks ADD COLUMN woken INTEGER NOT NULL DEFAULT 0;
