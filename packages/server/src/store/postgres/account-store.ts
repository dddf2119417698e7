/** The Postgres driver of the AccountStore contract (accounts, their tokens, gateway settings). */
import type { AccountStore } from '../../accounts/records.js';
import type { Pool } from './db.js';

export function createPostgresAccountStore(_pool: Pool): AccountStore {
  throw new Error('not implemented yet');
}
