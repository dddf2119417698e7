/** The Postgres driver passes the same TaskStore and UpstreamStore contracts as SQLite, each test on a fresh database. */
import type { TaskStore } from '../src/core/ports.js';
import { freshPostgresStores, postgresUnavailable } from './pg.js';
import { runStoreSuite } from './store-contract.js';
import { runUpstreamSuite } from './upstream-contract.js';

const skip = (await postgresUnavailable()) ?? false;

/** The task store of fresh Postgres stores; closing it drops the database. */
async function open(): Promise<TaskStore> {
  const stores = await freshPostgresStores();
  return { ...stores.tasks, close: stores.close };
}

runStoreSuite('postgres', open, { skip });
runUpstreamSuite('postgres', open, { skip });
