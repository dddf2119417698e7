/** The Postgres driver of the TaskStore contract. */
import type { TaskStore } from '../../core/ports.js';
import type { Pool } from './db.js';
import type { PgOutbox, PgTaskLedger } from './parts.js';

export function createPostgresTaskStore(_pool: Pool, _deps: { outbox: PgOutbox; ledger: PgTaskLedger }): TaskStore {
  throw new Error('not implemented yet');
}
