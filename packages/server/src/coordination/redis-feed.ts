/**
 * Task changes between nodes over Redis pub/sub (one channel; a message is `node event taskId`).
 * Publishing uses the shared command connection; a second connection subscribes. While the
 * subscription is down the feed is not `complete`: waiters poll the store as they do without Redis.
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

export function createRedisFeed(commands: Redis, subscriber: Redis, nodeId: string): TaskFeed {
  const listeners = new Set<(event: LocalTaskEvent, taskId: string) => void>();
  let queued: NodeJS.Timeout | undefined;
  // Fire and forget: a lost announcement only means the other nodes find the change by polling.
  const send = (event: LocalTaskEvent, taskId: string): void => {
    if (commands.status === 'ready') commands.publish(CHANNEL, `${nodeId} ${event} ${taskId}`).catch(() => undefined);
  };
  const channel = listenTo(subscriber, CHANNEL, (message) => {
    const [node, event, taskId] = message.split(' ');
    if (node === nodeId || taskId === undefined || !LOCAL_TASK_EVENTS.includes(event as LocalTaskEvent)) return;
    for (const fn of listeners) fn(event as LocalTaskEvent, taskId);
  });
  return {
    kind: 'redis',
    get complete() {
      return channel.subscribed && subscriber.status === 'ready' && commands.status === 'ready';
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
      listeners.clear();
    },
  };
}
