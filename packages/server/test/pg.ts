/**
 * Real Postgres for the tests: one fresh database per store (`CREATE DATABASE … TEMPLATE`, from a
 * template migrated once per schema version), dropped when the store closes. Postgres is the one
 * at TASKGATE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres). Where it
 * cannot be reached the Postgres suites are skipped with a visible message, unless
 * TASKGATE_TEST_REQUIRE_SERVICES=1 (set by .ci/run), which makes that a failure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createStores, type Stores } from '../src/store/factory.js';
import { createPool, migrate } from '../src/store/postgres/db.js';

export const ADMIN_URL = process.env.TASKGATE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REQUIRED = process.env.TASKGATE_TEST_REQUIRE_SERVICES === '1';
const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'store', 'postgres', 'migrations');
const TEMPLATE_LOCK = 7_251_413_002;

/** The template's name changes with the migrations' text, so a changed schema gets a new template. */
function templateName(): string {
  const hash = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS).sort()) hash.update(f).update(readFileSync(join(MIGRATIONS, f)));
  return `taskgate_tpl_${hash.digest('hex').slice(0, 12)}`;
}

function urlFor(database: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

let reachable: Promise<string | null> | null = null;

/**
 * null when Postgres answers; else the reason, for `{ skip }`. With TASKGATE_TEST_REQUIRE_SERVICES=1
 * an unreachable Postgres throws instead, failing the suite.
 */
export function postgresUnavailable(): Promise<string | null> {
  reachable ??= admin((c) => c.query('SELECT 1')).then(
    () => null,
    (err: unknown) => {
      const why = `Postgres at ${new URL(ADMIN_URL).host} is unreachable (${(err as Error).message}); Postgres suites skipped`;
      if (REQUIRED) throw new Error(`${why}, but TASKGATE_TEST_REQUIRE_SERVICES=1 requires it`);
      process.stderr.write(`# ${why}\n`);
      return why;
    },
  );
  return reachable;
}

let template: Promise<string> | null = null;

/** Creates (once per schema version, race-free across test processes) the migrated template database. */
function ensureTemplate(): Promise<string> {
  template ??= (async () => {
    const name = templateName();
    await admin(async (c) => {
      await c.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
      try {
        const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (exists.rowCount) return;
        await c.query(`CREATE DATABASE ${name}`);
        const pool = createPool({ url: urlFor(name), max: 1 });
        try {
          await migrate(pool);
        } finally {
          await pool.end();
        }
        await c.query(`ALTER DATABASE ${name} WITH IS_TEMPLATE true`);
        // Templates of earlier schemas are of no use any more.
        const stale = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'taskgate_tpl_%' AND datname <> $1`, [name]);
        for (const { datname } of stale.rows) {
          await c.query(`ALTER DATABASE ${datname} WITH IS_TEMPLATE false`);
          await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
      }
    });
    return name;
  })();
  return template;
}

/** A fresh, migrated database; its URL and a function that drops it. */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `taskgate_test_${randomBytes(6).toString('hex')}`;
  const create = async (): Promise<void> => {
    const tpl = await ensureTemplate();
    await admin(async (c) => {
      await c.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
      try {
        await c.query(`CREATE DATABASE ${name} TEMPLATE ${tpl}`);
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
      }
    });
  };
  try {
    await create();
  } catch (err) {
    // A run of another checkout with other migrations dropped our template as stale: make it again.
    if ((err as { code?: string }).code !== '3D000') throw err;
    template = null;
    await create();
  }
  return { url: urlFor(name), drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))) };
}

/** The Postgres stores over a fresh database, which `close()` drops. */
export async function freshPostgresStores(poolSize = 4): Promise<Stores> {
  const db = await freshDatabase();
  const stores = await createStores({ databaseUrl: db.url, databasePoolSize: poolSize }, '/nonexistent');
  return {
    ...stores,
    kind: stores.kind,
    close: async () => {
      await stores.close();
      await db.drop();
    },
  };
}
