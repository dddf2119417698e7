/** The machine description, the console table and BENCHMARKS.md. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';
import { hasErrors, type Measurement } from './load.js';

export interface Machine {
  cpu: string;
  nproc: string;
  memory: string;
  node: string;
  kernel: string;
  date: string;
}

export interface Row {
  scenario: string;
  target: number;
  bare: Measurement;
  gateway: Measurement;
}

export interface RunSettings {
  durationSec: number;
  warmupSec: number;
  connections: number;
  retrieveTasks: number;
}

/** Sizes of the gateway's SQLite files after the run, in bytes (null: not found). */
export interface Storage {
  db: number | null;
  wal: number | null;
  tasks: number;
}

export function machine(): Machine {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch { /* not Linux */ }
  let nproc = String(availableParallelism());
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch { /* keep os.availableParallelism() */ }
  return {
    cpu, nproc,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    kernel: `Linux ${release()}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

const ratio = (r: Row): number => r.gateway.rps / r.bare.rps;
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const num = (x: number): string => Math.round(x).toLocaleString('en-US');
const ms = (x: number): string => (Number.isNaN(x) ? 'n/a' : x.toFixed(2));
const cpuPct = (x: number | null): string => (x === null ? 'n/a' : `${Math.round(x)} %`);
const errorsOf = (m: Measurement): string => `${m.non2xx} / ${m.errors} / ${m.timeouts}`;
const rowErrors = (r: Row): boolean => hasErrors(r.bare) || hasErrors(r.gateway);
const verdict = (r: Row): string =>
  rowErrors(r) ? '**NO — RUN HAD ERRORS**' : ratio(r) >= r.target ? 'yes' : '**no**';

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function latencyRows(rows: Row[]): string[][] {
  return rows.flatMap((r) =>
    (['bare', 'gateway'] as const).map((who) => {
      const m = r[who];
      return [r.scenario, who, num(m.rps), ms(m.p50), ms(m.p99), num(m.ok), errorsOf(m), cpuPct(m.serverCpu), cpuPct(m.loadCpu), cpuPct(m.machineCpu)];
    }),
  );
}

const LATENCY_HEAD = ['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', '2xx', 'non-2xx / errors / timeouts', 'server CPU', 'load-gen CPU', 'machine CPU'];
const mib = (b: number | null): string => (b === null ? 'n/a' : `${(b / 2 ** 20).toFixed(1)} MiB`);
const storageLine = (st: Storage): string =>
  `gateway SQLite files after the run (${num(st.tasks)} tasks created in all): taskgate.db ${mib(st.db)}, taskgate.db-wal ${mib(st.wal)}`;

export function consoleReport(rows: Row[], st: Storage): string {
  const summary = rows.map((r) => [r.scenario, num(r.bare.rps), num(r.gateway.rps), pct(ratio(r)), `≥ ${pct(r.target)}`, verdict(r).replace(/\*/g, '')]);
  const out = [
    table(['scenario', 'bare req/s', 'gateway req/s', 'ratio', 'target', 'met?'], summary),
    '',
    table(LATENCY_HEAD, latencyRows(rows)),
    '',
    storageLine(st),
  ];
  for (const r of rows.filter(rowErrors)) {
    out.push('', `!!!!! ${r.scenario}: THE RUN HAD ERRORS (non-2xx / errors / timeouts: bare ${errorsOf(r.bare)}, gateway ${errorsOf(r.gateway)}) — figures are not valid`);
  }
  return out.join('\n');
}

/** `postgres`: the Postgres section (bench/lib/pg-report.ts), placed after the SQLite results. */
export function writeMarkdown(file: string, m: Machine, s: RunSettings, rows: Row[], st: Storage, postgres: string): void {
  const errorLines = rows.filter(rowErrors).map((r) =>
    `> **WARNING — ${r.scenario}: this run had errors** (non-2xx / errors / timeouts: bare ${errorsOf(r.bare)}, gateway ${errorsOf(r.gateway)}). The figures below are not valid.`);
  const text = `# Benchmarks

How fast taskgate's HTTP API is compared with a bare hello-world server on the same framework
(Fastify 5), measured side by side in one run:

- **create**: \`POST /v1/midjourney/imagine\` with a bearer token and
  \`{"prompt":"a cat sitting on a table","async":true}\`: auth → validation → durable SQLite (or Postgres) insert
  → \`{"success":true,"task_id":…,"trace_id":…}\`.
- **retrieve**: \`POST /v1/midjourney/tasks\` with \`{"action":"retrieve","id":…}\`, cycling over
  ${s.retrieveTasks} tasks created beforehand (each connection cycles through its own slice of them, so it is not one hot row).
- **bare**: a Fastify hello-world (\`bench/servers/bare.ts\`, logger off): \`POST /\` parses the JSON
  body and returns a small JSON object (\`success\`, \`task_id\`, \`trace_id\`). It gets exactly the
  same headers and bodies as the gateway in each scenario.
- The gateway runs on its embedded SQLite store (the tables under Results) and on Postgres, with one
  and with two gateway nodes on one database (under Postgres).

Run it with \`npm run bench\` (\`bench/run.ts\`; it builds the server first and measures the compiled gateway, as \`npm start\` runs it). Each server runs in its own child process; the load
generator (autocannon, programmatic) runs in the parent, so on a 2-core machine each gets a core.
Everything is on loopback (127.0.0.1) only, and every load loop is bounded in time and in count.
Each scenario runs bare, then the gateway (SQLite, then Postgres); each run has a ${s.warmupSec} s warm-up (discarded) and lasts
${s.durationSec} s, ${s.connections} connections, pipelining 1. Change with \`BENCH_DURATION\`,
\`BENCH_WARMUP\`, \`BENCH_CONNECTIONS\` (seconds, seconds, count); \`BENCH_POSTGRES=0\` skips Postgres,
\`BENCH_POSTGRES_URL\` is its admin database (default \`postgres://postgres@127.0.0.1:5432/postgres\`).
This file is rewritten by each run, except the sections other scripts own.

## Machine

- CPU: ${m.cpu}
- \`nproc\`: ${m.nproc}
- Memory: ${m.memory}
- Node: ${m.node}
- OS: ${m.kernel}
- Date: ${m.date}

## Results
${errorLines.length ? `\n${errorLines.join('\n\n')}\n` : ''}
${table(['scenario', 'bare req/s', 'gateway req/s', 'ratio gateway/bare', 'target', 'met?'],
    rows.map((r) => [r.scenario, num(r.bare.rps), num(r.gateway.rps), pct(ratio(r)), `≥ ${pct(r.target)}`, verdict(r)]))}

### Latency and detail

${table(LATENCY_HEAD, latencyRows(rows))}

req/s counts 2xx responses only, divided by the run's measured duration (autocannon ends a run on
its next 1 s sample tick, so a ${s.durationSec} s run lasts up to a second longer). Latencies are per
request, in milliseconds, 2xx responses only.
CPU is the percentage of one core used over the run (server: the child process, all threads; load
generator: the parent process; machine: every process on the machine, out of ${m.nproc}00 %). A server
well below 100 % means something else was the limit; machine CPU well above server + load
generator means other work on the machine competed with the run.

${postgres.trimEnd()}

## Notes

- The gateway runs as an **API-only node** (\`dispatch.enabled: false\`): no workers, so the create
  figures measure the API path only, without the CPU-heavy demo PNG rendering competing for the
  2 cores. Created tasks stay queued; retrieve returns a queued task.
- SQLite runs in WAL mode with \`synchronous=NORMAL\` (the default \`sqliteSync: normal\`): a commit
  survives a process crash, not necessarily a power loss. \`full\` would be slower on create.
- Logging at \`warn\` (per-request access lines are off below \`debug\` anyway); the bare server has its logger off.
  Fastify still builds a child logger per request for the gateway (so every line carries its
  trace_id); turning the logger off entirely was measured at +5–10 % on retrieve.
- The gateway data dir is a fresh temp dir per run (removed at exit); the create scenario runs
  first, so retrieve runs against a table already holding those tasks. At the end of this run,
  with ${num(st.tasks)} tasks created in all, the gateway's files were: taskgate.db ${mib(st.db)},
  taskgate.db-wal ${mib(st.wal)} (SQLite's auto-checkpoint normally keeps the WAL near 4 MiB).

## What shapes these figures (measured while building the foundation, issue 2)

- **Retrieve** reads tasks from the embedded store's write-through cache (the 10,000 most recently
  used tasks; coherent because the gateway holds the SQLite file exclusively), so the 1000 polled
  tasks are all cache hits, as recent tasks are for polling clients. A cold read is one SQLite
  point query: about 6 µs here. Authenticated tokens are cached for 10 s.
- **Create** must commit before it answers (a task is never acknowledged and then lost).
  Concurrent creates share one transaction (group commit: about 12 rows per commit at 20
  connections), and task ids are UUID v7, so new rows append to the primary-key index. The
  commit still costs about 28 µs per row on this VM (about 1.8 \`pwrite\` calls per row, WAL
  frame headers and pages written separately), which is more than the bare server's whole
  request (about 25 µs).
- Under load, the socket write (\`writev\`) is the largest cost for **both** servers on this VM:
  about 14 µs per response for bare and about 22 µs for the gateway, whose idle load generator
  must be woken more often. The gateway's own code (auth, cache, render) is about 4 % of a
  retrieve's profile.
- The load generator moves the ratios by about ±10 points. A cross-check with \`wrk\` (C, one
  thread, 20 connections, 5 s) gave create 13.4k vs 31.7k req/s (42 %) and retrieve 15.0k vs
  33.6k (45 %), against autocannon's figures above.
- Before these changes the same bench gave create 4.8k req/s (12 %) and retrieve 10.3k (27 %),
  with a WAL that grew without bound (1.27 GB after 65k creates): INSERT … RETURNING read with
  \`.get()\` left statements unfinished, so SQLite never checkpointed.

## Later findings (the accounts work, issue 5)

- Two plain-JavaScript costs in the create path weighed more than the durable insert. On Node 20,
  \`{ ...task, state: 'queued', … }\` (an object spread followed by more properties) took about
  12 µs per object. The hand-made LRU of the task cache evicted with \`map.keys().next()\`,
  which skips every entry deleted from the front of the table since V8 last rehashed it: about
  4 µs per insert at 10,000 entries. Writing the object out field by field and moving the cache to
  \`lru-cache\` (about 0.15 µs per insert) took create from 17.8k to 25.1k req/s (27 % → 39 % of
  bare) and retrieve from 74 % to 75.5 % in back-to-back runs on 2026-11-30.
- On that day's VM, a create with the SQLite insert stubbed out (a by-hand experiment, not
  committed) ran at 17.9k req/s against 15.5k with it, before the two fixes above. The durable
  insert was then about 13 % of a create, not the larger share measured in issue 2 on a slower VM.

## The hardening work (issue 9)

- The create path gained a body-depth scan before parsing, an authentication hook that runs
  before the body is read, and redacting log serializers. Back-to-back runs of \`npm run bench\`
  (\`BENCH_DURATION=6\`) alternating the tree before the change (3f1656b) and after it, three of
  each, on 2026-12-02: create 19.9k / 16.1k / 15.6k req/s before and 18.4k / 17.8k / 19.0k after;
  retrieve 33.2k / 31.2k / 31.7k before and 32.8k / 28.9k / 35.1k after. That day's VM swung
  ±15 % between runs of the same tree (bare alone: 39.9k to 52.8k), so no change in either
  scenario stands out of that noise. The close-the-connection rule runs only on errors and unknown
  paths (an \`onError\` hook), not on every response.

## The operations work (issue 13)

- The gateway is measured as \`npm start\` runs it: the compiled server (\`packages/server/dist\`,
  which \`npm run bench\` builds first), no longer the TypeScript sources through tsx. A CPU profile
  of the tsx-run gateway under the retrieve load spent about 6 % of its time in esbuild's
  \`__name\` helper, which tsx wraps around every function made per request; the compiled server
  has none.
- Prometheus metrics are on in these runs, as by default. Their cost, from CPU profiles of the
  compiled gateway under this bench's load on 2026-12-07 (sampled every 200 µs for 7.5 s): 0.08 %
  of the create path's busy samples and 0.05 % of retrieve's were in the metrics code (a map
  lookup and an addition per task event; a retrieve counts nothing). Target: < 3 %. Alternating
  runs with metrics off (\`BENCH_METRICS=0\`) and on, three of each, could not resolve a
  difference that small: that day's VM swung ±15 % between runs of the same tree (create 5.3k–6.5k
  req/s off and 5.5k–5.8k on; retrieve 6.9k–9.7k off and 7.9k–9.2k on).
- Two whole runs of this bench on the finished tree, minutes apart, on that VM: SQLite create
  42.4 % and 48.7 % of bare, retrieve 81.5 % and 70.0 %; Postgres (one node) create 26.8 % and
  31.6 %, retrieve 56.1 % and 55.0 %, before the change below.
- Postgres retrieve, one node: the shared read cache trusted a live task's copy for 2 s, so the
  1,000 queued tasks this bench polls were re-read from Postgres about 500 times a second (the
  gateway's share of each re-read is a pg round trip and a row mapping, several cached answers'
  worth). The Redis feed now beats once a second and counts as complete only while the node's own
  beats come back, which notices a connection that stopped carrying messages within 3.5 s; with
  that, a live copy is trusted for 10 s. Re-reads fell to about 140 a second (\`xact_commit\` of the
  bench database), Postgres CPU during the run from 15 % to 5 %, and the ratio from 55–56 % of
  bare (three runs before) to 73.4 % (the run above).
`;
  writeFileSync(file, text + keptSections(file));
}

/** Sections other benchmarks own (bench/webhooks.ts, claims.ts, relay.ts, history.ts), kept as they are. */
const OTHER_SECTIONS = ['Webhooks', 'Claims', 'Relay', 'Stored history'];

function keptSections(file: string): string {
  let old: string;
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  return OTHER_SECTIONS.map((title) => {
    const start = old.indexOf(`\n## ${title}\n`);
    if (start < 0) return '';
    const next = old.indexOf('\n## ', start + 1);
    return old.slice(start, next < 0 ? undefined : next).replace(/\s*$/, '\n');
  }).join('');
}

/**
 * Rewrites one `## <title>` section of BENCHMARKS.md (appended if absent), leaving the rest of the
 * file as it is: the scripts that own other sections rewrite them.
 */
export function writeSection(file: string, title: string, section: string): void {
  let text = readFileSync(file, 'utf8');
  const start = text.indexOf(`\n## ${title}\n`);
  if (start === -1) text = `${text.trimEnd()}\n\n${section}`;
  else {
    const next = text.indexOf('\n## ', start + 1);
    text = `${text.slice(0, start + 1)}${section}${next === -1 ? '' : `\n${text.slice(next + 1)}`}`;
  }
  writeFileSync(file, text);
}
