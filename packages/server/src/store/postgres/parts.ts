/**
 * What the Postgres task store borrows from the webhook and ledger drivers, inside its own
 * transactions: a state change, its ledger entry and its webhook outbox row commit together.
 * `c` is the connection the caller's transaction runs on.
 */
import type { Task } from '../../core/types.js';
import type { PoolClient } from './db.js';

/** A connection inside a transaction (or the pool, for single statements). */
export type Queryable = Pick<PoolClient, 'query'>;

export interface PgOutbox {
  /**
   * Queues a delivery of `event` for the task (as just written by the caller's transaction) if it
   * has a callback URL and wants that event, without a round trip when it does not; newer events
   * supersede the task's older pending ones (as the SQLite outbox does).
   */
  enqueue(c: Queryable, task: Pick<Task, 'id' | 'callbackUrl' | 'webhookEvents'>, event: 'start' | 'progress' | 'completed', now: number): Promise<void>;
}

export interface PgTaskLedger {
  /** Moves `price` from the balance to held, or throws GatewayError('used_up'). */
  hold(c: Queryable, ownerId: string, taskId: string, price: number, now: number): Promise<void>;
  /** The task succeeded: its hold becomes used. */
  settle(c: Queryable, ownerId: string, taskId: string, price: number, now: number): Promise<void>;
  /** The task failed or was cancelled: its hold goes back to the balance. */
  refund(c: Queryable, ownerId: string, taskId: string, price: number, now: number): Promise<void>;
}
