/**
 * What the nodes share through Redis: rate-limit counters (one budget for all nodes) and task
 * changes (pub/sub). Redis is an accelerator: with it down, limits fall back to each node's memory
 * and the feed reports it is not complete, so waiters poll; nothing throws.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { RateLimits } from '../src/accounts/rate-limits.js';
import { createCoordination, type Coordination } from '../src/coordination/index.js';
import type { HeartbeatTiming } from '../src/coordination/redis-feed.js';
import { Redis } from 'ioredis';
import type { LocalTaskEvent } from '../src/core/events.js';
import { GatewayError } from '../src/core/errors.js';
import { DEAD_REDIS_URL, REDIS_URL, redisUnavailable } from './redis.js';
import { until } from './helpers.js';

const skip = (await redisUnavailable()) ?? false;
const log = pino({ level: 'silent' });

/** Requests of `caller` until one is refused; how many got through (bounded). */
async function allowed(limits: RateLimits, caller: { token: { id: string }; account: { id: string } }, tries: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < tries; i++) {
    try {
      await limits.request(caller);
      ok++;
    } catch (err) {
      assert.ok(err instanceof GatewayError && err.code === 'too_many_requests');
    }
  }
  return ok;
}

describe('coordination over Redis', { skip }, () => {
  const open: Coordination[] = [];
  const node = (redisUrl = REDIS_URL, heartbeat?: HeartbeatTiming): Coordination => {
    const c = createCoordination({ redisUrl, nodeId: `node-${randomUUID()}`, log, ...(heartbeat ? { heartbeat } : {}) });
    open.push(c);
    return c;
  };
  after(async () => {
    for (const c of open) await c.close();
  });

  test('two nodes count one rate budget: a token gets its rps once, not once per node', async () => {
    const [a, b] = [node(), node()];
    await until('both feeds subscribed', () => (a.feed?.complete && b.feed?.complete ? true : undefined), 5000);
    const settings = { rps: 10, services: {} };
    const caller = { token: { id: `t-${randomUUID()}` }, account: { id: `a-${randomUUID()}` } };
    const onA = await allowed(new RateLimits(settings, a.limiters), caller, 8);
    const onB = await allowed(new RateLimits(settings, b.limiters), caller, 8);
    assert.equal(onA + onB, 10, `A let ${onA} through, B ${onB}: one shared budget of 10`);
  });

  test("a task change published on one node reaches the other, never the publisher's own listeners", async () => {
    const [a, b] = [node(), node()];
    await until('both feeds subscribed', () => (a.feed?.complete && b.feed?.complete ? true : undefined), 5000);
    const seenA: string[] = [];
    const seenB: Array<[LocalTaskEvent, string]> = [];
    a.feed!.subscribe((_e, id) => seenA.push(id));
    b.feed!.subscribe((e, id) => seenB.push([e, id]));
    const id = randomUUID();
    a.feed!.publish('task:succeeded', id);
    await until('B hears of it', () => (seenB.some(([, x]) => x === id) ? true : undefined), 5000);
    assert.deepEqual(seenB.filter(([, x]) => x === id), [['task:succeeded', id]]);
    assert.ok(!seenA.includes(id), 'a node ignores its own announcements');
  });

  test('the feed is complete only while its own beats come back through Redis, not merely while its sockets are open', async () => {
    const a = node(REDIS_URL, { beatMs: 100, lateMs: 400 });
    await until('the feed is complete', () => (a.feed?.complete ? true : undefined), 5000);
    // Redis stops serving every client for 1.5 s: the connections stay open and look ready.
    const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await admin.connect();
      await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
      await until('not complete once beats stop coming back', () => (a.feed?.complete === false ? true : undefined), 1400);
      await until('complete again once they do', () => (a.feed?.complete ? true : undefined), 5000);
    } finally {
      admin.disconnect();
    }
  });

  test('with Redis down: limits per node in memory, the feed is not complete, nothing throws', async () => {
    const down = node(DEAD_REDIS_URL);
    const caller = { token: { id: `t-${randomUUID()}` }, account: { id: `a-${randomUUID()}` } };
    assert.equal(await allowed(new RateLimits({ rps: 3, services: {} }, down.limiters), caller, 5), 3, 'the insurance limiter still limits');
    assert.equal(down.feed?.complete, false);
    down.feed!.publish('task:queued', randomUUID()); // dropped quietly
  });
});
