/**
 * The dashboard's charts (docs/dashboard-api.md, "Stats"): finished tasks counted in fixed-width
 * buckets by the time they finished, with their error rate, latency percentiles (finished −
 * created, nearest-rank) and the credits settled by the succeeded ones. Pure arithmetic over the
 * slim rows a StatsStore reads; the HTTP layer parses the query and renders the answer.
 */
import type { TerminalState } from './types.js';

/** One finished task, as much of it as the charts need. */
export interface FinishedTaskRow {
  state: TerminalState;
  createdAt: number;
  finishedAt: number;
  /** Credits the task cost (settled when it succeeded, refunded otherwise). */
  price: number;
}

/** Which finished tasks to read: finished in [since, until), optionally of one owner and some services. */
export interface FinishedQuery {
  since: number;
  until: number;
  ownerId?: string;
  services?: readonly string[];
  /** Most rows to read, newest (latest finished) first. */
  limit: number;
}

/**
 * The store's side of the charts (each driver implements it over the `tasks_finished` index on
 * `finished_at`): read-only, never part of a task transition.
 */
export interface StatsStore {
  /** Tasks finished in [since, until) (of `ownerId`, of `services` when given), latest finished first, at most `limit`. */
  finishedTasks(query: FinishedQuery): Promise<FinishedTaskRow[]>;
}

/** Counts and latencies of the tasks that finished in one span of time. */
export interface StatsCell {
  finished: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** failed / finished, rounded to 4 decimals; 0 when none finished. */
  errorRate: number;
  /** Latency percentiles in ms (finished − created); null when none finished. */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Sum of the price of the succeeded tasks. */
  spend: number;
}

export interface StatsBucket extends StatsCell {
  /** Start of the bucket (Unix ms); it spans [at, at + bucketMs), the last one ends at `until`. */
  at: number;
}

export interface StatsResult {
  since: number;
  until: number;
  bucketMs: number;
  buckets: StatsBucket[];
  totals: StatsCell;
}

/** Bucket widths the default choice picks from (seconds): round numbers on a clock. */
const NICE_BUCKETS_S = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800];
/** The smallest bucket (seconds), chosen or asked for. */
export const MIN_BUCKET_S = 10;
/** The number of buckets the default width aims at (at most this many). */
export const TARGET_BUCKETS = 60;

/** The default bucket width (seconds) for a range: the smallest round width giving at most ~60 buckets. */
export function defaultBucketSeconds(rangeMs: number): number {
  const wanted = rangeMs / 1000 / TARGET_BUCKETS;
  return NICE_BUCKETS_S.find((s) => s >= wanted) ?? Math.ceil(wanted);
}

/** How many buckets of `bucketMs` cover [since, until). */
export function bucketCount(since: number, until: number, bucketMs: number): number {
  return Math.max(1, Math.ceil((until - since) / bucketMs));
}

/**
 * The `p`th percentile (0 < p ≤ 100) of ascending `sorted` values by nearest rank: the smallest
 * value with at least p % of the values at or below it. Null for no values.
 */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? null;
}

class CellBuilder {
  private succeeded = 0;
  private failed = 0;
  private cancelled = 0;
  private spend = 0;
  private readonly latencies: number[] = [];

  add(row: FinishedTaskRow): void {
    if (row.state === 'succeeded') {
      this.succeeded++;
      this.spend += row.price;
    } else if (row.state === 'failed') {
      this.failed++;
    } else {
      this.cancelled++;
    }
    this.latencies.push(Math.max(0, row.finishedAt - row.createdAt));
  }

  build(): StatsCell {
    const finished = this.succeeded + this.failed + this.cancelled;
    const sorted = this.latencies.sort((a, b) => a - b);
    return {
      finished, succeeded: this.succeeded, failed: this.failed, cancelled: this.cancelled,
      errorRate: finished === 0 ? 0 : Math.round((this.failed / finished) * 10_000) / 10_000,
      p50Ms: nearestRank(sorted, 50), p95Ms: nearestRank(sorted, 95), p99Ms: nearestRank(sorted, 99),
      spend: this.spend,
    };
  }
}

/**
 * Buckets `rows` by finish time: bucket i spans [since + i·bucketMs, since + (i+1)·bucketMs),
 * the last one ends at `until`. Rows outside [since, until) are left out.
 */
export function bucketStats(rows: Iterable<FinishedTaskRow>, range: { since: number; until: number; bucketMs: number }): StatsResult {
  const { since, until, bucketMs } = range;
  const count = bucketCount(since, until, bucketMs);
  const cells = Array.from({ length: count }, () => new CellBuilder());
  const totals = new CellBuilder();
  for (const row of rows) {
    if (row.finishedAt < since || row.finishedAt >= until) continue;
    cells[Math.floor((row.finishedAt - since) / bucketMs)]?.add(row);
    totals.add(row);
  }
  return {
    since, until, bucketMs,
    buckets: cells.map((cell, i) => ({ at: since + i * bucketMs, ...cell.build() })),
    totals: totals.build(),
  };
}
