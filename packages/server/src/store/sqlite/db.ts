/** Opens the embedded SQLite database and applies the numbered `.sql` migrations in order. */
import Database from 'better-sqlite3';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Db = Database.Database;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface OpenOptions {
  /** `normal` (default) survives a process crash; `full` also survives power loss. */
  synchronous?: 'normal' | 'full';
  /**
   * `exclusive` (default): this process holds the database for as long as it is open. Reads and
   * commits skip the per-transaction file locks (much faster), and a second process on the same
   * data dir fails at once instead of working the same tasks. `shared` lets other processes
   * (e.g. the sqlite3 shell) open the file meanwhile. Scale-out uses Postgres, not a shared file.
   */
  locking?: 'exclusive' | 'shared';
}

export class DatabaseInUseError extends Error {
  constructor(file: string) {
    super(`${file} is in use by another process (a running taskgate?); stop it, or use its admin API`);
    this.name = 'DatabaseInUseError';
  }
}

export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    db.pragma('busy_timeout = 2000');
    db.pragma(`locking_mode = ${opts.locking === 'shared' ? 'NORMAL' : 'EXCLUSIVE'}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new DatabaseInUseError(file);
    throw err;
  }
  return db;
}

/** The numbered migrations this driver ships. */
export function migrationVersions(): number[] {
  return readdirSync(MIGRATIONS_DIR).filter((f) => /^\d+_.*\.sql$/.test(f)).map((f) => Number.parseInt(f, 10)).sort((a, b) => a - b);
}

/** Migrations this driver ships that the database has not recorded (readiness); throws if the database cannot be read. */
export function pendingMigrations(db: Db): number[] {
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  return migrationVersions().filter((v) => !applied.has(v));
}

/** Applies every migration not yet recorded in `schema_migrations`, each in its own transaction. */
export function migrate(db: Db): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const applied = new Set(
    db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[],
  );
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort();
  const done: number[] = [];
  for (const file of files) {
    const version = Number.parseInt(file, 10);
    if (applied.has(version)) continue;
    const sql = readFileSync(join(MIGRATIONS_DIR, file), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(version, Date.now());
    }).immediate();
    done.push(version);
  }
  return done;
}
