/**
 * The SQLite driver of the WebhookStore contract, and the outbox writer the task store calls
 * inside its own transitions (so a delivery row commits with the state change it announces).
 */
import { v7 as uuidv7 } from 'uuid';
import type { AttemptOutcome, WebhookStore } from '../../core/ports.js';
import type { DeliveryAttempt, WebhookDelivery, WebhookEvent } from '../../core/types.js';
import { toAttempt, toDelivery, type AttemptRow, type DeliveryRow } from '../rows.js';
import type { Db } from './db.js';

export interface Outbox {
  /**
   * Queues `event` for the task's callback (if it has one and wants the event), superseding the
   * task's older pending deliveries. Call inside the transaction of the state change.
   */
  enqueue(taskId: string, event: WebhookEvent, now: number): void;
}

export function createOutbox(db: Db): Outbox {
  const insert = db.prepare<[{ id: string; task: string; event: string; now: number }]>(
    `INSERT INTO webhook_deliveries (id, task_id, owner_id, seq, event, url, state, next_attempt_at, created_at)
     SELECT @id, t.id, t.owner_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM webhook_deliveries WHERE task_id = t.id),
            @event, t.callback_url, 'pending', @now, @now
     FROM tasks t
     WHERE t.id = @task AND t.callback_url IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(t.webhook_events) WHERE value = @event)`,
  );
  const supersede = db.prepare<[{ id: string; task: string; now: number }]>(
    `UPDATE webhook_deliveries SET state = 'superseded', finished_at = @now
     WHERE task_id = @task AND state = 'pending' AND id <> @id`,
  );
  return {
    enqueue(taskId, event, now) {
      const id = `msg_${uuidv7()}`;
      if (insert.run({ id, task: taskId, event, now }).changes === 1) supersede.run({ id, task: taskId, now });
    },
  };
}

export function createSqliteWebhookStore(db: Db): WebhookStore {
  const due = db.prepare<[{ now: number; max: number }], DeliveryRow>(
    // `state IN (…)` repeats webhook_due's condition so SQLite reads that partial index (live
    // deliveries only) instead of scanning every delivery ever made.
    `SELECT * FROM webhook_deliveries d
     WHERE d.state IN ('pending', 'delivering')
       AND ((d.state = 'pending' AND d.next_attempt_at <= @now) OR (d.state = 'delivering' AND d.lease_expires_at <= @now))
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                       WHERE e.task_id = d.task_id AND e.seq < d.seq AND e.state IN ('pending', 'delivering'))
     ORDER BY d.next_attempt_at, d.created_at LIMIT @max`,
  );
  const take = db.prepare<[{ owner: string; until: number; id: string; state: string }], DeliveryRow>(
    `UPDATE webhook_deliveries SET state = 'delivering', lease_owner = @owner, lease_expires_at = @until
     WHERE id = @id AND state = @state RETURNING *`,
  );
  const setPayload = db.prepare<[string, string, string]>(
    `UPDATE webhook_deliveries SET payload = ? WHERE id = ? AND state = 'delivering' AND lease_owner = ? AND payload IS NULL`,
  );
  const extend = db
    .prepare<[number, string, string], string>(
      `UPDATE webhook_deliveries SET lease_expires_at = ?
       WHERE id IN (SELECT value FROM json_each(?)) AND state = 'delivering' AND lease_owner = ? RETURNING id`,
    )
    .pluck();
  const settle = db.prepare<
    [{ id: string; owner: string; state: string; retryAt: number | null; now: number; status: number | null; error: string | null }],
    DeliveryRow
  >(
    `UPDATE webhook_deliveries SET attempts = attempts + 1, state = @state,
       next_attempt_at = COALESCE(@retryAt, next_attempt_at),
       finished_at = CASE WHEN @state IN ('delivered', 'failed') THEN @now ELSE NULL END,
       last_status = @status, last_error = @error, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = @id AND state = 'delivering' AND lease_owner = @owner RETURNING *`,
  );
  const logAttempt = db.prepare<[string, number, number, number | null, number, string | null]>(
    'INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const list = db.prepare<[{ owner: string; task: string | null; limit: number }], DeliveryRow>(
    `SELECT * FROM webhook_deliveries WHERE owner_id = @owner AND (@task IS NULL OR task_id = @task)
     ORDER BY created_at DESC, seq DESC, id DESC LIMIT @limit`,
  );
  const attemptsOf = db.prepare<[string], AttemptRow>('SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY n');
  const requeue = db.prepare<[{ id: string; owner: string; now: number }], DeliveryRow>(
    `UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = @now, finished_at = NULL
     WHERE id = @id AND owner_id = @owner AND state NOT IN ('delivering', 'superseded') RETURNING *`,
  );
  const byIdOwner = db.prepare<[string, string], DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = ? AND owner_id = ?');
  const secrets = db
    .prepare<[string, number], string>(
      `SELECT secret FROM webhook_secrets WHERE owner_id = ? AND (expires_at IS NULL OR expires_at > ?)
       ORDER BY created_at DESC, secret`,
    )
    .pluck();
  const retire = db.prepare<[number, string, number]>(
    `UPDATE webhook_secrets SET expires_at = ? WHERE owner_id = ? AND (expires_at IS NULL OR expires_at > ?)`,
  );
  const addSecret = db.prepare<[string, string, number]>('INSERT INTO webhook_secrets (owner_id, secret, created_at) VALUES (?, ?, ?)');
  const ensure = db.prepare<[{ owner: string; secret: string; now: number }]>(
    `INSERT INTO webhook_secrets (owner_id, secret, created_at)
     SELECT @owner, @secret, @now WHERE NOT EXISTS (
       SELECT 1 FROM webhook_secrets WHERE owner_id = @owner AND (expires_at IS NULL OR expires_at > @now))`,
  );
  const release = db.prepare<[string]>(
    `UPDATE webhook_deliveries SET lease_expires_at = 0
     WHERE state IN ('pending', 'delivering') AND state = 'delivering' AND lease_owner IN (SELECT value FROM json_each(?))`,
  );

  const leaseOwners = db
    .prepare<[], string>(
      `SELECT DISTINCT lease_owner FROM webhook_deliveries
       WHERE state IN ('pending', 'delivering') AND state = 'delivering' AND lease_owner IS NOT NULL`,
    )
    .pluck();

  const claimTx = db.transaction((workerId: string, now: number, leaseMs: number, max: number): WebhookDelivery[] =>
    due.all({ now, max }).flatMap((row) => take.all({ owner: workerId, until: now + leaseMs, id: row.id, state: row.state }).map(toDelivery)),
  );
  const attemptTx = db.transaction((id: string, workerId: string, a: DeliveryAttempt, o: AttemptOutcome): WebhookDelivery | null => {
    const row = settle.all({
      id, owner: workerId, state: o.state, retryAt: o.state === 'pending' ? o.retryAt : null, now: a.at + a.latencyMs,
      status: a.statusCode, error: a.error,
    })[0];
    if (!row) return null;
    logAttempt.run(id, row.attempts, a.at, a.statusCode, a.latencyMs, a.error);
    return toDelivery(row);
  });
  const secretTx = db.transaction((ownerId: string, secret: string, now: number, retireAt: number) => {
    retire.run(retireAt, ownerId, retireAt);
    addSecret.run(ownerId, secret, now);
  });

  return {
    claimDeliveries: async ({ workerId, now, leaseMs, max }) => claimTx.immediate(workerId, now, leaseMs, max),
    setPayload: async (id, workerId, payload) => setPayload.run(payload, id, workerId).changes === 1,
    extendDeliveryLeases: async (ids, workerId, until) => (ids.length ? extend.all(until, JSON.stringify(ids), workerId) : []),
    recordAttempt: async (id, workerId, attempt, outcome) => attemptTx.immediate(id, workerId, attempt, outcome),
    listDeliveries: async (ownerId, { taskId, limit }) =>
      list.all({ owner: ownerId, task: taskId ?? null, limit }).map((r) => ({ ...toDelivery(r), log: attemptsOf.all(r.id).map(toAttempt) })),
    redeliver: async (ownerId, id, now) => {
      const row = requeue.all({ id, owner: ownerId, now })[0] ?? byIdOwner.get(id, ownerId);
      return row ? toDelivery(row) : null;
    },
    activeSecrets: async (ownerId, now) => secrets.all(ownerId, now),
    addSecret: async (ownerId, secret, now, retireAt) => secretTx.immediate(ownerId, secret, now, retireAt),
    ensureSecret: async (ownerId, secret, now) => void ensure.run({ owner: ownerId, secret, now }),
    releaseDeliveryLeases: async (workerIds) => (workerIds.length ? release.run(JSON.stringify(workerIds)).changes : 0),
    deliveryLeaseOwners: async () => leaseOwners.all(),
  };
}
