/**
 * Real Redis for the tests, at TASKGATE_TEST_REDIS_URL (default redis://127.0.0.1:6379). Where it
 * cannot be reached the Redis suites are skipped with a visible message, unless
 * TASKGATE_TEST_REQUIRE_SERVICES=1 (set by .ci/run), which makes that a failure.
 */
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.TASKGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REQUIRED = process.env.TASKGATE_TEST_REQUIRE_SERVICES === '1';

let reachable: Promise<string | null> | null = null;

/** null when Redis answers PING; else the reason, for `{ skip }` (or a throw when services are required). */
export function redisUnavailable(): Promise<string | null> {
  reachable ??= (async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return null;
    } catch (err) {
      const why = `Redis at ${new URL(REDIS_URL).host} is unreachable (${(err as Error).message}); Redis suites skipped`;
      if (REQUIRED) throw new Error(`${why}, but TASKGATE_TEST_REQUIRE_SERVICES=1 requires it`);
      process.stderr.write(`# ${why}\n`);
      return why;
    } finally {
      client.disconnect();
    }
  })();
  return reachable;
}

/** A Redis URL where nothing listens (a closed port on loopback), for "Redis is down" cases. */
export const DEAD_REDIS_URL = 'redis://127.0.0.1:1';
