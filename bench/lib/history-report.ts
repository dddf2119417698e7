/** The console table and the "## Stored history" section of BENCHMARKS.md, written by `npm run bench:history`. */
import { LIVE, LIVE_TOTAL, OWNERS, SERVICES, CLAIM_SERVICES } from './history-data.js';
import type { Spread } from './history-measure.js';
import { machine, writeSection } from './report.js';

export interface StoreFigures {
  count: number;
  files: number;
  bytes: number;
  fillSec: number;
  retrieve: Spread;
  claim: Spread;
}

export interface DriverFigures {
  driver: 'sqlite' | 'postgres';
  small: StoreFigures;
  large: StoreFigures;
}

export interface HistorySettings {
  calls: number;
  block: number;
  rounds: number;
  perRound: number;
}

export const TARGETS = { retrieveP99: 1.2, claimMedian: 1.5 } as const;

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const us = (x: number): string => (Number.isNaN(x) ? 'n/a' : x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : x >= 100 ? `${x.toFixed(0)} µs` : `${x.toFixed(1)} µs`);
const x2 = (r: number): string => `${r.toFixed(2)}×`;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const driverName = (d: DriverFigures['driver']): string => (d === 'sqlite' ? 'SQLite' : 'Postgres');

export const retrieveRatio = (f: DriverFigures): number => f.large.retrieve.p99 / f.small.retrieve.p99;
export const claimRatio = (f: DriverFigures): number => f.large.claim.p50 / f.small.claim.p50;

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function resultRows(figures: DriverFigures[], bold: boolean): string[][] {
  const verdict = (ok: boolean): string => (ok ? 'yes' : bold ? '**no**' : 'NO');
  return figures.flatMap((f) => [
    [
      driverName(f.driver), 'retrieve `get(id)`', `${us(f.small.retrieve.p50)} / ${us(f.small.retrieve.p99)}`,
      `${us(f.large.retrieve.p50)} / ${us(f.large.retrieve.p99)}`, `p99 ${x2(retrieveRatio(f))} (p50 ${x2(f.large.retrieve.p50 / f.small.retrieve.p50)})`,
      `p99 ≤ ${x2(TARGETS.retrieveP99)}`, verdict(retrieveRatio(f) <= TARGETS.retrieveP99),
    ],
    [
      driverName(f.driver), 'claim round `claimDue`', `${us(f.small.claim.p50)} / ${us(f.small.claim.p99)}`,
      `${us(f.large.claim.p50)} / ${us(f.large.claim.p99)}`, `median ${x2(claimRatio(f))} (p99 ${x2(f.large.claim.p99 / f.small.claim.p99)})`,
      `median ≤ ${x2(TARGETS.claimMedian)}`, verdict(claimRatio(f) <= TARGETS.claimMedian),
    ],
  ]);
}

const head = (figures: DriverFigures[]): string[] => {
  const f = figures[0]!;
  return ['driver', 'call', `${int(f.small.count)} tasks p50 / p99`, `${int(f.large.count)} tasks p50 / p99`, 'ratio', 'target', 'met?'];
};

function storeRows(figures: DriverFigures[]): string[][] {
  return figures.flatMap((f) =>
    [f.small, f.large].map((s) => [driverName(f.driver), int(s.count), int(s.files), mib(s.bytes), `${s.fillSec.toFixed(1)} s`]),
  );
}
const STORE_HEAD = ['driver', 'finished tasks', 'file index rows', 'size on disk', 'fill + analyse'];

export function consoleReport(figures: DriverFigures[]): string {
  return [table(head(figures), resultRows(figures, false)), '', table(STORE_HEAD, storeRows(figures))].join('\n').replace(/`/g, '');
}

/** `postgres`: the server's version and shared_buffers, as it reported them. */
export function writeHistorySection(file: string, figures: DriverFigures[], s: HistorySettings, postgres: string): void {
  const m = machine();
  const small = int(figures[0]!.small.count);
  const large = int(figures[0]!.large.count);
  const section = `## Stored history

Reads and claims against a large stored history (\`npm run bench:history\`, \`bench/history.ts\`; this
section is rewritten by that script). For each driver, two stores are built side by side: ${small}
finished tasks (the baseline) and ${large} (\`BENCH_HISTORY_TASKS\`), each with the same live set of
${LIVE_TOTAL} tasks (${LIVE.running} running under other workers' live leases, ${LIVE.scheduled} queued and due tomorrow,
${LIVE.dueElsewhere} queued and due in services this bench does not claim). The history is 85 % succeeded, 10 % failed,
5 % cancelled, over the 90 days before the run, ${int(OWNERS)} owners (skewed: owner 0 holds about 2.2 %) and
${SERVICES.length} services, with JSON request, input and output text of a few hundred bytes each and one file index
row (\`task_files\`) per succeeded task. Each store is created empty through \`createStores\` (the real
migrations and indexes), filled by bulk SQL written straight into the driver's tables (SQLite: one
transaction of \`INSERT … SELECT\` from a recursive CTE; Postgres: \`INSERT … SELECT\` from
\`generate_series\`), then analysed as an operator would after a bulk load (SQLite: \`ANALYZE\` and
\`PRAGMA optimize\`, then a WAL checkpoint; Postgres: \`VACUUM (FREEZE, ANALYZE)\` of \`tasks\`, \`task_files\` and
\`accounts\`: a history that grew over months has had its rows frozen by autovacuum long ago, while rows
just bulk-loaded dirty their page the first time they are read, which made about one get in a hundred
wait for a buffer write), and opened again through \`createStores\`. SQLite is opened with \`sqliteLocking: 'shared'\`,
which turns the task cache off, so every read goes to the database; it runs in the bench's own
process. Postgres (${postgres}) runs on 127.0.0.1, reached through the store's pool of 4 connections.

- **retrieve**: \`store.get(id)\` of ${int(s.calls)} ids per store, each drawn uniformly over every stored task
  (so almost all finished ones), one call at a time, after a short warm-up; the two stores of a driver
  take turns in blocks of ${s.block} calls, so that other load on the machine falls on both alike.
- **claim round**: like \`bench:claims\`: each of ${s.rounds} rounds per store inserts ${s.perRound} queued tasks over
  ${CLAIM_SERVICES.length} services (untimed; half of them owned by owner 0, capped at 8 running tasks, the other
  half by owner 1, uncapped), times one \`claimDue\` (all ${s.perRound} must be claimed), then finishes them
  (untimed, with an output file each). The stores take turns round by round. The finished rounds
  join the history (${int(s.rounds * s.perRound)} tasks), after the retrieve measurement.
- Target: at ${large} tasks, retrieve p99 ≤ ${x2(TARGETS.retrieveP99)} and the claim round's median ≤ ${x2(TARGETS.claimMedian)} the
  same driver's figure at ${small}.

${table(head(figures), resultRows(figures, true))}

${table(STORE_HEAD, storeRows(figures))}

- The plans do not change with the history (\`EXPLAIN QUERY PLAN\` / \`EXPLAIN ANALYZE\` at 1,000,000 on
  2026-12-07): a get is one search of the primary key (SQLite: \`sqlite_autoindex_tasks_1\`, then the row
  by rowid; Postgres: \`tasks_pkey\`), and every claim query reads only the partial indexes of live
  tasks (\`tasks_claim\`, \`tasks_lease\`, \`tasks_owner_running\`), never the history.
- SQLite's get p50 still rises with the history (1.3–1.4× at 1,000,000, in this run and in repeats
  by hand): both of its trees grow from 3 to 4 levels (index 130 → 12,668 pages, table 3,442 →
  334,172), and at 1.6 GB nearly every lookup misses SQLite's default 2 MB page cache, so each
  level missed is a \`pread\`. Its p99, a tail of a ~15 µs call, is noisy on a shared 2-core
  machine: seven runs of the SQLite store's code on an Intel Xeon VM on 2026-12-07 read 1.02×,
  1.03×, 1.06×, 1.11×, 1.23×, 1.24× and 1.69×, while its p50 ratio stayed at 1.29–1.37×; the
  run recorded above (an AMD EPYC VM, later that day, every call about three times slower) read
  1.10× (p50 1.25×). The target is met in most runs, not in every one. By hand, \`PRAGMA mmap_size\`
  of 4 GiB cut the p50 ratio to 1.18× (p99 1.32×); a 256 MiB \`cache_size\` did not help (1.40×).
- Postgres's figures are mostly round trips through the pool on loopback: a get is one statement;
  a claim round is about seven in one transaction, whatever the number of services and the history
  (the advisory lock; the running counts of every service in one statement; the due tasks of every
  service in one statement, queued then expired; one claim \`UPDATE\`; an outbox statement only for
  a task whose callback wants the \`start\` event). It was about 45 statements (14 ms) with a
  query per service and an outbox statement per task, earlier on 2026-12-07.
- With a plain \`VACUUM (ANALYZE)\` after the load, Postgres's get p99 at 1,000,000 read 1.31× and
  1.65× in two runs on 2026-12-07 (its p50 1.1×): the first read of a just-loaded row sets its hint
  bits and dirties its page, and with \`shared_buffers\` at 128 MB against 1.75 GB the backend then
  writes dirty pages out to make room. Freezing the loaded history (as above) took the p99 ratio to
  1.10× and 1.04× in two runs the same day: the tail was the bulk load's, not the history's size.
- Machine: ${m.cpu}, \`nproc\` ${m.nproc}, ${m.memory}, Node ${m.node}, ${m.kernel}; ${m.date}.
`;
  writeSection(file, 'Stored history', section);
}
