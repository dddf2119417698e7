/**
 * What the nodes of one gateway share besides the database: rate-limit counters and task-change
 * notifications. Without `redisUrl` (one node) counters are in memory and there is no feed unless
 * the store brings one. With it, both go through Redis, an accelerator only: the gateway starts
 * and keeps working while Redis is down (per-node limits, wake-ups by polling) and says so in its
 * log when Redis goes and comes back.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TaskFeed } from '../core/ports.js';
import { redactUrl } from '../core/redact.js';
import { memoryLimiters, redisLimiters, type LimiterFactory } from './limiters.js';
import { createRedisAuthChanges, type AuthChanges } from './redis-auth.js';
import { createRedisFeed, type HeartbeatTiming } from './redis-feed.js';

export type { LimiterFactory } from './limiters.js';
export type { AuthChanges } from './redis-auth.js';

export interface Coordination {
  /** Where rate-limit and channel-rate counters live. */
  limiters: LimiterFactory;
  /** Task changes from and to the other nodes; null on a single node without one. */
  feed: TaskFeed | null;
  /** Token and account changes between nodes (authentication caches); null without Redis. */
  auth: AuthChanges | null;
  /**
   * Readiness of the configured Redis: resolves when it answers PING, rejects when it is not
   * connected (at once: commands never queue) or does not answer; null without `redisUrl`.
   */
  pingRedis: (() => Promise<void>) | null;
  close(): Promise<void>;
}

function connect(url: string, log: Logger, role: string, down: { logged: boolean }): Redis {
  const client = new Redis(url, {
    // Commands fail at once while disconnected (limiters fall back to memory), never queue up.
    enableOfflineQueue: role === 'subscriber',
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    connectionName: `taskgate-${role}`,
  });
  client.on('error', (err: Error) => {
    if (down.logged) return;
    down.logged = true;
    log.warn({ redis: redactUrl(url), err: err.message }, 'redis unreachable: rate limits per node, cross-node wake-ups by polling until it is back');
  });
  client.on('ready', () => {
    if (!down.logged) return;
    down.logged = false;
    log.info({ redis: redactUrl(url), role }, 'redis reachable again: shared rate limits and notifications resume');
  });
  return client;
}

/** `storeFeed`: the store's own wake-ups (Postgres), used without Redis; the stores close it. */
/** `heartbeat`: the Redis feed's beat timing (tests shorten it). */
export function createCoordination(opts: { redisUrl: string | null; nodeId: string; log: Logger; storeFeed?: TaskFeed | null; heartbeat?: HeartbeatTiming }): Coordination {
  if (opts.redisUrl === null) {
    return { limiters: memoryLimiters, feed: opts.storeFeed ?? null, auth: null, pingRedis: null, close: async () => {} };
  }
  const down = { logged: false };
  const commands = connect(opts.redisUrl, opts.log, 'commands', down);
  const subscriber = connect(opts.redisUrl, opts.log, 'subscriber', down);
  const feed = createRedisFeed(commands, subscriber, opts.nodeId, opts.heartbeat);
  return {
    limiters: redisLimiters(commands),
    feed,
    auth: createRedisAuthChanges(commands, subscriber, opts.nodeId),
    async pingRedis() {
      if (commands.status !== 'ready') throw new Error(`not connected (${commands.status})`);
      await commands.ping();
    },
    async close() {
      await feed.close();
      commands.disconnect();
      subscriber.disconnect();
    },
  };
}
