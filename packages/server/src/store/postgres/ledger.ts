/**
 * The credit ledger of the Postgres store. `hold`, `settle` and `refund` run inside the task
 * store's transactions (insert, finish, terminate), so a charge never drifts from the task state
 * it belongs to; the LedgerStore serves the account APIs.
 */
import { GatewayError } from '../../core/errors.js';
import type { LedgerStore } from '../../core/ports.js';
import type { Pool } from './db.js';
import type { PgTaskLedger } from './parts.js';

export function createPgTaskLedger(): PgTaskLedger {
  return {
    async hold(c, ownerId, taskId, price, now) {
      if (price <= 0) return;
      await c.query('INSERT INTO accounts (owner_id) VALUES ($1) ON CONFLICT (owner_id) DO NOTHING', [ownerId]);
      const taken = await c.query('UPDATE accounts SET balance = balance - $1, held = held + $1 WHERE owner_id = $2 AND balance >= $1', [price, ownerId]);
      if (taken.rowCount !== 1) {
        const row = await c.query<{ balance: number }>('SELECT balance FROM accounts WHERE owner_id = $1', [ownerId]);
        throw new GatewayError('used_up', `Balance exhausted: this task costs ${price} credits, the balance is ${row.rows[0]?.balance ?? 0}`);
      }
      await c.query(`INSERT INTO ledger (owner_id, task_id, kind, amount, at) VALUES ($1, $2, 'hold', $3, $4)`, [ownerId, taskId, -price, now]);
    },
    async settle(c, ownerId, taskId, price, now) {
      if (price <= 0) return;
      await c.query('UPDATE accounts SET held = held - $1, used = used + $1 WHERE owner_id = $2', [price, ownerId]);
      await c.query(`INSERT INTO ledger (owner_id, task_id, kind, amount, at) VALUES ($1, $2, 'settle', 0, $3)`, [ownerId, taskId, now]);
    },
    async refund(c, ownerId, taskId, price, now) {
      if (price <= 0) return;
      await c.query('UPDATE accounts SET held = held - $1, balance = balance + $1 WHERE owner_id = $2', [price, ownerId]);
      await c.query(`INSERT INTO ledger (owner_id, task_id, kind, amount, at) VALUES ($1, $2, 'refund', $3, $4)`, [ownerId, taskId, price, now]);
    },
  };
}

export function createPostgresLedgerStore(_pool: Pool): LedgerStore {
  throw new Error('not implemented yet');
}
