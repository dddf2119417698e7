/**
 * Webhook delivery bench: `npm run bench:webhooks`. Loopback only, bounded in count
 * (BENCH_WH_TASKS, default 2000) and time (BENCH_WH_TIMEOUT seconds per phase, default 120).
 *
 * The gateway runs as a child process (this same file with BENCH_WEBHOOKS_ROLE=gateway); a local
 * receiver in this process answers every webhook 200 and records when it arrived.
 * - live: tasks with a callback_url are created and run (a ~0 ms service, 64×64 PNGs) while
 *   their webhooks go out; deliveries/s = deliveries received / (last receipt − first task
 *   finished_at); lag = receipt − the task's finished_at (read back via the task API).
 * - backlog: the same number of finished tasks whose deliveries piled up while webhooks were off;
 *   a gateway with webhooks on then drains them: pure delivery throughput.
 * Rewrites only the "## Webhooks" section of BENCHMARKS.md (appended if absent).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Gateway } from '../packages/server/src/http/gateway.js';
import { compiledServer } from './lib/compiled.js';
import { startServer, stopAll, type ServerChild } from './lib/child.js';
import { machine, writeSection } from './lib/report.js';

const SERVICE = 'bench/image';

async function runGateway(): Promise<void> {
  let gw: Gateway | null = null;
  let stopping = false;
  const stop = async (code = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(code), 5000).unref();
    try {
      await gw?.close();
    } finally {
      process.exit(code);
    }
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  const { createGateway, parseConfig } = await compiledServer();
  const config = parseConfig({
    host: '127.0.0.1', port: 0, logLevel: 'warn',
    dispatch: { maxConcurrency: 16 },
    webhooks: { enabled: process.env.BENCH_WH_DELIVER === '1', allowPrivateCallbacks: true },
    services: {
      [SERVICE]: { provider: 'demo-image', mode: 'async', concurrency: 16, options: { latencyMs: 0, steps: 1, defaultWidth: 64, defaultHeight: 64 } },
    },
  });
  gw = await createGateway({ config, dataDir: process.env.BENCH_WH_DATA!, adminToken: 'tga_bench_webhooks_admin' });
  const url = await gw.listen();
  const token = process.env.BENCH_WH_TOKEN ?? (await gw.tokens.create('bench')).token;
  process.stdout.write(`${JSON.stringify({ url, token })}\n`);
}

function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number ≥ ${min}`);
  return n;
}

const now = (): number => performance.timeOrigin + performance.now();

/** Receives webhooks: first receipt time per webhook-id, and its task id. */
async function startReceiver() {
  const first = new Map<string, { at: number; taskId: string }>();
  let total = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = now();
      total++;
      const id = String(req.headers['webhook-id']);
      if (!first.has(id)) first.set(id, { at, taskId: String((JSON.parse(Buffer.concat(chunks).toString()) as { task_id?: unknown }).task_id) });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    hook: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, first,
    total: () => total,
    reset: () => { first.clear(); total = 0; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function post(gw: ServerChild, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gw.info.url}${path}`, {
    method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000),
    headers: { authorization: `Bearer ${gw.info.token}`, 'content-type': 'application/json' },
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

async function createTasks(gw: ServerChild, hook: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  let started = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (started < count) {
      started++;
      const r = await post(gw, `/v1/${SERVICE}`, { prompt: 'a webhook bench cat', callback_url: hook });
      ids.push(String(r.task_id));
    }
  }));
  return ids;
}

/** finished_at (Unix ms) of each task, read through the task API; waits (bounded) until all have one. */
async function finishedAt(gw: ServerChild, ids: string[], deadline: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (;;) {
    const missing = ids.filter((id) => !out.has(id));
    for (let i = 0; i < missing.length; i += 100) {
      const r = await post(gw, `/v1/${SERVICE.split('/')[0]}/tasks`, { action: 'retrieve_batch', ids: missing.slice(i, i + 100) });
      for (const item of r.items as Array<{ id: string; finished_at?: number }>) if (item.finished_at !== undefined) out.set(item.id, item.finished_at * 1000);
    }
    if (out.size === ids.length) return out;
    if (Date.now() > deadline) throw new Error(`only ${out.size} of ${ids.length} tasks finished in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function until(what: string, pred: () => boolean, deadline: number): Promise<void> {
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function gateway(name: string, dataDir: string, deliver: boolean, token?: string): Promise<ServerChild> {
  Object.assign(process.env, { BENCH_WEBHOOKS_ROLE: 'gateway', BENCH_WH_DATA: dataDir, BENCH_WH_DELIVER: deliver ? '1' : '0' });
  if (token) process.env.BENCH_WH_TOKEN = token;
  else delete process.env.BENCH_WH_TOKEN;
  return startServer(name, fileURLToPath(import.meta.url));
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const f1 = (x: number): string => x.toFixed(1);
const int = (x: number): string => Math.round(x).toLocaleString('en-US');

async function main(): Promise<void> {
  const count = Math.floor(envNumber('BENCH_WH_TASKS', 2000, 1));
  const phaseMs = envNumber('BENCH_WH_TIMEOUT', 120, 5) * 1000;
  const rx = await startReceiver();
  const dirs = [mkdtempSync(join(tmpdir(), 'taskgate-whbench-')), mkdtempSync(join(tmpdir(), 'taskgate-whbench-'))];
  const cleanup = (): void => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  process.once('SIGINT', () => void stopAll().finally(() => { cleanup(); process.exit(130); }));
  try {
    // Live: create, run and deliver together.
    let gw = await gateway('gateway-live', dirs[0]!, true);
    let deadline = Date.now() + phaseMs;
    const ids = await createTasks(gw, rx.hook, count);
    await until(`${count} live webhooks`, () => rx.first.size >= count, deadline);
    const fin = await finishedAt(gw, ids, deadline);
    await stopAll();
    const receipts = [...rx.first.values()];
    const lags = receipts.map((r) => {
      const finished = fin.get(r.taskId);
      if (finished === undefined) throw new Error(`a webhook named task ${r.taskId}, not one of this run's`);
      return r.at - finished;
    }).sort((a, b) => a - b);
    const span = Math.max(...receipts.map((r) => r.at)) - Math.min(...fin.values());
    const live = { rate: receipts.length / (span / 1000), p50: pct(lags, 50), p99: pct(lags, 99), max: lags.at(-1)!, dupes: rx.total() - rx.first.size, span };
    console.log(`live: ${int(live.rate)} deliveries/s, lag p50 ${f1(live.p50)} ms, p99 ${f1(live.p99)} ms, max ${f1(live.max)} ms`);

    // Backlog: finish every task with webhooks off, then drain the outbox.
    rx.reset();
    gw = await gateway('gateway-api', dirs[1]!, false);
    deadline = Date.now() + phaseMs;
    const token = gw.info.token!;
    await finishedAt(gw, await createTasks(gw, rx.hook, count), deadline);
    await stopAll();
    const startedAt = now();
    gw = await gateway('gateway-drain', dirs[1]!, true, token);
    deadline = Date.now() + phaseMs;
    await until(`${count} backlog webhooks`, () => rx.first.size >= count, deadline);
    await stopAll();
    const times = [...rx.first.values()].map((r) => r.at);
    const drainSpan = Math.max(...times) - Math.min(...times);
    const drain = { rate: count / (drainSpan / 1000), span: drainSpan, fromStart: Math.max(...times) - startedAt, dupes: rx.total() - rx.first.size };
    console.log(`backlog: ${int(drain.rate)} deliveries/s (${count} in ${int(drain.span)} ms)`);
    writeWebhooksSection(count, live, drain);
  } finally {
    await stopAll();
    await rx.close();
    cleanup();
  }
}

function writeWebhooksSection(count: number, live: { rate: number; p50: number; p99: number; max: number; dupes: number; span: number }, drain: { rate: number; span: number; fromStart: number; dupes: number }): void {
  const file = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
  const m = machine();
  const section = `## Webhooks

Webhook delivery (\`npm run bench:webhooks\`; this section is rewritten by that script,
the rest of the file by \`npm run bench\`). The gateway runs as a child process with its defaults
(16 deliveries in flight, signing with the token's secret, 15 s timeout) except
\`allowPrivateCallbacks\`; a receiver on 127.0.0.1 in the parent answers every webhook 200. ${int(count)} tasks of a
~0 ms demo service (64×64 PNG, 16 at once) are created with a \`callback_url\`, 16 creates at a time.

| run | deliveries | deliveries/s | lag p50 | lag p99 | lag max | duplicates |
| --- | --- | --- | --- | --- | --- | --- |
| live (create → run → deliver) | ${int(count)} | ${int(live.rate)} | ${f1(live.p50)} ms | ${f1(live.p99)} ms | ${f1(live.max)} ms | ${live.dupes} |
| backlog drain | ${int(count)} | ${int(drain.rate)} | n/a | n/a | n/a | ${drain.dupes} |

- **live**: deliveries/s = deliveries received / (last receipt − first task's \`finished_at\`),
  ${int(live.span)} ms here; it is bounded by how fast tasks are created and run, not only by delivery.
  Lag = receipt at the receiver − the task's \`finished_at\` (task API \`retrieve_batch\`, the outbox
  row commits in the same transaction as the finish).
- **backlog drain**: the same number of tasks finished while webhooks were off (their deliveries
  waited in the outbox); a gateway with webhooks on then sent them all: pure delivery throughput,
  first to last receipt (${int(drain.span)} ms; ${int(drain.fromStart)} ms from the gateway's start).
- Machine: ${m.cpu}, \`nproc\` ${m.nproc}, ${m.memory}, Node ${m.node}, ${m.kernel}; ${m.date}.
`;
  writeSection(file, 'Webhooks', section);
}

if (process.env.BENCH_WEBHOOKS_ROLE === 'gateway') {
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
