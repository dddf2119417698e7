/**
 * The Postgres driver of the WebhookStore contract, and the outbox writer the task store calls
 * inside its own transitions (so a delivery row commits with the state change it announces).
 */
import { v7 as uuidv7 } from 'uuid';
import type { WebhookStore } from '../../core/ports.js';
import type { Pool } from './db.js';
import type { PgOutbox } from './parts.js';

export function createPgOutbox(): PgOutbox {
  return {
    async enqueue(c, taskId, event, now) {
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

export function createPostgresWebhookStore(_pool: Pool): WebhookStore {
  throw new Error('not implemented yet');
}
