/**
 * The Postgres stores (`databaseUrl`): one connection pool shared by the task, account, ledger
 * and webhook stores, migrated on open. Several gateway nodes can use one database: claims take
 * rows with FOR UPDATE SKIP LOCKED, and every state change commits with its ledger entry and
 * webhook outbox row in one transaction.
 */
import type { Stores } from '../factory.js';
import { createPostgresAccountStore } from './account-store.js';
import { createPool, migrate, pendingMigrations } from './db.js';
import { createPgFeed } from './feed.js';
import { createPgTaskLedger, createPostgresLedgerStore } from './ledger.js';
import { createPostgresStatsStore } from './stats.js';
import { createPostgresTaskStore } from './task-store.js';
import { createPgOutbox, createPostgresWebhookStore } from './webhook-store.js';

export async function createPostgresStores(opts: { url: string; poolSize: number }): Promise<Stores> {
  const pool = createPool({ url: opts.url, max: opts.poolSize });
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    throw err;
  }
  const tasks = createPostgresTaskStore(pool, { outbox: createPgOutbox(), ledger: createPgTaskLedger() });
  const feed = createPgFeed(pool, opts.url);
  return {
    kind: 'postgres',
    tasks,
    accounts: createPostgresAccountStore(pool),
    webhooks: createPostgresWebhookStore(pool),
    ledger: createPostgresLedgerStore(pool),
    stats: createPostgresStatsStore(pool),
    feed,
    ping: async (timeoutMs) => ({ pendingMigrations: await pendingMigrations(pool, timeoutMs) }),
    close: async () => {
      await feed.close();
      await tasks.close(); // ends the pool too
    },
  };
}
