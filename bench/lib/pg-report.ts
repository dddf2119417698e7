/** The Postgres part of the console report and of BENCHMARKS.md (inside the part `npm run bench` rewrites). */
import { hasErrors, type Measurement } from './load.js';
import type { PgRow, PgRun } from './pg-bench.js';
import type { PgFacts } from './postgres.js';
import type { Machine, Row, RunSettings } from './report.js';

export interface PgResult {
  rows: PgRow[];
  /** Why the part was skipped or is incomplete; null when it ran in full. */
  problem: string | null;
  facts: PgFacts | null;
  storage: { bytes: number; tasks: number } | null;
}

const num = (x: number): string => Math.round(x).toLocaleString('en-US');
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const times = (x: number): string => `${x.toFixed(2)}×`;
const ms = (x: number): string => (Number.isNaN(x) ? 'n/a' : x.toFixed(2));
const cpu = (x: number | null): string => (x === null ? 'n/a' : `${Math.round(x)} %`);
const errs = (m: Measurement): string => `${m.non2xx} / ${m.errors} / ${m.timeouts}`;
const nodesLabel = (r: PgRun): string => (r.nodes === 1 ? '1 node' : `${r.nodes} nodes`);

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

const verdict = (ok: boolean, ...ms: Measurement[]): string => (ms.some(hasErrors) ? '**NO — RUN HAD ERRORS**' : ok ? 'yes' : '**no**');

function checks(rows: PgRow[]): string[][] {
  const out: string[][] = [];
  for (const r of rows) {
    const one = r.one.m.rps / r.bare.rps;
    out.push([`${r.scenario}, 1 node / bare`, `${num(r.one.m.rps)} / ${num(r.bare.rps)} = ${pct(one)}`, `≥ ${pct(r.target)}`, verdict(one >= r.target, r.bare, r.one.m)]);
  }
  for (const r of rows.filter((x) => x.twoNodeTarget !== null)) {
    const two = r.two.m.rps / r.one.m.rps;
    out.push([`${r.scenario}, 2 nodes / 1 node`, `${num(r.two.m.rps)} / ${num(r.one.m.rps)} = ${times(two)}`, `≥ ${times(r.twoNodeTarget!)}`, verdict(two >= r.twoNodeTarget!, r.one.m, r.two.m)]);
  }
  return out;
}

function rates(rows: PgRow[], sqlite: Row[]): string[][] {
  return rows.map((r) => {
    const lite = sqlite.find((x) => x.scenario === r.scenario)?.gateway.rps;
    return [r.scenario, num(r.bare.rps), lite === undefined ? 'n/a' : num(lite), num(r.one.m.rps), pct(r.one.m.rps / r.bare.rps),
      num(r.two.m.rps), pct(r.two.m.rps / r.bare.rps), times(r.two.m.rps / r.one.m.rps)];
  });
}
const RATES_HEAD = ['scenario', 'bare req/s', 'SQLite gateway req/s', 'Postgres 1 node req/s', '1 node / bare', 'Postgres 2 nodes req/s', '2 nodes / bare', '2 nodes / 1 node'];

/** A value per node, then their sum: `118 % (A 60 % + B 58 %)`. */
const split = (total: string, parts: string[]): string => (parts.length < 2 ? total : `${total} (${parts.map((p, i) => `${'AB'[i] ?? i} ${p}`).join(' + ')})`);

function details(rows: PgRow[]): string[][] {
  return rows.flatMap((r) => [r.one, r.two].map((run) => [
    r.scenario, nodesLabel(run),
    split(num(run.m.rps), run.perNode.map((m) => num(m.rps))), ms(run.m.p50), ms(run.m.p99), num(run.m.ok), errs(run.m),
    split(cpu(run.m.serverCpu), run.perNode.map((m) => cpu(m.serverCpu))),
    `${cpu(run.cpu.postgres)} (${cpu(run.cpu.backends)})`, cpu(run.cpu.loadGen), cpu(run.cpu.machine),
  ]));
}
const DETAIL_HEAD = ['scenario', 'Postgres', 'req/s', 'p50 ms', 'p99 ms', '2xx', 'non-2xx / errors / timeouts', 'gateway CPU', 'Postgres CPU (bench backends)', 'load-gen CPU', 'machine CPU'];

/** CPU time per 2xx answer, in µs, of the gateway node(s), Postgres, the load generator and the whole machine. */
function perRequest(run: PgRun): string {
  const us = (p: number | null): string => (p === null || run.m.rps === 0 ? 'n/a' : `${Math.round((p / 100 / run.m.rps) * 1e6)} µs`);
  return `gateway ${us(run.m.serverCpu)}, Postgres ${us(run.cpu.postgres)}, load generator ${us(run.cpu.loadGen)}; whole machine ${us(run.cpu.machine)}`;
}

/** The largest shares of the wait-event samples: `IO:WALSync 40 %, CPU 20 %, …`. */
const waits = (run: PgRun, top = 4): string =>
  run.cpu.waits.length === 0 ? 'n/a' : run.cpu.waits.slice(0, top).map(([w, x]) => `${w} ${Math.round(100 * x)} %`).join(', ');

function waitLines(rows: PgRow[]): string {
  return rows.flatMap((r) => [r.one, r.two].map((run) => `- ${r.scenario}, ${nodesLabel(run)}: ${waits(run)}`)).join('\n');
}

/** What the two-node create run shows on this machine, from its own figures. */
function twoNodes(rows: PgRow[], m: Machine): string {
  const r = rows.find((x) => x.twoNodeTarget !== null);
  if (!r) return '';
  const target = r.twoNodeTarget!;
  const cap = (Number(m.nproc) || 0) * 100;
  const busy = (run: PgRun): string =>
    `the machine ${cpu(run.cpu.machine)} busy of ${cap} % (gateway ${cpu(run.m.serverCpu)}, Postgres ${cpu(run.cpu.postgres)}, load generator ${cpu(run.cpu.loadGen)})`;
  const ratio = r.two.m.rps / r.one.m.rps;
  // Even if a second node cost no CPU per answer beyond one node's, the idle rest of the machine bounds the gain.
  const headroom = r.one.cpu.machine && cap ? cap / r.one.cpu.machine : null;
  // CPU the target rate would need at the two-node run's whole-machine cost per answer, in cores.
  const needCores = r.two.cpu.machine !== null && r.two.m.rps > 0 ? (target * r.one.m.rps * (r.two.cpu.machine / r.two.m.rps)) / 100 : null;
  const lines = [
    `### Two nodes on this machine`,
    '',
    `The ${times(target)} target assumes the second node brings CPU of its own. Here ${m.nproc} cores run the load generator, ` +
      `every gateway node and Postgres together. ${r.scenario}: one node ran ${num(r.one.m.rps)} req/s with ${busy(r.one)}; ` +
      `two nodes ran ${num(r.two.m.rps)} req/s (${times(ratio)}) with ${busy(r.two)}.`,
    '',
    `CPU per ${r.scenario} answer, one node: ${perRequest(r.one)}; two nodes: ${perRequest(r.two)}. ` +
      `The gateways' Postgres backends (sampled every 100 ms): one node ${waits(r.one, 3)}; two nodes ${waits(r.two, 3)}.`,
    '',
  ];
  const other = (run: PgRun): number | null =>
    run.cpu.machine === null || run.m.serverCpu === null || run.cpu.postgres === null ? null : run.cpu.machine - run.m.serverCpu - run.cpu.postgres - run.cpu.loadGen;
  const unaccounted = [r.one, r.two].map(other);
  if (unaccounted.some((x) => x !== null && x > 20)) {
    lines.push(`Of the machine's busy time, ${unaccounted.map(cpu).join(' (one node) and ')} (two nodes) were used by none of the ` +
      `processes measured: kernel work not charged to them (loopback networking, the WAL flushes) or other work on the machine, ` +
      `which would also have slowed this run.`, '');
  }
  if (headroom !== null && headroom < target) {
    lines.push(`The one-node run already used ${cpu(r.one.cpu.machine)} of ${cap} %: even if a second node cost no extra CPU per answer, ` +
      `the idle rest of the machine allows at most ${times(headroom)} one node's rate, below the target. A second node can only ` +
      `take CPU from the first node, Postgres and the load generator${needCores === null ? '' : `, and ${times(target)} one node's rate ` +
      `at the two-node run's whole-machine CPU per answer would need about ${needCores.toFixed(1)} cores`}. So this run shows two ` +
      `nodes serving one database correctly under load (${hasErrors(r.two.m) ? '**it had errors, see the tables**' : 'every answer 2xx'}), ` +
      `not how far nodes scale: that needs Postgres and the load generator on other machines (or cores enough for every process).`);
  } else {
    lines.push(`The one-node run left enough of the machine idle for ${times(target)}${headroom === null ? '' : ` (at most ${times(headroom)})`}, so CPU alone ` +
      `does not bound two nodes here: the backends' samples above show where their time went.`);
  }
  return lines.join('\n');
}

export function postgresConsole(res: PgResult): string {
  if (res.rows.length === 0) return `Postgres: not measured (${res.problem ?? 'no rows'})`;
  const out = [
    table(['check', 'measured', 'target', 'met?'], checks(res.rows)).replace(/\*/g, ''),
    '',
    table(DETAIL_HEAD, details(res.rows)),
  ];
  out.push('', 'What the gateways\' Postgres backends were doing (share of samples, every 100 ms):', waitLines(res.rows));
  if (res.storage) out.push('', `bench database after the run: ${num(res.storage.tasks)} tasks, ${(res.storage.bytes / 2 ** 20).toFixed(1)} MiB`);
  for (const r of res.rows) {
    for (const run of [r.one, r.two]) {
      if (hasErrors(run.m)) out.push('', `!!!!! postgres ${nodesLabel(run)} ${r.scenario}: THE RUN HAD ERRORS (non-2xx / errors / timeouts ${errs(run.m)}) — figures are not valid`);
    }
  }
  if (res.problem) out.push('', `!! Postgres part incomplete: ${res.problem}`);
  return out.join('\n');
}

export function postgresMarkdown(res: PgResult, sqlite: Row[], m: Machine, s: RunSettings): string {
  const head = `## Postgres

The same create and retrieve scenarios against the gateway on Postgres, measured in the same run as
the tables above and against the same bare measurement (each scenario runs bare, the SQLite
gateway, Postgres with 1 node, then with 2 nodes).`;
  if (res.rows.length === 0) {
    return `${head}\n\n**Not measured in this run**: ${res.problem ?? 'no rows'}. Postgres is at \`BENCH_POSTGRES_URL\` ` +
      `(default \`postgres://postgres@127.0.0.1:5432/postgres\`, loopback only); \`BENCH_POSTGRES=0\` skips this part.\n`;
  }
  const f = res.facts;
  const set = (k: string): string => f?.settings[k] ?? 'n/a';
  const problem = res.problem ? `\n> **WARNING — the Postgres part is incomplete**: ${res.problem}\n` : '';
  return `${head}
${problem}
- **Postgres ${f?.version ?? 'n/a'}** on this machine (127.0.0.1), \`synchronous_commit=${set('synchronous_commit')}\`,
  \`fsync=${set('fsync')}\`, \`wal_sync_method=${set('wal_sync_method')}\`, \`shared_buffers=${set('shared_buffers')}\`. The run creates a
  fresh database \`taskgate_bench_<random>\` (dropped at its end, also on error and Ctrl-C); the first node migrates it on start.
- Each node is the same API-only gateway as the SQLite one (\`dispatch.enabled: false\`, logging at warn) with
  \`databaseUrl\` set and the default pool (10 connections per node)${redisNote()}. The store keeps no task
  cache of its own (other nodes write the same rows); the gateway caches finished tasks, and live ones while Redis
  announces every node's changes (a change announced for a task drops it). Creates that arrive together are committed
  together (one multi-row INSERT, one flush) before each is answered.
- **1 node**: node A with all ${s.connections} connections (node B is running and idle). **2 nodes**: node B uses the token
  node A created (both read the same tokens table); two autocannon instances in the load-generator process run at the
  same time, one per node, with half the connections each (retrieve: each over its half of the ${s.retrieveTasks} tasks,
  created through node A). req/s is the sum of the two instances' 2xx rates; p50/p99 are percentiles of both instances'
  2xx latencies merged (every request counts once); gateway CPU is the sum of both nodes.
- Targets: on one node, create ≥ 30 % and retrieve ≥ 60 % of bare; two nodes ≥ 1.6× one node's create rate.

${table(['check', 'measured', 'target', 'met?'], checks(res.rows))}

${table(RATES_HEAD, rates(res.rows, sqlite))}

${table(DETAIL_HEAD, details(res.rows))}

Postgres CPU is every process of the Postgres server (the postmaster and its children, from \`/proc\`: also any other
use of that server at the time); in brackets, the backends connected to the bench database (their pids from
\`pg_stat_activity\`). Load-gen and machine CPU are read around all instances of a run; percentages are of one core,
the machine's out of ${m.nproc}00 %.${res.storage ? ` At the end the bench database held ${num(res.storage.tasks)} tasks in ${(res.storage.bytes / 2 ** 20).toFixed(1)} MiB.` : ''}

What the backends of the gateways' pooled connections (\`pg_stat_activity\`, 10 per node) were doing, as a share of
samples taken every 100 ms during each measured run: \`idle\`: between statements, waiting for a gateway to send one;
\`Client:ClientRead\`: inside a transaction, waiting for the gateway's next statement; \`CPU\`: running a statement;
\`LWLock:WALWrite\`/\`IO:WALSync\`: a commit waiting for the WAL flush; \`Lock:…\`: waiting for a heavyweight lock.

${waitLines(res.rows)}

${twoNodes(res.rows, m)}
`;
}

/** How the nodes were coordinated (BENCH_REDIS_URL; BENCH_REDIS=0: Postgres alone). */
function redisNote(): string {
  const url = benchRedisUrl();
  return url ? ` and Redis at \`${url}\` (the README's multi-node setup)` : ', without Redis (BENCH_REDIS=0)';
}

/** The Redis the Postgres nodes use, or null with BENCH_REDIS=0. */
export function benchRedisUrl(): string | null {
  return process.env.BENCH_REDIS === '0' ? null : (process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
}
