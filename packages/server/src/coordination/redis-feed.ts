/**
 * Task changes between nodes over Redis pub/sub (one channel; a message is `node event taskId`).
 * Publishing uses the shared command connection; a second connection subscribes. While the
 * subscription is down the feed is not `complete`: waiters poll the store as they do without Redis.
 *
 * A heartbeat makes `complete` mean what it says for this node: it publishes a beat every `beatMs`
 * on the same channel, and the feed is complete only while its own beats come back through Redis
 * (both its publishing and its subscription work, not merely its sockets look open). A connection
 * that broke without closing is noticed within `lateMs`. Other nodes' beats are ignored (another
 * deployment may share the Redis); a node that cannot announce its own changes is covered by the
 * read cache's TTL instead.
 */
import type { Redis } from 'ioredis';
import type { LocalTaskEvent } from '../core/events.js';
import { LOCAL_TASK_EVENTS } from '../core/events.js';
import type { TaskFeed } from '../core/ports.js';
import { listenTo } from './redis-channel.js';

const CHANNEL = 'taskgate:tasks';
/**
 * Queued tasks within this window are announced by one message naming no task (`*`): a task that
 * was just queued is known to nobody else yet, so the announcement only wakes the other nodes'
 * workers, and one wake-up per window is as good as one per task.
 */
const QUEUED_WINDOW_MS = 10;

export interface HeartbeatTiming {
  /** How often this node publishes its beat. */
  beatMs: number;
  /** Once its last beat came back longer ago than this, the feed is not complete. */
  lateMs: number;
}

export const HEARTBEAT: HeartbeatTiming = { beatMs: 1000, lateMs: 3500 };
const BEAT = 'beat';

export function createRedisFeed(commands: Redis, subscriber: Redis, nodeId: string, timing: HeartbeatTiming = HEARTBEAT): TaskFeed {
  const listeners = new Set<(event: LocalTaskEvent, taskId: string) => void>();
  /** When this node's last beat came back. */
  let beatAt = 0;
  let queued: NodeJS.Timeout | undefined;
  // Fire and forget: a lost announcement only means the other nodes find the change by polling.
  const send = (event: LocalTaskEvent, taskId: string): void => {
    if (commands.status === 'ready') commands.publish(CHANNEL, `${nodeId} ${event} ${taskId}`).catch(() => undefined);
  };
  const channel = listenTo(subscriber, CHANNEL, (message) => {
    const [node, event, taskId] = message.split(' ');
    if (node === undefined) return;
    if (event === BEAT) {
      if (node === nodeId) beatAt = Date.now();
      return;
    }
    if (node === nodeId || taskId === undefined || !LOCAL_TASK_EVENTS.includes(event as LocalTaskEvent)) return;
    for (const fn of listeners) fn(event as LocalTaskEvent, taskId);
  });
  const beat = (): void => {
    if (commands.status === 'ready') commands.publish(CHANNEL, `${nodeId} ${BEAT} -`).catch(() => undefined);
  };
  const beating = setInterval(beat, timing.beatMs);
  beating.unref();
  beat();
  subscriber.on('ready', beat);
  return {
    kind: 'redis',
    get complete() {
      return channel.subscribed && subscriber.status === 'ready' && commands.status === 'ready' && Date.now() - beatAt <= timing.lateMs;
    },
    publish(event, taskId) {
      if (event === 'task:queued') {
        queued ??= setTimeout(() => {
          queued = undefined;
          send('task:queued', '*');
        }, QUEUED_WINDOW_MS);
        return;
      }
      send(event, taskId);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async close() {
      clearTimeout(queued);
      clearInterval(beating);
      listeners.clear();
    },
  };
}
