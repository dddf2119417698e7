/**
 * One place that builds the stores: the embedded SQLite file in the data dir (the default), or a
 * Postgres database shared by several gateway nodes (`databaseUrl`). Everything above the stores
 * (the gateway, the offline CLI, the benches) gets them from here and sees only the contracts.
 */
import { join } from 'node:path';
import type { AccountStore } from '../accounts/records.js';
import type { LedgerStore, TaskFeed, TaskStore, WebhookStore } from '../core/ports.js';
import type { StatsStore } from '../core/stats.js';
import { openDatabase, pendingMigrations } from './sqlite/db.js';
import { createSqliteAccountStore } from './sqlite/account-store.js';
import { createSqliteLedgerStore } from './sqlite/ledger.js';
import { createSqliteStatsStore } from './sqlite/stats.js';
import { createSqliteTaskStore } from './sqlite/task-store.js';
import { createSqliteWebhookStore } from './sqlite/webhook-store.js';

export interface Stores {
  /** `sqlite` (one process holds the file) or `postgres` (shared by nodes). */
  readonly kind: 'sqlite' | 'postgres';
  readonly tasks: TaskStore;
  readonly accounts: AccountStore;
  readonly webhooks: WebhookStore;
  readonly ledger: LedgerStore;
  /** Read-only queries for the dashboard's charts (core/stats.ts). */
  readonly stats: StatsStore;
  /** Wake-ups from the other nodes that the database itself carries (Postgres LISTEN/NOTIFY); none for SQLite. */
  readonly feed?: TaskFeed;
  /**
   * Readiness: reads the database (one cheap query) and resolves with the migrations this build
   * ships that it has not recorded (none once migrated); rejects when the database cannot be
   * reached. `timeoutMs` bounds a network driver's query (the caller bounds the wait as well).
   */
  ping(timeoutMs: number): Promise<{ pendingMigrations: number[] }>;
  /** Closes every store and the connection(s) under them. */
  close(): Promise<void>;
}

export interface StoreSettings {
  /** null: SQLite in `dataDir`; `postgres://…`: Postgres. */
  databaseUrl: string | null;
  databasePoolSize?: number;
  sqliteSync?: 'normal' | 'full';
  sqliteLocking?: 'exclusive' | 'shared';
}

/** Where a store's database is, fit for a log line (never its credentials). */
export function storeLabel(settings: StoreSettings, dataDir: string): string {
  if (settings.databaseUrl === null) return join(dataDir, 'taskgate.db');
  const url = new URL(settings.databaseUrl);
  return `postgres://${url.host}${url.pathname}`;
}

/**
 * Opens the configured stores and applies their migrations. `cache`: keep recently used tasks in
 * memory (only where this process is the database's only writer: SQLite with exclusive locking).
 */
export async function createStores(settings: StoreSettings, dataDir: string): Promise<Stores> {
  if (settings.databaseUrl !== null) {
    const { createPostgresStores } = await import('./postgres/stores.js');
    return createPostgresStores({ url: settings.databaseUrl, poolSize: settings.databasePoolSize ?? 10 });
  }
  const locking = settings.sqliteLocking ?? 'exclusive';
  const db = openDatabase(join(dataDir, 'taskgate.db'), { synchronous: settings.sqliteSync, locking });
  // The task cache is coherent only while this process holds the database exclusively.
  const tasks = createSqliteTaskStore(db, { cacheSize: locking === 'exclusive' ? 10_000 : 0 });
  return {
    kind: 'sqlite',
    tasks,
    accounts: createSqliteAccountStore(db),
    webhooks: createSqliteWebhookStore(db),
    ledger: createSqliteLedgerStore(db),
    stats: createSqliteStatsStore(db),
    ping: async () => ({ pendingMigrations: pendingMigrations(db) }),
    close: () => tasks.close(), // closes the database too
  };
}
