/**
 * The Postgres connection pool (node-postgres) and the driver's numbered `.sql` migrations.
 * BIGINT columns (Unix ms times, credits) are read as numbers: every value the store writes is a
 * safe integer. Several nodes may start at once: migrations run under an advisory lock.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
/** The advisory lock key migrations hold (any constant shared by every node). */
const MIGRATION_LOCK = 7_251_413_001;

const INT8 = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export interface PoolOptions {
  url: string;
  /** Most connections (default 10). */
  max?: number;
}

export function createPool(opts: PoolOptions): Pool {
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.max ?? 10, types, application_name: 'taskgate' });
  // An idle connection that dies (server restart) is dropped and replaced; it must not crash the process.
  pool.on('error', () => undefined);
  // A connection that drops while checked out (mid-transaction) rejects the query that was
  // running; the client's own 'error' event then has no listener (the pool removes its idle one
  // on checkout) and would crash the process. The query's rejection carries the error.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Runs `fn` in one transaction on one connection (committed if it resolves, rolled back if it throws). */
export async function transaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Applies every migration not yet recorded in `schema_migrations`, each in its own transaction. */
export async function migrate(pool: Pool): Promise<number[]> {
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
  const client = await pool.connect();
  const done: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const file of files) {
      const version = Number.parseInt(file, 10);
      if (applied.has(version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(readFileSync(join(MIGRATIONS_DIR, file), 'utf8'));
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [version, Date.now()]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      done.push(version);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
  return done;
}

/** The numbered migrations this driver ships (for readiness checks and tests). */
export function migrationVersions(): number[] {
  return readdirSync(MIGRATIONS_DIR).filter((f) => /^\d+_.*\.sql$/.test(f)).map((f) => Number.parseInt(f, 10)).sort((a, b) => a - b);
}

/**
 * Migrations this driver ships that the database has not recorded (readiness). One query on a
 * pooled connection, bounded by `timeoutMs`; throws when the database cannot be reached.
 */
export async function pendingMigrations(pool: Pool, timeoutMs: number): Promise<number[]> {
  const { rows } = await pool.query<{ version: number }>({ text: 'SELECT version FROM schema_migrations', query_timeout: timeoutMs } as pg.QueryConfig);
  const applied = new Set(rows.map((r) => r.version));
  return migrationVersions().filter((v) => !applied.has(v));
}
