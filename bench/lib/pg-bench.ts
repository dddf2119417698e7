/**
 * The Postgres part of `npm run bench`: two API-only gateway nodes on one fresh database, measured
 * with one node (node A, all connections) and with both (two autocannon instances at the same
 * time, half the connections each). Node B is started up front and stays idle during the
 * one-node runs.
 */
import { startServer, ticksPerSecond, type ServerChild } from './child.js';
import { percentile, runLoad, type Measurement } from './load.js';
import { cpuSampler, createBenchDatabase, pgFacts, type BenchDatabase, type CpuReading, type CpuSampler, type PgFacts } from './postgres.js';
import { authHeaders, check, createTasks } from './requests.js';
import { benchRedisUrl } from './pg-report.js';

export interface PgRun {
  nodes: number;
  /** Both nodes together (one node: that node's run). */
  m: Measurement;
  /** Each node's own instance (one node: one entry). */
  perNode: Measurement[];
  cpu: CpuReading;
}

export interface PgRow {
  scenario: string;
  /** Targets: one node's rate / bare's; two nodes' create rate / one node's (null: none). */
  target: number;
  twoNodeTarget: number | null;
  bare: Measurement;
  one: PgRun;
  two: PgRun;
}

export interface PgBench {
  db: BenchDatabase;
  nodes: [ServerChild, ServerChild];
  headers: Record<string, string>;
  retrieveBodies: string[];
  sampler: CpuSampler;
  facts: PgFacts;
}

export interface PgScenario {
  name: string;
  path: string;
  bodies: string[];
}

export interface PgLoadSettings {
  durationSec: number;
  warmupSec: number;
  connections: number;
  retrieveTasks: number;
  /** Count cap per second of a run, for all nodes together. */
  maxRate: number;
}

const SCRIPT = 'bench/servers/gateway.ts';

/** Creates the database, starts both nodes (A creates the token, B reuses it), creates the retrieve tasks. */
export async function startPostgres(s: PgLoadSettings): Promise<PgBench> {
  const db = await createBenchDatabase();
  process.stderr.write(`created database ${db.name}\n`);
  const redis = { BENCH_REDIS_URL: benchRedisUrl() ?? '' };
  const a = await startServer('postgres node A', SCRIPT, 60_000, { BENCH_DATABASE_URL: db.url, BENCH_TOKEN: '', ...redis });
  if (!a.info.token) throw new Error('postgres node A did not report a token');
  const b = await startServer('postgres node B', SCRIPT, 60_000, { BENCH_DATABASE_URL: db.url, BENCH_TOKEN: a.info.token, ...redis });
  const headers = authHeaders(a.info.token);
  process.stderr.write(`postgres nodes at ${a.info.url} and ${b.info.url}; creating ${s.retrieveTasks} tasks on node A … `);
  const ids = await createTasks(a, headers, s.retrieveTasks);
  process.stderr.write('done\n');
  const retrieveBodies = ids.map((id) => JSON.stringify({ action: 'retrieve', id }));
  for (const [node, body] of [[a, retrieveBodies[0]!], [b, retrieveBodies[0]!], [b, retrieveBodies.at(-1)!]] as const) {
    await check(`${node.name} retrieve`, `${node.info.url}/v1/midjourney/tasks`, headers, body);
  }
  return { db, nodes: [a, b], headers, retrieveBodies, sampler: await cpuSampler(db.name), facts: await pgFacts() };
}

/** One instance per node: connections split as evenly as they go, bodies in contiguous shares. */
function loads(pgb: PgBench, sc: PgScenario, nodes: number, s: PgLoadSettings, durationSec: number, keepLatencies: boolean): Promise<Measurement[]> {
  return Promise.all(pgb.nodes.slice(0, nodes).map((node, i) => {
    const connections = Math.max(1, Math.floor(s.connections / nodes) + (i < s.connections % nodes ? 1 : 0));
    const share = Math.ceil(sc.bodies.length / nodes);
    const bodies = sc.bodies.length > 1 ? sc.bodies.slice(i * share, (i + 1) * share) : sc.bodies;
    return runLoad({
      url: node.info.url, path: sc.path, headers: pgb.headers, bodies, connections, durationSec,
      maxRequests: Math.ceil((durationSec * s.maxRate) / nodes), serverCpu: () => node.cpuSeconds(), keepLatencies,
    }, ticksPerSecond());
  }));
}

/**
 * The instances' runs as one: 2xx rates and counts add up; p50/p99 are percentiles of every 2xx
 * latency of all instances merged; gateway CPU adds up; load-generator and machine CPU come from
 * the window around all instances (they ran in one process at the same time).
 */
export function combine(parts: Measurement[], cpu: CpuReading): Measurement {
  const merged = new Float64Array(parts.reduce((n, p) => n + (p.latencies?.length ?? 0), 0));
  let at = 0;
  for (const p of parts) {
    if (p.latencies) merged.set(p.latencies, at);
    at += p.latencies?.length ?? 0;
  }
  merged.sort();
  const sum = (f: (m: Measurement) => number): number => parts.reduce((n, p) => n + f(p), 0);
  return {
    rps: sum((p) => p.rps),
    p50: percentile(merged, 0.5),
    p99: percentile(merged, 0.99),
    ok: sum((p) => p.ok),
    non2xx: sum((p) => p.non2xx),
    errors: sum((p) => p.errors),
    timeouts: sum((p) => p.timeouts),
    durationSec: Math.max(...parts.map((p) => p.durationSec)),
    serverCpu: parts.every((p) => p.serverCpu !== null) ? sum((p) => p.serverCpu!) : null,
    loadCpu: cpu.loadGen,
    machineCpu: cpu.machine,
  };
}

const withoutLatencies = ({ latencies: _, ...m }: Measurement): Measurement => m;

/** Warm-up (discarded), then the measured run on 1 or 2 nodes. */
export async function measurePostgres(pgb: PgBench, sc: PgScenario, nodes: number, s: PgLoadSettings): Promise<PgRun> {
  const label = `postgres ${nodes} node${nodes > 1 ? 's' : ''} ${sc.name}`;
  const bad = (ms: Measurement[]): string => {
    const [n, e, t] = [ms.reduce((x, m) => x + m.non2xx, 0), ms.reduce((x, m) => x + m.errors, 0), ms.reduce((x, m) => x + m.timeouts, 0)];
    return n || e || t ? `(${n} non-2xx, ${e} errors, ${t} timeouts) ` : '';
  };
  if (s.warmupSec > 0) {
    process.stderr.write(`${label}: warm-up ${s.warmupSec} s … `);
    process.stderr.write(bad(await loads(pgb, sc, nodes, s, s.warmupSec, false)));
  }
  process.stderr.write(`measuring ${s.durationSec} s … `);
  const window = await pgb.sampler.start();
  const parts = await loads(pgb, sc, nodes, s, s.durationSec, true);
  const cpu = await window.end();
  const m = combine(parts, cpu);
  const pgCpu = cpu.postgres === null ? 'n/a' : `${Math.round(cpu.postgres)} %`;
  process.stderr.write(`${bad(parts)}${Math.round(m.rps)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms, postgres CPU ${pgCpu}\n`);
  return { nodes, m, perNode: parts.map(withoutLatencies), cpu };
}
