/**
 * `npm run bench`: taskgate's async create and retrieve throughput against a bare Fastify
 * hello-world, side by side in one run; prints a table and rewrites BENCHMARKS.md.
 * Loopback only; every load loop is bounded in time and count; children are killed at the end,
 * on error and on SIGINT.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, stopAll, ticksPerSecond, type ServerChild } from './lib/child.js';
import { runLoad, type Measurement } from './lib/load.js';
import { consoleReport, machine, writeMarkdown, type Row, type RunSettings, type Storage } from './lib/report.js';

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
const CREATE_BODY = JSON.stringify({ prompt: 'a cat sitting on a table', async: true });

interface Scenario {
  name: string;
  target: number;
  gatewayPath: string;
  bodies: string[];
}

async function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch { /* reported below */ }
  return { status: res.status, json };
}

/** Creates `count` tasks (10 at a time) and returns their ids; fails on any non-200. */
async function createTasks(gw: ServerChild, headers: Record<string, string>, count: number): Promise<string[]> {
  const ids: string[] = [];
  const one = async (): Promise<void> => {
    const { status, json } = await post(`${gw.info.url}/v1/midjourney/imagine`, headers, CREATE_BODY);
    const id = (json as { task_id?: unknown } | null)?.task_id;
    if (status !== 200 || typeof id !== 'string') throw new Error(`create answered ${status}: ${JSON.stringify(json)}`);
    ids.push(id);
  };
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (ids.length < count) await one();
  }));
  return ids.slice(0, count);
}

async function check(name: string, url: string, headers: Record<string, string>, body: string): Promise<void> {
  const { status, json } = await post(url, headers, body);
  if (status !== 200 || typeof json !== 'object' || json === null) {
    throw new Error(`sanity check ${name} failed: ${status} ${JSON.stringify(json)}`);
  }
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

async function main(): Promise<void> {
  const bare = await startServer('bare', 'bench/servers/bare.ts');
  const gw = await startServer('gateway', 'bench/servers/gateway.ts');
  if (!gw.info.token) throw new Error('the gateway did not report a token');
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${gw.info.token}` };
  process.stderr.write(`bare at ${bare.info.url}, gateway at ${gw.info.url}\n`);

  await check('bare', `${bare.info.url}/`, headers, CREATE_BODY);
  process.stderr.write(`creating ${settings.retrieveTasks} tasks for retrieve … `);
  const ids = await createTasks(gw, headers, settings.retrieveTasks);
  process.stderr.write('done\n');
  const retrieveBodies = ids.map((id) => JSON.stringify({ action: 'retrieve', id }));
  await check('gateway retrieve', `${gw.info.url}/v1/midjourney/tasks`, headers, retrieveBodies[0]!);

  const scenarios: Scenario[] = [
    { name: 'create', target: 0.5, gatewayPath: '/v1/midjourney/imagine', bodies: [CREATE_BODY] },
    { name: 'retrieve', target: 0.75, gatewayPath: '/v1/midjourney/tasks', bodies: retrieveBodies },
  ];
  const rows: Row[] = [];
  let created = 0;
  for (const s of scenarios) {
    const [bareM] = await measure(bare, '/', headers, s.bodies, `bare ${s.name}`);
    const [gwM, gwOk] = await measure(gw, s.gatewayPath, headers, s.bodies, `gateway ${s.name}`);
    if (s.name === 'create') created += gwOk;
    rows.push({ scenario: s.name, target: s.target, bare: bareM, gateway: gwM });
  }

  const dir = gw.info.dataDir;
  const storage: Storage = {
    db: dir ? sizeOf(join(dir, 'taskgate.db')) : null,
    wal: dir ? sizeOf(join(dir, 'taskgate.db-wal')) : null,
    tasks: settings.retrieveTasks + created,
  };
  const m = machine();
  process.stdout.write(`\n${m.cpu} · nproc ${m.nproc} · ${m.memory} · Node ${m.node} · ${m.date}\n\n${consoleReport(rows, storage)}\n`);
  writeMarkdown(BENCHMARKS_MD, m, settings, rows, storage);
  process.stdout.write(`\nwrote ${BENCHMARKS_MD}\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the servers\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  process.stderr.write(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
} finally {
  await stopAll();
}
