/**
 * Postgres for `npm run bench`: the admin connection (loopback only), the fresh database the
 * gateway nodes share (`taskgate_bench_<random>`, dropped at the end, on error and on SIGINT),
 * and CPU windows that read, from /proc, the Postgres server processes next to the load generator
 * and the whole machine, and sample what the gateways' Postgres backends are doing.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { ticksPerSecond } from './child.js';
import { machineBusyTicks } from './load.js';

/** The admin database (created and dropped databases go through it). */
export const ADMIN_URL = process.env.BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function urlFor(database: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000, query_timeout: 30_000, application_name: 'taskgate-bench' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Why the Postgres part is skipped (BENCH_POSTGRES=0, not loopback, unreachable), or null to run it. */
export async function postgresSkipReason(): Promise<string | null> {
  if (process.env.BENCH_POSTGRES === '0') return 'BENCH_POSTGRES=0';
  let host: string;
  try {
    host = new URL(ADMIN_URL).hostname;
  } catch {
    return `BENCH_POSTGRES_URL is not a URL (${JSON.stringify(ADMIN_URL)})`;
  }
  if (!LOOPBACK.has(host)) return `Postgres must be on this machine's loopback (BENCH_POSTGRES_URL's host is ${host})`;
  try {
    await admin((c) => c.query('SELECT 1'));
    return null;
  } catch (err) {
    return `Postgres at ${new URL(ADMIN_URL).host} is unreachable (${err instanceof Error ? err.message : String(err)})`;
  }
}

const created = new Set<string>();

export interface BenchDatabase {
  name: string;
  url: string;
}

/** A fresh, empty database (the first gateway node migrates it, as in production). */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `taskgate_bench_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  created.add(name);
  return { name, url: urlFor(name) };
}

/** Drops every database this process created (idempotent; WITH (FORCE) ends connections left open). */
export async function dropBenchDatabases(): Promise<void> {
  const names = [...created];
  created.clear();
  for (const name of names) {
    try {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      process.stderr.write(`dropped database ${name}\n`);
    } catch (err) {
      process.stderr.write(`!! could not drop database ${name}: ${err instanceof Error ? err.message : String(err)} (drop it by hand)\n`);
    }
  }
}

export interface PgFacts {
  version: string;
  settings: Record<string, string>;
}

const SETTINGS = ['synchronous_commit', 'fsync', 'wal_sync_method', 'shared_buffers', 'max_connections'];

export function pgFacts(): Promise<PgFacts> {
  return admin(async (c) => {
    const version = (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? 'unknown';
    const rows = (await c.query<{ name: string; setting: string; unit: string | null }>(
      'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)', [SETTINGS])).rows;
    const settings: Record<string, string> = {};
    for (const r of rows) settings[r.name] = r.unit === '8kB' ? `${(Number(r.setting) * 8) / 1024} MiB` : r.setting;
    return { version, settings };
  });
}

/** The bench database's size and task count after the run. */
export function dbStats(name: string, url: string): Promise<{ bytes: number; tasks: number }> {
  return admin(async (c) => {
    const bytes = Number((await c.query<{ b: string }>('SELECT pg_database_size($1) AS b', [name])).rows[0]?.b ?? 0);
    const db = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, query_timeout: 30_000 });
    await db.connect();
    try {
      const tasks = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM tasks')).rows[0]?.n ?? 0);
      return { bytes, tasks };
    } finally {
      await db.end();
    }
  });
}

/** /proc/<pid>/stat fields from field 3 (state) on: [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

const ticks = (f: string[], ...at: number[]): number => at.reduce((sum, i) => sum + Number(f[i]), 0);

/**
 * CPU seconds of the whole Postgres server: the postmaster's own and its reaped children's
 * (cutime/cstime), plus every live child's. A backend that exits moves from the second sum to the
 * first, so the total only grows.
 */
function treeCpuSeconds(postmaster: number): number | null {
  const root = statFields(postmaster);
  if (!root) return null;
  let sum = ticks(root, 11, 12, 13, 14);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === postmaster) sum += ticks(f, 11, 12);
  }
  return sum / ticksPerSecond();
}

function shares(counts: Map<string, number>): Array<[string, number]> {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return [...counts.entries()].map(([k, n]): [string, number] => [k, n / total]).sort((a, b) => b[1] - a[1]);
}

export interface CpuReading {
  wallSec: number;
  /** Percent of one core over the window; null where /proc cannot tell. */
  postgres: number | null;
  /** The backends connected to the bench database (pg_stat_activity); part of `postgres`. */
  backends: number | null;
  loadGen: number;
  machine: number | null;
  /** What the gateways' connections' backends were doing, sampled: [`idle`, `CPU` or a wait event, share of samples], largest first. */
  waits: Array<[string, number]>;
}

/** Reads CPU over windows of the run; holds one admin connection (idle between reads). */
export interface CpuSampler {
  start(): Promise<{ end(): Promise<CpuReading> }>;
  close(): Promise<void>;
}

/** Wait-event samples: every 100 ms, at most 10 minutes' worth per window (then the sampling stops). */
const WAIT_EVERY_MS = 100;
const MAX_WAIT_SAMPLES = 6000;

export async function cpuSampler(database: string): Promise<CpuSampler> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000, query_timeout: 10_000, application_name: 'taskgate-bench' });
  await c.connect();
  // The postmaster is our own backend's parent (if /proc shows it: Postgres on this machine).
  const self = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const ppid = Number(statFields(self)?.[1] ?? NaN);
  let postmaster: number | null = null;
  try {
    if (Number.isInteger(ppid) && readFileSync(`/proc/${ppid}/comm`, 'utf8').startsWith('postgres')) postmaster = ppid;
  } catch { /* not visible: Postgres CPU n/a */ }
  const backendCpu = async (): Promise<Map<number, number>> => {
    const pids = (await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database])).rows.map((r) => r.pid);
    const out = new Map<number, number>();
    for (const pid of pids) {
      const f = statFields(pid);
      if (f) out.set(pid, ticks(f, 11, 12) / ticksPerSecond());
    }
    return out;
  };
  /**
   * The gateways' pooled connections to the bench database (application_name `taskgate`; not the
   * LISTEN ones) by what their backend is doing: `CPU` (active, no wait event), a wait event, or
   * `idle` (between statements, outside a transaction: waiting for a gateway to send one).
   */
  const waitSample = async (into: Map<string, number>): Promise<void> => {
    const rows = (await c.query<{ w: string }>(
      `SELECT CASE WHEN state = 'idle' THEN 'idle' WHEN state = 'active' AND wait_event IS NULL THEN 'CPU'
                   ELSE coalesce(wait_event_type || ':' || wait_event, state) END AS w
       FROM pg_stat_activity WHERE datname = $1 AND application_name = 'taskgate'`, [database])).rows;
    for (const r of rows) into.set(r.w, (into.get(r.w) ?? 0) + 1);
  };
  return {
    async start() {
      const waits = new Map<string, number>();
      let samples = 0;
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        if (++samples >= MAX_WAIT_SAMPLES) clearInterval(timer);
        busy = true;
        waitSample(waits).catch(() => undefined).finally(() => { busy = false; });
      }, WAIT_EVERY_MS);
      const back0 = await backendCpu();
      const tree0 = postmaster === null ? null : treeCpuSeconds(postmaster);
      const load0 = process.cpuUsage();
      const machine0 = machineBusyTicks();
      const t0 = process.hrtime.bigint();
      return {
        async end(): Promise<CpuReading> {
          clearInterval(timer);
          const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
          const load = process.cpuUsage(load0);
          const machine1 = machineBusyTicks();
          const tree1 = postmaster === null ? null : treeCpuSeconds(postmaster);
          while (busy) await new Promise((r) => setTimeout(r, 5));
          // A backend that started during the window counts from 0; one that ended in it is lost
          // (the pools keep their connections while they are busy, so that is rare).
          const back1 = await backendCpu();
          let backends = 0;
          for (const [pid, s] of back1) backends += s - (back0.get(pid) ?? 0);
          const pct = (s: number): number => (100 * s) / wallSec;
          return {
            wallSec,
            postgres: tree0 !== null && tree1 !== null ? pct(tree1 - tree0) : null,
            backends: postmaster === null ? null : pct(backends),
            loadGen: pct((load.user + load.system) / 1e6),
            machine: machine0 !== null && machine1 !== null ? pct((machine1 - machine0) / ticksPerSecond()) : null,
            waits: shares(waits),
          };
        },
      };
    },
    close: () => c.end(),
  };
}
