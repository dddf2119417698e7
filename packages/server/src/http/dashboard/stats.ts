/**
 * The dashboard's charts (docs/dashboard-api.md, "Stats"): `GET /admin/stats` (every account, or
 * one with `account`) and `GET /v1/account/stats` (the caller's account). Tasks are counted in the
 * bucket they finished in; the arithmetic is core/stats.ts, the rows come from the StatsStore.
 */
import type { FastifyInstance } from 'fastify';
import { bucketCount, bucketStats, defaultBucketSeconds, MIN_BUCKET_S, type StatsCell, type StatsStore } from '../../core/stats.js';
import type { JsonObject } from '../../core/types.js';
import type { DialectContext } from '../context.js';
import { scopeHook, scopeOf, type ScopeKind } from './scope.js';
import { bad, parseTime, queryOf, single, values } from './query.js';

/** The longest range one answer covers. */
export const STATS_MAX_RANGE_MS = 31 * 86_400_000;
/** The most buckets one answer has. */
export const STATS_MAX_BUCKETS = 1000;
/** The most finished tasks one answer reads (the latest finished); beyond, it says `truncated`. */
export const STATS_MAX_ROWS = 200_000;
const DEFAULT_RANGE_MS = 3_600_000;
const MAX_NAME = 200;

export interface StatsDeps {
  stats: StatsStore;
  /** The most rows one answer reads (default STATS_MAX_ROWS). */
  maxRows?: number | undefined;
}

export interface StatsRequest {
  since: number;
  until: number;
  bucketMs: number;
  services?: string[];
  account?: string;
}

/** Parses and bounds a stats query (400 naming the problem); `now` is the default `until`. */
export function parseStatsQuery(query: unknown, kind: ScopeKind, now: number): StatsRequest {
  const q = queryOf(query);
  const untilText = single(q, 'until');
  const sinceText = single(q, 'since');
  const until = untilText === undefined ? now : parseTime('until', untilText);
  const since = sinceText === undefined ? until - DEFAULT_RANGE_MS : parseTime('since', sinceText);
  if (since >= until) throw bad('since must be before until');
  if (until - since > STATS_MAX_RANGE_MS) throw bad(`The range from since to until must be at most ${STATS_MAX_RANGE_MS / 86_400_000} days`);
  const bucketText = single(q, 'bucket');
  let bucketS = defaultBucketSeconds(until - since);
  if (bucketText !== undefined) {
    bucketS = /^\d{1,10}$/.test(bucketText) ? Number(bucketText) : Number.NaN;
    if (!Number.isInteger(bucketS) || bucketS < MIN_BUCKET_S) throw bad(`bucket must be a whole number of seconds, at least ${MIN_BUCKET_S}`);
  }
  const count = bucketCount(since, until, bucketS * 1000);
  if (count > STATS_MAX_BUCKETS) {
    throw bad(`This range at bucket=${bucketS} makes ${count} buckets; at most ${STATS_MAX_BUCKETS} (widen bucket or narrow the range)`);
  }
  const req: StatsRequest = { since, until, bucketMs: bucketS * 1000 };
  const services = values(q, 'service');
  if (services) req.services = services;
  const account = single(q, 'account');
  if (account !== undefined) {
    if (kind === 'account') throw bad('account is a filter of /admin/stats only: an account token sees its own tasks');
    if (account === '' || account.length > MAX_NAME) throw bad('account must be an account id');
    req.account = account;
  }
  return req;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function cellView(c: StatsCell): JsonObject {
  return {
    finished: c.finished, succeeded: c.succeeded, failed: c.failed, cancelled: c.cancelled, error_rate: c.errorRate,
    p50_ms: c.p50Ms, p95_ms: c.p95Ms, p99_ms: c.p99Ms, spend: c.spend,
  };
}

/** `GET /stats`, mounted at `/admin` (kind `admin`) or `/v1/account` (kind `account`). */
export function statsPlugin(ctx: DialectContext, kind: ScopeKind, deps: StatsDeps) {
  const maxRows = deps.maxRows ?? STATS_MAX_ROWS;
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', scopeHook(ctx, kind));
    app.get('/stats', async (req) => {
      const scope = scopeOf(req, kind);
      const q = parseStatsQuery(req.query, kind, ctx.tasks.now());
      const ownerId = scope.kind === 'account' ? scope.accountId : q.account;
      // One row more than the cap tells whether the cap was reached.
      const rows = await deps.stats.finishedTasks({
        since: q.since, until: q.until, limit: maxRows + 1,
        ...(ownerId === undefined ? {} : { ownerId }), ...(q.services ? { services: q.services } : {}),
      });
      const truncated = rows.length > maxRows;
      const result = bucketStats(truncated ? rows.slice(0, maxRows) : rows, q);
      return {
        since: iso(result.since), until: iso(result.until), bucket_seconds: result.bucketMs / 1000, truncated,
        buckets: result.buckets.map((b) => ({ at: iso(b.at), ...cellView(b) })),
        totals: cellView(result.totals),
      };
    });
  };
}
