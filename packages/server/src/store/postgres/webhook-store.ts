/**
 * The Postgres driver of the WebhookStore contract, and the outbox writer the task store calls
 * inside its own transitions (so a delivery row commits with the state change it announces).
 * Several gateway nodes claim from one table: claims lock the rows they take with
 * FOR UPDATE SKIP LOCKED, so two nodes never take the same delivery and neither waits for the other.
 */
import { v7 as uuidv7 } from 'uuid';
import type { WebhookStore } from '../../core/ports.js';
import { toAttempt, toDelivery, type AttemptRow, type DeliveryRow } from '../rows.js';
import { transaction, type Pool } from './db.js';
import type { PgOutbox, Queryable } from './parts.js';

export function createPgOutbox(): PgOutbox {
  return {
    async enqueue(c, task, event, now) {
      if (task.callbackUrl === null || !task.webhookEvents.includes(event)) return;
      const taskId = task.id;
      const id = `msg_${uuidv7()}`;
      // The task row is locked by the caller's transition, so the next seq of its deliveries is stable.
      const inserted = await c.query(
        `INSERT INTO webhook_deliveries (id, task_id, owner_id, seq, event, url, state, next_attempt_at, created_at)
         SELECT $1, t.id, t.owner_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM webhook_deliveries WHERE task_id = t.id),
                $3, t.callback_url, 'pending', $4, $4
         FROM tasks t
         WHERE t.id = $2 AND t.callback_url IS NOT NULL AND (t.webhook_events::jsonb) ? $3`,
        [id, taskId, event, now],
      );
      if (inserted.rowCount === 1) {
        await c.query(
          `UPDATE webhook_deliveries SET state = 'superseded', finished_at = $3 WHERE task_id = $2 AND state = 'pending' AND id <> $1`,
          [id, taskId, now],
        );
      }
    },
  };
}

/**
 * Due deliveries, oldest due first, each only if no earlier delivery of its task is pending or in
 * flight (a task's events go out in order). Rows another node is claiming right now are skipped,
 * not waited for; a row it committed meanwhile is re-checked against the conditions before it is
 * taken. `state IN (…)` repeats webhook_due's predicate so the partial index serves the scan.
 * Ties sort by id bytewise (COLLATE "C", as SQLite's BINARY), whatever the database's collation.
 */
const CLAIM = `
  WITH due AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.state IN ('pending', 'delivering')
      AND ((d.state = 'pending' AND d.next_attempt_at <= $2) OR (d.state = 'delivering' AND d.lease_expires_at <= $2))
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                      WHERE e.task_id = d.task_id AND e.seq < d.seq AND e.state IN ('pending', 'delivering'))
    ORDER BY d.next_attempt_at, d.created_at, d.id COLLATE "C" LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
  ), taken AS (
    UPDATE webhook_deliveries w SET state = 'delivering', lease_owner = $1, lease_expires_at = $3
    FROM due WHERE w.id = due.id
    RETURNING w.*
  )
  SELECT * FROM taken ORDER BY next_attempt_at, created_at, id COLLATE "C"`;

/** Applies an attempt's outcome (if the worker still holds the delivery) and logs it, in one statement. */
const RECORD_ATTEMPT = `
  WITH settled AS (
    UPDATE webhook_deliveries SET attempts = attempts + 1, state = $3::text,
      next_attempt_at = COALESCE($4::bigint, next_attempt_at),
      finished_at = CASE WHEN $3::text IN ('delivered', 'failed') THEN $5::bigint ELSE NULL END,
      last_status = $6::integer, last_error = $7::text, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND state = 'delivering' AND lease_owner = $2
    RETURNING *
  ), logged AS (
    INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_ms, error)
    SELECT id, attempts, $8::bigint, $6::integer, $9::integer, $7::text FROM settled
  )
  SELECT * FROM settled`;

/** Deliveries with their attempts, read in one statement (one snapshot). */
const WITH_LOG = `d.*, COALESCE((
    SELECT json_agg(json_build_object('n', a.n, 'at', a.at, 'status_code', a.status_code, 'latency_ms', a.latency_ms, 'error', a.error) ORDER BY a.n)
    FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::json) AS log`;
const LIST_ORDER = 'ORDER BY d.created_at DESC, d.seq DESC, d.id COLLATE "C" DESC';

/**
 * Requeues a delivery that is neither in flight nor superseded; otherwise returns it unchanged.
 * One statement: the fallback read sees the row as it was, used only when nothing was updated.
 */
const REDELIVER = `
  WITH requeued AS (
    UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $3, finished_at = NULL
    WHERE id = $1 AND owner_id = $2 AND state NOT IN ('delivering', 'superseded')
    RETURNING *
  )
  SELECT * FROM requeued
  UNION ALL
  SELECT * FROM webhook_deliveries WHERE id = $1 AND owner_id = $2 AND NOT EXISTS (SELECT 1 FROM requeued)`;

/** The advisory lock namespace of an owner's secrets (two-key locks: this, and the owner id's hash). */
const SECRETS_LOCK = 725_141_301;

/** Serialises secret changes of one owner until the transaction ends (first use vs first use, vs rotation). */
async function lockSecrets(c: Queryable, ownerId: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SECRETS_LOCK, ownerId]);
}

export function createPostgresWebhookStore(pool: Pool): WebhookStore {
  return {
    async claimDeliveries({ workerId, now, leaseMs, max }) {
      if (max <= 0) return [];
      const { rows } = await pool.query<DeliveryRow>(CLAIM, [workerId, now, now + leaseMs, max]);
      return rows.map(toDelivery);
    },

    async setPayload(id, workerId, payload) {
      const r = await pool.query(
        `UPDATE webhook_deliveries SET payload = $1 WHERE id = $2 AND state = 'delivering' AND lease_owner = $3 AND payload IS NULL`,
        [payload, id, workerId],
      );
      return r.rowCount === 1;
    },

    async extendDeliveryLeases(ids, workerId, until) {
      if (ids.length === 0) return [];
      const { rows } = await pool.query<{ id: string }>(
        `UPDATE webhook_deliveries SET lease_expires_at = $1
         WHERE id = ANY($2::text[]) AND state = 'delivering' AND lease_owner = $3 RETURNING id`,
        [until, [...ids], workerId],
      );
      return rows.map((r) => r.id);
    },

    async recordAttempt(id, workerId, a, o) {
      const { rows } = await pool.query<DeliveryRow>(RECORD_ATTEMPT, [
        id, workerId, o.state, o.state === 'pending' ? o.retryAt : null, a.at + a.latencyMs, a.statusCode, a.error, a.at, a.latencyMs,
      ]);
      const row = rows[0];
      return row ? toDelivery(row) : null;
    },

    async listDeliveries(ownerId, { taskId, limit }) {
      const { rows } = taskId === undefined
        ? await pool.query<DeliveryRow & { log: AttemptRow[] }>(
          `SELECT ${WITH_LOG} FROM webhook_deliveries d WHERE d.owner_id = $1 ${LIST_ORDER} LIMIT $2`, [ownerId, limit])
        : await pool.query<DeliveryRow & { log: AttemptRow[] }>(
          `SELECT ${WITH_LOG} FROM webhook_deliveries d WHERE d.owner_id = $1 AND d.task_id = $2 ${LIST_ORDER} LIMIT $3`, [ownerId, taskId, limit]);
      return rows.map((r) => ({ ...toDelivery(r), log: r.log.map(toAttempt) }));
    },

    async redeliver(ownerId, id, now) {
      const { rows } = await pool.query<DeliveryRow>(REDELIVER, [id, ownerId, now]);
      const row = rows[0];
      return row ? toDelivery(row) : null;
    },

    async activeSecrets(ownerId, now) {
      const { rows } = await pool.query<{ secret: string }>(
        `SELECT secret FROM webhook_secrets WHERE owner_id = $1 AND (expires_at IS NULL OR expires_at > $2)
         ORDER BY created_at DESC, secret COLLATE "C"`,
        [ownerId, now],
      );
      return rows.map((r) => r.secret);
    },

    async addSecret(ownerId, secret, now, retireAt) {
      await transaction(pool, async (c) => {
        await lockSecrets(c, ownerId);
        await c.query('UPDATE webhook_secrets SET expires_at = $1 WHERE owner_id = $2 AND (expires_at IS NULL OR expires_at > $1)', [retireAt, ownerId]);
        await c.query('INSERT INTO webhook_secrets (owner_id, secret, created_at) VALUES ($1, $2, $3)', [ownerId, secret, now]);
      });
    },

    async ensureSecret(ownerId, secret, now) {
      // Under the owner's lock, the insert's statement (a fresh snapshot in READ COMMITTED) sees
      // any secret a racing first use committed before it: only one of them inserts.
      await transaction(pool, async (c) => {
        await lockSecrets(c, ownerId);
        await c.query(
          `INSERT INTO webhook_secrets (owner_id, secret, created_at)
           SELECT $1, $2, $3 WHERE NOT EXISTS (
             SELECT 1 FROM webhook_secrets WHERE owner_id = $1 AND (expires_at IS NULL OR expires_at > $3))`,
          [ownerId, secret, now],
        );
      });
    },

    async releaseDeliveryLeases(workerIds) {
      if (workerIds.length === 0) return 0;
      const r = await pool.query(
        `UPDATE webhook_deliveries SET lease_expires_at = 0
         WHERE state IN ('pending', 'delivering') AND state = 'delivering' AND lease_owner = ANY($1::text[])`,
        [[...workerIds]],
      );
      return r.rowCount ?? 0;
    },

    async deliveryLeaseOwners() {
      const { rows } = await pool.query<{ lease_owner: string }>(
        `SELECT DISTINCT lease_owner FROM webhook_deliveries
         WHERE state IN ('pending', 'delivering') AND state = 'delivering' AND lease_owner IS NOT NULL`,
      );
      return rows.map((r) => r.lease_owner);
    },
  };
}
