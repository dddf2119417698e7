/**
 * The stores of `npm run bench:history`: each built empty through `createStores` (the real
 * migrations and indexes), filled with bulk SQL written straight into the driver's tables,
 * analysed as an operator would after a bulk load, then opened again through `createStores`.
 * Everything it creates (temp dirs, Postgres databases on 127.0.0.1) is removed by `cleanup()`,
 * which also runs on SIGINT / SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createStores, type Stores } from '../../packages/server/src/store/factory.js';
import { openDatabase } from '../../packages/server/src/store/sqlite/db.js';
import {
  accountsInsert, filesInsert, historyInsert, liveInsert, postgresDialect, sqliteDialect, type Shape,
} from './history-data.js';

export type Driver = 'sqlite' | 'postgres';

export interface BuiltStore {
  driver: Driver;
  shape: Shape;
  stores: Stores;
  /** Seconds to fill and analyse. */
  fillSec: number;
  /** Database size on disk after the load (SQLite file; Postgres pg_database_size). */
  bytes: number;
  /** Rows of the file index (task_files) after the load. */
  files: number;
  /** Closes the store and removes its file or database. */
  dispose(): Promise<void>;
}

/** Postgres on loopback only (trust auth); the bench's own databases are created and dropped from here. */
const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const POOL_SIZE = 4;

const pending = new Map<string, () => Promise<void>>();

/** Runs these registered removals (each at most once, even when called again meanwhile). */
async function remove(keys: string[]): Promise<void> {
  for (const key of keys) {
    const fn = pending.get(key);
    if (!fn) continue;
    pending.delete(key);
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`removing ${key} failed: ${(err as Error).message}\n`);
    }
  }
}

/** Closes every store and removes every temp dir and database this bench made, newest first. */
export const cleanup = (): Promise<void> => remove([...pending.keys()].reverse());

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: removing the bench's stores and databases\n`);
    setTimeout(() => process.exit(130), 20_000).unref();
    void cleanup().finally(() => process.exit(130));
  });
}

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

async function admin<T>(fn: (c: pg.Client) => Promise<T>, url = ADMIN_URL): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Opens the built store for measuring; `dispose` closes it and removes what `resource` names. */
async function open(settings: Parameters<typeof createStores>[0], dir: string, resource: string): Promise<Pick<BuiltStore, 'stores' | 'dispose'>> {
  const stores = await createStores(settings, dir);
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => (closed ??= stores.close());
  pending.set(`store on ${resource}`, close);
  return { stores: { ...stores, kind: stores.kind, close }, dispose: () => remove([`store on ${resource}`, resource]) };
}

export async function buildSqlite(shape: Shape): Promise<BuiltStore> {
  const dir = mkdtempSync(join(tmpdir(), 'taskgate-bench-history-'));
  const resource = `dir ${dir}`;
  pending.set(resource, async () => rmSync(dir, { recursive: true, force: true }));
  // Shared locking: the gateway turns its task cache off then, so every get reads the database.
  const settings = { databaseUrl: null, sqliteLocking: 'shared' as const };
  await (await createStores(settings, dir)).close(); // the real migrations
  const start = process.hrtime.bigint();
  const db = openDatabase(join(dir, 'taskgate.db'), { locking: 'exclusive' });
  let files: number;
  try {
    db.pragma('cache_size = -1000000'); // the loader's connection only: 1 GB of page cache
    db.transaction(() => {
      db.exec(accountsInsert(sqliteDialect, shape));
      db.exec(historyInsert(sqliteDialect, shape));
      db.exec(liveInsert(sqliteDialect, shape));
      db.exec(filesInsert(sqliteDialect));
    }).immediate();
    // What an operator runs after a bulk load: statistics for the query planner.
    db.exec('ANALYZE');
    db.pragma('optimize');
    db.pragma('wal_checkpoint(TRUNCATE)');
    files = db.prepare('SELECT count(*) FROM task_files').pluck().get() as number;
  } finally {
    db.close();
  }
  const fillSec = seconds(start);
  const bytes = statSync(join(dir, 'taskgate.db')).size;
  return { driver: 'sqlite', shape, fillSec, bytes, files, ...(await open(settings, dir, resource)) };
}

export async function buildPostgres(shape: Shape): Promise<BuiltStore> {
  const name = `taskgate_bench_history_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const resource = `database ${name}`;
  pending.set(resource, () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))));
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const settings = { databaseUrl: url.toString(), databasePoolSize: POOL_SIZE };
  await (await createStores(settings, '/nonexistent')).close(); // the real migrations
  const start = process.hrtime.bigint();
  const files = await admin(async (c) => {
    await c.query('SET synchronous_commit = off');
    await c.query('BEGIN');
    await c.query(accountsInsert(postgresDialect, shape));
    await c.query(historyInsert(postgresDialect, shape));
    await c.query(liveInsert(postgresDialect, shape));
    await c.query(filesInsert(postgresDialect));
    await c.query('COMMIT');
    // What an operator runs after a bulk load: planner statistics, and the visibility map.
    await c.query('VACUUM (FREEZE, ANALYZE) tasks, task_files, accounts');
    return Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM task_files')).rows[0]!.n);
  }, url.toString());
  const fillSec = seconds(start);
  const bytes = await admin(async (c) => Number((await c.query<{ n: string }>('SELECT pg_database_size($1) AS n', [name])).rows[0]!.n));
  return { driver: 'postgres', shape, fillSec, bytes, files, ...(await open(settings, '/nonexistent', resource)) };
}

/** The Postgres server's version and shared_buffers, for the report. */
export const postgresInfo = (): Promise<string> =>
  admin(async (c) => {
    const show = async (what: string): Promise<string> => (await c.query<Record<string, string>>(`SHOW ${what}`)).rows[0]![what]!;
    return `${(await show('server_version')).split(' ')[0]}, shared_buffers ${await show('shared_buffers')}`;
  });

export const build = (driver: Driver, shape: Shape): Promise<BuiltStore> =>
  driver === 'sqlite' ? buildSqlite(shape) : buildPostgres(shape);
