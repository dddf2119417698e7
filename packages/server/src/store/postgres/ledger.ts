/**
 * The credit ledger of the Postgres store. `hold`, `settle` and `refund` run inside the task
 * store's transactions (insert, finish, terminate), so a charge never drifts from the task state
 * it belongs to; the LedgerStore serves the account APIs.
 */
import { GatewayError } from '../../core/errors.js';
import type { Account, LedgerStore } from '../../core/ports.js';
import { toEntry, type EntryRow } from '../rows.js';
import { transaction, type Pool } from './db.js';
import type { PgTaskLedger, Queryable } from './parts.js';


/** The owner's credits; zeros for an owner that has no account row yet. */
async function readAccount(c: Queryable, ownerId: string): Promise<Account> {
  const { rows } = await c.query<{ balance: number; held: number; used: number }>(
    'SELECT balance, held, used FROM accounts WHERE owner_id = $1',
    [ownerId],
  );
  return { ownerId, ...(rows[0] ?? { balance: 0, held: 0, used: 0 }) };
}

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

export function createPostgresLedgerStore(pool: Pool): LedgerStore {
  return {
    account: (ownerId) => readAccount(pool, ownerId),

    async entries(ownerId, { before, limit }) {
      const { rows } = before === undefined
        ? await pool.query<EntryRow>('SELECT * FROM ledger WHERE owner_id = $1 ORDER BY seq DESC LIMIT $2', [ownerId, limit])
        : await pool.query<EntryRow>('SELECT * FROM ledger WHERE owner_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3', [ownerId, before, limit]);
      return rows.map(toEntry);
    },

    async taskEntries(taskId) {
      const { rows } = await pool.query<EntryRow>('SELECT * FROM ledger WHERE task_id = $1 ORDER BY seq', [taskId]);
      return rows.map(toEntry);
    },

    credit: (ownerId, amount, kind, reason, now) =>
      transaction(pool, async (c) => {
        await c.query('INSERT INTO accounts (owner_id) VALUES ($1) ON CONFLICT (owner_id) DO NOTHING', [ownerId]);
        // The update locks the account row: concurrent credits and holds apply one after another.
        const changed = await c.query('UPDATE accounts SET balance = balance + $1 WHERE owner_id = $2 AND balance + $1 >= 0', [amount, ownerId]);
        if (changed.rowCount !== 1) throw new GatewayError('bad_request', `An adjustment of ${amount} would make the balance negative`);
        await c.query('INSERT INTO ledger (owner_id, kind, amount, reason, at) VALUES ($1, $2, $3, $4, $5)', [ownerId, kind, amount, reason, now]);
        return readAccount(c, ownerId);
      }),
  };
}
