/**
 * Relay bench: `npm run bench:relay`. Loopback only; bounded in count (BENCH_RELAY_TASKS, default
 * 10,000; BENCH_RELAY_LARGE, default 100,000, 0 skips it) and in time (every wait has a deadline).
 *
 * The gateway runs as a child process (this file with BENCH_RELAY_ROLE=gateway) with one relayed
 * service whose channel is the task API fixture upstream, run in this process. Per run:
 * 1. the fixture holds every task it is given (queued, never finishing); N tasks are created on
 *    the gateway (async, 64 creates at a time) and submitted upstream;
 * 2. hold: with all N in flight, the gateway polls them for three poll intervals; its RSS over
 *    its idle RSS (measured before the first create) is the memory per in-flight task, and the
 *    poll requests of this window are the requests per task per poll interval;
 * 3. release: the fixture finishes every task at a random time over the next 60 s (sending its
 *    callback then, in the runs with callbacks); the run ends when none is in flight.
 * Lag = the task's `finished_at` in the gateway's database (read after the run) − the moment the
 * fixture finished it upstream; it includes the copy of the output file into taskgate's store.
 * Rewrites only the "## Relay" section of BENCHMARKS.md (BENCH_RELAY_NO_WRITE=1: prints only).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import type { Gateway } from '../packages/server/src/http/gateway.js';
import { compiledServer } from './lib/compiled.js';
import { startTaskApiUpstream, type TaskApiUpstream } from '../packages/server/test/fixtures/task-api-upstream.js';
import { startServer, stopAll, type ServerChild } from './lib/child.js';
import { writeRelaySection, type RelayRun } from './lib/relay-report.js';

const SERVICE = 'bench/relay';
const ADMIN = 'tga_bench_relay_admin_token';
const UP_KEY = 'bench-upstream-key';
const INTERVAL_MS = 5000;
/** How long the fixture takes to finish the released tasks (BENCH_RELAY_SPREAD seconds, default 60). */
const SPREAD_MS = Number(process.env.BENCH_RELAY_SPREAD ?? 60) * 1000;
/** Tasks run through the gateway before its idle RSS is read. */
const WARM_UP = 1000;

async function runGateway(): Promise<void> {
  let gw: Gateway | null = null;
  // BENCH_RELAY_PROFILE=FILE: the gateway writes a V8 CPU profile (.cpuprofile) there when it stops.
  const profile = process.env.BENCH_RELAY_PROFILE ? await startProfile() : null;
  const stop = async (): Promise<void> => {
    setTimeout(() => process.exit(0), 10_000).unref();
    await gw?.close();
    if (profile) writeFileSync(process.env.BENCH_RELAY_PROFILE!, JSON.stringify(await profile()));
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  // SIGUSR2: a full garbage collection (before the bench reads RSS), then the heap figures.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  process.on('SIGUSR2', () => {
    for (let i = 0; i < 4; i++) gc();
    // RSS right after the collections (a second later, polls have filled the young generation again).
    if (process.env.BENCH_RELAY_RSS_FILE) writeFileSync(process.env.BENCH_RELAY_RSS_FILE, String(process.memoryUsage.rss()));
    process.stderr.write(`gateway loop delay max ${Math.round(loop.max / 1e6)} ms p99 ${Math.round(loop.percentile(99) / 1e6)} ms\n`);
    const m = process.memoryUsage();
    process.stderr.write(`memory: ${JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / 2 ** 20)])))} MiB\n`);
    const spaces = getHeapSpaceStatistics().map((s) => `${s.space_name} ${Math.round(s.space_size / 2 ** 20)}/${Math.round(s.space_used_size / 2 ** 20)}`);
    process.stderr.write(`heap spaces (MiB committed/used): ${spaces.join(', ')}\n`);
  });
  const env = process.env;
  const port = Number(env.BENCH_RELAY_PORT);
  const { createGateway, parseConfig } = await compiledServer();
  const config = parseConfig({
    host: '127.0.0.1', port, logLevel: 'warn',
    publicUrl: env.BENCH_RELAY_CALLBACKS === '1' ? `http://127.0.0.1:${port}` : null,
    dispatch: { maxConcurrency: 32 },
    services: {
      [SERVICE]: {
        mode: 'async', concurrency: 32, timeoutMs: 3_600_000,
        channels: [{
          name: 'fixture', provider: 'task-api', baseUrl: `${env.BENCH_RELAY_UPSTREAM}/v1`, apiKey: UP_KEY, model: 'flux/dev',
          maxConcurrency: 1_000_000, pollBatchSize: Number(env.BENCH_RELAY_BATCH), poll: { initialMs: INTERVAL_MS, maxMs: INTERVAL_MS, factor: 1 },
        }],
      },
    },
  });
  gw = await createGateway({ config, dataDir: env.BENCH_RELAY_DATA!, adminToken: ADMIN });
  const url = await gw.listen();
  process.stdout.write(`${JSON.stringify({ url, token: (await gw.tokens.create('bench')).token })}\n`);
}

async function startProfile(): Promise<() => Promise<unknown>> {
  const session = new Session();
  session.connect();
  const post = (method: string): Promise<unknown> => new Promise((resolve, reject) => {
    session.post(method, (err, result) => (err ? reject(err) : resolve(result)));
  });
  await post('Profiler.enable');
  await post('Profiler.start');
  return async () => ((await post('Profiler.stop')) as { profile: unknown }).profile;
}

function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 1_000_000) throw new Error(`${name} must be an integer from 0 to 1,000,000`);
  return n;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function request(gw: ServerChild, method: string, path: string, token: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gw.info.url}${path}`, {
    method, signal: AbortSignal.timeout(30_000),
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

async function inFlight(gw: ServerChild): Promise<number> {
  const view = await request(gw, 'GET', '/admin/channels', ADMIN);
  return (view.items as Array<{ in_flight: number }>)[0]!.in_flight;
}

async function until(what: string, pred: () => Promise<boolean>, deadline: number, everyMs = 250): Promise<void> {
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The gateway's RSS right after a full garbage collection (its SIGUSR2 handler runs one). */
async function settledRss(gw: ServerChild): Promise<number> {
  const file = process.env.BENCH_RELAY_RSS_FILE!;
  rmSync(file, { force: true });
  process.kill(gw.pid, 'SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error('the gateway did not report its RSS');
    await sleep(20);
  }
  await sleep(20);
  return Number(readFileSync(file, 'utf8'));
}

async function createAll(gw: ServerChild, count: number, deadline: number): Promise<void> {
  let started = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (started < count) {
      if (Date.now() > deadline) throw new Error(`only ${started} of ${count} tasks created in time`);
      started++;
      await request(gw, 'POST', `/v1/${SERVICE}`, gw.info.token!, { prompt: `relay bench ${started}`, async: true });
    }
  }));
}

/** Task polls carried by the fixture's poll requests from index `from`. */
function pollsSince(up: TaskApiUpstream, from: number): { requests: number; taskPolls: number } {
  let requests = 0;
  let taskPolls = 0;
  for (const r of up.requests.slice(from)) {
    if (r.route !== 'poll') continue;
    requests++;
    const ids = (r.body as { ids?: unknown[] } | undefined)?.ids;
    taskPolls += Array.isArray(ids) ? ids.length : 1;
  }
  return { requests, taskPolls };
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

async function run(count: number, callbacks: boolean, batch: number): Promise<RelayRun> {
  const label = `${count.toLocaleString('en-US')} tasks, ${batch > 1 ? 'batch' : 'single'} polls, ${callbacks ? 'callbacks' : 'no callbacks'}`;
  console.log(`run: ${label}`);
  const up = await startTaskApiUpstream({ token: UP_KEY });
  up.hold = true;
  const dataDir = mkdtempSync(join(tmpdir(), 'taskgate-relaybench-'));
  try {
    Object.assign(process.env, {
      BENCH_RELAY_ROLE: 'gateway', BENCH_RELAY_DATA: dataDir, BENCH_RELAY_UPSTREAM: up.url, BENCH_RELAY_PORT: String(await freePort()),
      BENCH_RELAY_CALLBACKS: callbacks ? '1' : '0', BENCH_RELAY_BATCH: String(batch), BENCH_RELAY_RSS_FILE: join(dataDir, 'rss'),
    });
    const gw = await startServer('gateway', fileURLToPath(import.meta.url));
    // Warm-up: a gateway that has served (compiled code, allocator arenas), not a fresh process,
    // is the baseline the in-flight memory is measured against. Its tasks count nowhere below.
    const warm = Math.min(WARM_UP, count);
    await createAll(gw, warm, Date.now() + 120_000);
    await until('the warm-up tasks in flight', async () => (await inFlight(gw)) >= warm, Date.now() + 120_000);
    up.release(() => 100);
    await until('the warm-up tasks to end', async () => (await inFlight(gw)) === 0, Date.now() + 120_000);
    await sleep(2000);
    const base = up.requests.length;
    const warmCallbacks = up.callbacks.length;
    const idleRss = await settledRss(gw);
    const cpuStart = gw.cpuSeconds() ?? 0;
    const createdFrom = Date.now();
    await createAll(gw, count, createdFrom + Math.max(120_000, count * 10));
    console.log(`  ${count} created in ${((Date.now() - createdFrom) / 1000).toFixed(1)} s`);
    let seen = 0;
    let shown = Date.now();
    await until(`${count} tasks in flight upstream`, async () => {
      seen = await inFlight(gw);
      if (Date.now() - shown > 10_000) {
        console.log(`  ${seen} in flight after ${((Date.now() - createdFrom) / 1000).toFixed(0)} s`);
        shown = Date.now();
      }
      return seen >= count;
    }, Date.now() + 120_000 + count * 5);
    const createSec = (Date.now() - createdFrom) / 1000;
    console.log(`  ${count} in flight after ${createSec.toFixed(1)} s; holding`);

    // Hold: every task in flight, polled, none finishing.
    const holdMs = 3 * INTERVAL_MS;
    const holdFrom = up.requests.length;
    const holdCpu = gw.cpuSeconds() ?? 0;
    await sleep(holdMs);
    const hold = pollsSince(up, holdFrom);
    const holdCpuSec = (gw.cpuSeconds() ?? 0) - holdCpu;
    const peakRss = await settledRss(gw);

    // Release: each finishes upstream at a random time over the next minute.
    const released = up.release(() => Math.round(1000 + Math.random() * SPREAD_MS));
    if (released !== count) throw new Error(`the fixture held ${released} tasks, not ${count}`);
    await until('every task to end', async () => (await inFlight(gw)) === 0, Date.now() + SPREAD_MS + 10 * INTERVAL_MS + 60_000, 500);
    const cpuSec = (gw.cpuSeconds() ?? 0) - cpuStart;
    await stopAll();

    const db = new Database(join(dataDir, 'taskgate.db'), { readonly: true });
    const rows = db.prepare<[number], { id: string; state: string; finished_at: number; upstream_id: string }>(
      'SELECT t.id, t.state, t.finished_at, u.upstream_id FROM tasks t JOIN upstream_tasks u ON u.task_id = t.id WHERE t.created_at >= ?',
    ).all(createdFrom);
    db.close();
    const byTask = new Map(rows.map((r) => [r.id, r]));
    const lags: number[] = [];
    let failed = 0;
    for (const row of rows) {
      if (row.state !== 'succeeded') failed++;
      const upstream = up.tasks.get(row.upstream_id);
      if (upstream) lags.push(row.finished_at - upstream.finishAt);
    }
    lags.sort((a, b) => a - b);
    // With callbacks: upstream finish → callback answered, and callback answered → terminal.
    const delivery: number[] = [];
    const after: number[] = [];
    let undelivered = 0;
    for (const cb of up.callbacks.slice(warmCallbacks)) {
      const row = byTask.get(decodeURIComponent(new URL(cb.url).pathname.split('/')[4] ?? ''));
      const upstream = row && up.tasks.get(row.upstream_id);
      if (!row || !upstream || cb.status !== 200 || cb.answeredAt === null) {
        undelivered++;
        continue;
      }
      delivery.push(cb.answeredAt - upstream.finishAt);
      after.push(row.finished_at - cb.answeredAt);
    }
    delivery.sort((a, b) => a - b);
    after.sort((a, b) => a - b);
    const spread = (xs: number[]) => (xs.length === 0 ? null : { p50: pct(xs, 50), p99: pct(xs, 99) });
    const total = pollsSince(up, base);
    const measured = up.requests.slice(base);
    const creates = measured.filter((r) => r.route === 'create').length;
    const files = measured.filter((r) => r.route === 'file').length;
    const result: RelayRun = {
      label, count, callbacks, batch, createSec,
      lag: { p50: pct(lags, 50), p99: pct(lags, 99), max: lags.at(-1) ?? NaN },
      failed: failed + (count - rows.length),
      callbacksSeen: callbacks ? { undelivered, delivery: spread(delivery), afterCallback: spread(after) } : null,
      creates, polls: total.requests, files,
      holdRequestsPerTaskInterval: hold.requests / (count * (holdMs / INTERVAL_MS)),
      holdTaskPollsPerRequest: hold.requests === 0 ? 0 : hold.taskPolls / hold.requests,
      rssPerTask: (peakRss - idleRss) / count, idleRss, peakRss,
      cpuMsPerTask: (cpuSec * 1000) / count, holdCpuPct: (100 * holdCpuSec) / (holdMs / 1000),
    };
    console.log(`  lag p50 ${result.lag.p50} ms, p99 ${result.lag.p99} ms, max ${result.lag.max} ms; ${(result.polls / count).toFixed(2)} polls/task; ` +
      `${result.holdRequestsPerTaskInterval.toFixed(3)} req/task/interval; RSS ${(result.rssPerTask / 1024).toFixed(2)} KiB/task; CPU ${result.cpuMsPerTask.toFixed(2)} ms/task`);
    if (result.callbacksSeen) console.log(`  callbacks: ${JSON.stringify(result.callbacksSeen)}`);
    return result;
  } finally {
    await stopAll();
    await up.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  setInterval(() => {
    if (loop.max > 1e9) console.log(`bench loop delay max ${Math.round(loop.max / 1e6)} ms`);
    loop.reset();
  }, 2000).unref();
  const count = envCount('BENCH_RELAY_TASKS', 10_000);
  const large = envCount('BENCH_RELAY_LARGE', 100_000);
  process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)));
  const runs: RelayRun[] = [];
  const only = process.env.BENCH_RELAY_ONLY; // e.g. "100:cb" — one run (batch size : cb | poll), for a quick look
  if (only) {
    const [batch, mode] = only.split(':');
    runs.push(await run(count, mode === 'cb', Number(batch)));
    console.log(JSON.stringify(runs[0]));
    return;
  }
  for (const batch of [100, 1]) for (const callbacks of [false, true]) runs.push(await run(count, callbacks, batch));
  // One request per task poll at 100,000 in flight would be 20,000 requests/s: batch only.
  if (large > 0) for (const callbacks of [false, true]) runs.push(await run(large, callbacks, 100));
  if (process.env.BENCH_RELAY_NO_WRITE !== '1') writeRelaySection(fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url)), runs, { intervalMs: INTERVAL_MS, spreadMs: SPREAD_MS });
}

if (process.env.BENCH_RELAY_ROLE === 'gateway') {
  await runGateway().catch((err: unknown) => {
    process.stderr.write(`gateway failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
} else {
  await main().catch(async (err: unknown) => {
    console.error(err);
    await stopAll();
    process.exitCode = 1;
  });
}
