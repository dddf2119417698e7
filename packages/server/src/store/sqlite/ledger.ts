/**
 * The credit ledger of the SQLite store. `hold`, `settle` and `refund` are called inside the task
 * store's transactions (insert, finish, terminate), so a charge can never drift from the task
 * state it belongs to; the rest serves the account APIs.
 */
import { GatewayError } from '../../core/errors.js';
import type { Account, LedgerStore } from '../../core/ports.js';
import { toEntry, type EntryRow } from '../rows.js';
import type { Db } from './db.js';


export interface TaskLedger {
  /** Moves `price` from the balance to held, or throws `used_up` (call inside the insert's transaction). */
  hold(ownerId: string, taskId: string, price: number, now: number): void;
  /** The task succeeded: its hold becomes used. */
  settle(ownerId: string, taskId: string, price: number, now: number): void;
  /** The task failed or was cancelled: its hold goes back to the balance. */
  refund(ownerId: string, taskId: string, price: number, now: number): void;
}

export function createTaskLedger(db: Db): TaskLedger {
  const ensure = db.prepare<[string]>('INSERT INTO accounts (owner_id) VALUES (?) ON CONFLICT (owner_id) DO NOTHING');
  const take = db.prepare<[{ price: number; owner: string }]>(
    'UPDATE accounts SET balance = balance - @price, held = held + @price WHERE owner_id = @owner AND balance >= @price',
  );
  const balanceOf = db.prepare<[string], number>('SELECT balance FROM accounts WHERE owner_id = ?').pluck();
  const toUsed = db.prepare<[{ price: number; owner: string }]>('UPDATE accounts SET held = held - @price, used = used + @price WHERE owner_id = @owner');
  const giveBack = db.prepare<[{ price: number; owner: string }]>('UPDATE accounts SET held = held - @price, balance = balance + @price WHERE owner_id = @owner');
  const entry = db.prepare<[string, string, string, number, number]>(
    'INSERT INTO ledger (owner_id, task_id, kind, amount, at) VALUES (?, ?, ?, ?, ?)',
  );
  return {
    hold(ownerId, taskId, price, now) {
      if (price <= 0) return;
      ensure.run(ownerId);
      if (take.run({ price, owner: ownerId }).changes !== 1) {
        const balance = balanceOf.get(ownerId) ?? 0;
        throw new GatewayError('used_up', `Balance exhausted: this task costs ${price} credits, the balance is ${balance}`);
      }
      entry.run(ownerId, taskId, 'hold', -price, now);
    },
    settle(ownerId, taskId, price, now) {
      if (price <= 0) return;
      toUsed.run({ price, owner: ownerId });
      entry.run(ownerId, taskId, 'settle', 0, now);
    },
    refund(ownerId, taskId, price, now) {
      if (price <= 0) return;
      giveBack.run({ price, owner: ownerId });
      entry.run(ownerId, taskId, 'refund', price, now);
    },
  };
}

export function createSqliteLedgerStore(db: Db): LedgerStore {
  const account = db.prepare<[string], { balance: number; held: number; used: number }>(
    'SELECT balance, held, used FROM accounts WHERE owner_id = ?',
  );
  const ensure = db.prepare<[string]>('INSERT INTO accounts (owner_id) VALUES (?) ON CONFLICT (owner_id) DO NOTHING');
  const credit = db.prepare<[{ amount: number; owner: string }]>(
    'UPDATE accounts SET balance = balance + @amount WHERE owner_id = @owner AND balance + @amount >= 0',
  );
  const entry = db.prepare<[string, string, number, string, number]>(
    'INSERT INTO ledger (owner_id, kind, amount, reason, at) VALUES (?, ?, ?, ?, ?)',
  );
  const entries = db.prepare<[{ owner: string; before: number | null; limit: number }], EntryRow>(
    `SELECT * FROM ledger WHERE owner_id = @owner AND (@before IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @limit`,
  );
  const ofTask = db.prepare<[string], EntryRow>('SELECT * FROM ledger WHERE task_id = ? ORDER BY seq');
  const read = (ownerId: string): Account => ({ ownerId, ...(account.get(ownerId) ?? { balance: 0, held: 0, used: 0 }) });
  const creditTx = db.transaction((ownerId: string, amount: number, kind: 'topup' | 'adjust', reason: string, now: number): Account => {
    ensure.run(ownerId);
    if (credit.run({ amount, owner: ownerId }).changes !== 1) {
      throw new GatewayError('bad_request', `An adjustment of ${amount} would make the balance negative`);
    }
    entry.run(ownerId, kind, amount, reason, now);
    return read(ownerId);
  });
  return {
    account: async (ownerId) => read(ownerId),
    entries: async (ownerId, { before, limit }) => entries.all({ owner: ownerId, before: before ?? null, limit }).map(toEntry),
    taskEntries: async (taskId) => ofTask.all(taskId).map(toEntry),
    credit: async (ownerId, amount, kind, reason, now) => creditTx.immediate(ownerId, amount, kind, reason, now),
  };
}
