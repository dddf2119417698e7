/**
 * Where rate-limit counters live. In memory (one node) by default; in Redis when configured, so
 * every node counts against the same budget. A Redis limiter keeps an in-memory "insurance"
 * limiter with the same settings: while Redis is unreachable each node goes on limiting on its own
 * (per-node limits) instead of failing requests.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface LimiterSettings {
  /** Namespace of the counters (per budget). */
  keyPrefix: string;
  /** Requests allowed per `duration`. */
  points: number;
  /** Window, in seconds. */
  duration: number;
}

export type LimiterFactory = (settings: LimiterSettings) => RateLimiterAbstract;

export const memoryLimiters: LimiterFactory = (s) => new RateLimiterMemory(s);

/** Limiters whose counters are in Redis (shared by the nodes), insured by memory while it is down. */
export function redisLimiters(client: Redis): LimiterFactory {
  return (s) =>
    new RateLimiterRedis({
      ...s,
      keyPrefix: `taskgate:rl:${s.keyPrefix}`,
      storeClient: client,
      insuranceLimiter: new RateLimiterMemory(s),
    });
}
