/**
 * `npm run bench`: taskgate's async create and retrieve throughput against a bare Fastify
 * hello-world, side by side in one run, on SQLite and on Postgres (one and two gateway nodes on a
 * fresh database; BENCH_POSTGRES=0 skips it); prints tables and rewrites BENCHMARKS.md.
 * Loopback only; every load loop is bounded in time and count; children are killed and the
 * database dropped at the end, on error and on SIGINT.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, stopAll, ticksPerSecond, type ServerChild } from './lib/child.js';
import { runLoad, type Measurement } from './lib/load.js';
import { measurePostgres, startPostgres, type PgBench, type PgLoadSettings, type PgRow } from './lib/pg-bench.js';
import { postgresConsole, postgresMarkdown, type PgResult } from './lib/pg-report.js';
import { dbStats, dropBenchDatabases, postgresSkipReason } from './lib/postgres.js';
import { consoleReport, machine, writeMarkdown, type Row, type RunSettings, type Storage } from './lib/report.js';
import { authHeaders, check, createTasks, CREATE_BODY } from './lib/requests.js';

function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number ≥ ${min} (got ${JSON.stringify(raw)})`);
  return n;
}

const settings: RunSettings = {
  durationSec: envNumber('BENCH_DURATION', 10, 1),
  warmupSec: envNumber('BENCH_WARMUP', 2, 0),
  connections: Math.floor(envNumber('BENCH_CONNECTIONS', 20, 1)),
  retrieveTasks: 1000,
};
/** Count cap per run: far above what one core serves, so time is the bound that normally ends it. */
const MAX_RATE = 100_000;
const BENCHMARKS_MD = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

interface Scenario {
  name: string;
  target: number;
  gatewayPath: string;
  bodies: string[];
  /** Postgres: one node's target (× bare), two nodes' (× one node; null: none), its own retrieve bodies. */
  pgTarget: number;
  pgTwoNodeTarget: number | null;
  pgBodies: string[];
}

function sizeOf(file: string): number | null {
  try {
    return statSync(file).size;
  } catch {
    return null;
  }
}

/** Warm-up (discarded), then the measured run; also returns the 2xx count of both together. */
async function measure(server: ServerChild, path: string, headers: Record<string, string>, bodies: string[], label: string): Promise<[Measurement, number]> {
  const base = { url: server.info.url, path, headers, bodies, connections: settings.connections, serverCpu: () => server.cpuSeconds() };
  let warmOk = 0;
  if (settings.warmupSec > 0) {
    process.stderr.write(`${label}: warm-up ${settings.warmupSec} s … `);
    const w = await runLoad({ ...base, durationSec: settings.warmupSec, maxRequests: Math.ceil(settings.warmupSec * MAX_RATE) }, ticksPerSecond());
    warmOk = w.ok;
    if (w.non2xx || w.errors || w.timeouts) process.stderr.write(`(warm-up had ${w.non2xx} non-2xx, ${w.errors} errors, ${w.timeouts} timeouts) `);
  }
  process.stderr.write(`measuring ${settings.durationSec} s … `);
  const m = await runLoad({ ...base, durationSec: settings.durationSec, maxRequests: Math.ceil(settings.durationSec * MAX_RATE) }, ticksPerSecond());
  process.stderr.write(`${Math.round(m.rps)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms\n`);
  return [m, warmOk + m.ok];
}

/** Starts the Postgres part, or says why not (the SQLite part runs either way). */
async function postgresPart(pgSettings: PgLoadSettings): Promise<{ pgb: PgBench | null; problem: string | null }> {
  const skip = await postgresSkipReason();
  if (skip) {
    process.stderr.write(`Postgres part skipped: ${skip}${skip.startsWith('BENCH_') ? '' : ' (BENCH_POSTGRES=0 skips it without trying)'}\n`);
    return { pgb: null, problem: `skipped: ${skip}` };
  }
  try {
    return { pgb: await startPostgres(pgSettings), problem: null };
  } catch (err) {
    process.exitCode = 1;
    process.stderr.write(`!! Postgres part failed to start: ${errText(err)}; the SQLite part runs on\n`);
    return { pgb: null, problem: `failed to start: ${errText(err)}` };
  }
}

async function main(): Promise<void> {
  const bare = await startServer('bare', 'bench/servers/bare.ts');
  const gw = await startServer('gateway', 'bench/servers/gateway.ts', 30_000, { BENCH_DATABASE_URL: '', BENCH_TOKEN: '' });
  if (!gw.info.token) throw new Error('the gateway did not report a token');
  const headers = authHeaders(gw.info.token);
  process.stderr.write(`bare at ${bare.info.url}, gateway at ${gw.info.url}\n`);

  await check('bare', `${bare.info.url}/`, headers, CREATE_BODY);
  process.stderr.write(`creating ${settings.retrieveTasks} tasks for retrieve … `);
  const ids = await createTasks(gw, headers, settings.retrieveTasks);
  process.stderr.write('done\n');
  const retrieveBodies = ids.map((id) => JSON.stringify({ action: 'retrieve', id }));
  await check('gateway retrieve', `${gw.info.url}/v1/midjourney/tasks`, headers, retrieveBodies[0]!);

  const pgSettings: PgLoadSettings = { ...settings, maxRate: MAX_RATE };
  const started = await postgresPart(pgSettings);
  let pgb = started.pgb;
  const pg: PgResult = { rows: [], problem: started.problem, facts: pgb?.facts ?? null, storage: null };

  const scenarios: Scenario[] = [
    { name: 'create', target: 0.5, gatewayPath: '/v1/midjourney/imagine', bodies: [CREATE_BODY], pgTarget: 0.3, pgTwoNodeTarget: 1.6, pgBodies: [CREATE_BODY] },
    { name: 'retrieve', target: 0.75, gatewayPath: '/v1/midjourney/tasks', bodies: retrieveBodies, pgTarget: 0.6, pgTwoNodeTarget: null, pgBodies: pgb?.retrieveBodies ?? [] },
  ];
  const rows: Row[] = [];
  let created = 0;
  for (const s of scenarios) {
    const [bareM] = await measure(bare, '/', headers, s.bodies, `bare ${s.name}`);
    const [gwM, gwOk] = await measure(gw, s.gatewayPath, headers, s.bodies, `gateway ${s.name}`);
    if (s.name === 'create') created += gwOk;
    rows.push({ scenario: s.name, target: s.target, bare: bareM, gateway: gwM });
    if (!pgb) continue;
    try {
      const sc = { name: s.name, path: s.gatewayPath, bodies: s.pgBodies };
      const one = await measurePostgres(pgb, sc, 1, pgSettings);
      const two = await measurePostgres(pgb, sc, 2, pgSettings);
      const row: PgRow = { scenario: s.name, target: s.pgTarget, twoNodeTarget: s.pgTwoNodeTarget, bare: bareM, one, two };
      pg.rows.push(row);
    } catch (err) {
      process.exitCode = 1;
      process.stderr.write(`!! Postgres ${s.name} failed: ${errText(err)}; the SQLite part runs on\n`);
      pg.problem = `the ${s.name} scenario failed: ${errText(err)}`;
      pgb = null;
    }
  }
  if (pgb) {
    try {
      pg.storage = await dbStats(pgb.db.name, pgb.db.url);
    } catch (err) {
      process.stderr.write(`!! could not read the bench database's size: ${errText(err)}\n`);
    }
    await pgb.sampler.close().catch(() => undefined);
  }

  const dir = gw.info.dataDir;
  const storage: Storage = {
    db: dir ? sizeOf(join(dir, 'taskgate.db')) : null,
    wal: dir ? sizeOf(join(dir, 'taskgate.db-wal')) : null,
    tasks: settings.retrieveTasks + created,
  };
  const m = machine();
  process.stdout.write(`\n${m.cpu} · nproc ${m.nproc} · ${m.memory} · Node ${m.node} · ${m.date}\n\n${consoleReport(rows, storage)}\n`);
  process.stdout.write(`\nPostgres\n\n${postgresConsole(pg)}\n`);
  writeMarkdown(BENCHMARKS_MD, m, settings, rows, storage, postgresMarkdown(pg, rows, m, settings));
  process.stdout.write(`\nwrote ${BENCHMARKS_MD}\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the servers\n`);
    void stopAll().then(dropBenchDatabases).finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  process.stderr.write(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
} finally {
  await stopAll();
  await dropBenchDatabases();
}
