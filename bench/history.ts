/**
 * Stored-history bench: `npm run bench:history`. Reads and claims must not slow down as the
 * history of finished tasks grows, on either store driver. For SQLite and for Postgres (on
 * 127.0.0.1), a store of 10,000 finished tasks (the baseline) and one of BENCH_HISTORY_TASKS
 * (default 1,000,000) are built side by side, bulk-loaded straight into the driver's tables
 * (bench/lib/history-data.ts, history-stores.ts), and then measured through the TaskStore
 * contract, the two stores of a driver taking turns (bench/lib/history-measure.ts):
 * - retrieve: `get(id)` of ids drawn uniformly over the whole history; p50 / p99;
 * - claim round: insert a batch of queued tasks, time one `claimDue`, finish them; median / p99.
 * Targets at the large size: retrieve p99 ≤ 1.2× and claim round median ≤ 1.5× the baseline.
 *
 * Bounded in count (BENCH_HISTORY_CALLS gets, BENCH_HISTORY_ROUNDS rounds per store) and in
 * time (BENCH_HISTORY_PHASE_SEC per measurement phase). BENCH_HISTORY_DRIVERS=sqlite,postgres
 * picks the drivers. Rewrites only the "## Stored history" section of BENCHMARKS.md, unless
 * BENCH_HISTORY_NO_WRITE=1 (print only). Temp dirs and databases are removed at the end, on
 * error and on SIGINT.
 */
import { fileURLToPath } from 'node:url';
import { LIVE_TOTAL, type Shape } from './lib/history-data.js';
import { measureClaims, measureRetrieves, PER_ROUND, spread } from './lib/history-measure.js';
import { consoleReport, writeHistorySection, type DriverFigures, type HistorySettings, type StoreFigures } from './lib/history-report.js';
import { build, cleanup, postgresInfo, type BuiltStore, type Driver } from './lib/history-stores.js';

const BASELINE = 10_000;
const bounded = (name: string, fallback: number, min: number, max: number): number => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max} (got ${raw})`);
  return n;
};
const LARGE = bounded('BENCH_HISTORY_TASKS', 1_000_000, BASELINE + 1, 5_000_000);
const CALLS = bounded('BENCH_HISTORY_CALLS', 20_000, 100, 100_000);
const ROUNDS = bounded('BENCH_HISTORY_ROUNDS', 300, 10, 5_000);
const PHASE_MS = bounded('BENCH_HISTORY_PHASE_SEC', 180, 5, 3_600) * 1000;
const NO_WRITE = process.env.BENCH_HISTORY_NO_WRITE === '1';
const DRIVERS = (process.env.BENCH_HISTORY_DRIVERS ?? 'sqlite,postgres').split(',').map((d) => d.trim()) as Driver[];
for (const d of DRIVERS) if (d !== 'sqlite' && d !== 'postgres') throw new Error(`BENCH_HISTORY_DRIVERS: unknown driver ${d}`);
const SETTINGS: HistorySettings = { calls: CALLS, block: 250, rounds: ROUNDS, perRound: PER_ROUND };

const log = (line: string): void => void process.stdout.write(`${line}\n`);

async function measureDriver(driver: Driver): Promise<DriverFigures> {
  const tEnd = Date.now();
  const shapes: Shape[] = [{ count: BASELINE, tEnd }, { count: LARGE, tEnd }];
  const built: BuiltStore[] = [];
  try {
    for (const shape of shapes) {
      log(`${driver}: building ${shape.count.toLocaleString('en-US')} finished tasks + ${LIVE_TOTAL} live …`);
      const b = await build(driver, shape);
      built.push(b);
      log(`${driver}: ${shape.count.toLocaleString('en-US')} tasks, ${b.files.toLocaleString('en-US')} file index rows, ${(b.bytes / 2 ** 20).toFixed(0)} MiB, filled and analysed in ${b.fillSec.toFixed(1)} s`);
    }
    const subjects = built.map((b) => ({ tasks: b.stores.tasks, shape: b.shape }));
    log(`${driver}: retrieve, ${CALLS} gets per store …`);
    const gets = await measureRetrieves(subjects, { calls: CALLS, block: SETTINGS.block, warmup: 500, deadline: Date.now() + PHASE_MS });
    log(`${driver}: claim rounds, ${ROUNDS} per store …`);
    const claims = await measureClaims(subjects, { rounds: ROUNDS, warmup: 10, deadline: Date.now() + PHASE_MS });
    const figures = built.map((b, k): StoreFigures => ({
      count: b.shape.count, files: b.files, bytes: b.bytes, fillSec: b.fillSec, retrieve: spread(gets[k]!), claim: spread(claims[k]!),
    }));
    for (const f of figures) {
      if (f.retrieve.n < CALLS || f.claim.n < ROUNDS) log(`${driver}: note: the time bound cut the ${f.count} store short (${f.retrieve.n} gets, ${f.claim.n} rounds)`);
    }
    return { driver, small: figures[0]!, large: figures[1]! };
  } finally {
    for (const b of built) await b.dispose();
  }
}

try {
  const results: DriverFigures[] = [];
  for (const driver of DRIVERS) results.push(await measureDriver(driver));
  log('');
  log(consoleReport(results));
  if (NO_WRITE) log('\nBENCH_HISTORY_NO_WRITE=1: BENCHMARKS.md left as it is');
  else if (results.length < 2) log('\nonly one driver measured: BENCHMARKS.md left as it is');
  else {
    writeHistorySection(fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url)), results, SETTINGS, await postgresInfo());
    log('\nwrote BENCHMARKS.md (## Stored history)');
  }
} catch (err) {
  process.exitCode = 1;
  process.stderr.write(`bench:history failed: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  await cleanup();
}
