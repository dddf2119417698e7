/**
 * Task changes between nodes over Redis pub/sub (one channel; a message is `node event taskId`).
 * Publishing uses the shared command connection; a second connection subscribes. While the
 * subscription is down the feed is not `complete`: waiters poll the store as they do without Redis.
 */
import type { Redis } from 'ioredis';
import type { LocalTaskEvent } from '../core/events.js';
import { LOCAL_TASK_EVENTS } from '../core/events.js';
import type { TaskFeed } from '../core/ports.js';

const CHANNEL = 'taskgate:tasks';

export function createRedisFeed(commands: Redis, subscriber: Redis, nodeId: string): TaskFeed {
  const listeners = new Set<(event: LocalTaskEvent, taskId: string) => void>();
  let subscribed = false;
  const subscribe = (): void => {
    subscriber.subscribe(CHANNEL).then(
      () => {
        subscribed = true;
      },
      () => {
        subscribed = false;
      },
    );
  };
  subscriber.on('ready', subscribe);
  subscriber.on('close', () => {
    subscribed = false;
  });
  subscriber.on('message', (_channel: string, message: string) => {
    const [node, event, taskId] = message.split(' ');
    if (node === nodeId || taskId === undefined || !LOCAL_TASK_EVENTS.includes(event as LocalTaskEvent)) return;
    for (const fn of listeners) fn(event as LocalTaskEvent, taskId);
  });
  if (subscriber.status === 'ready') subscribe();
  return {
    kind: 'redis',
    get complete() {
      return subscribed && subscriber.status === 'ready' && commands.status === 'ready';
    },
    publish(event, taskId) {
      // Fire and forget: a lost announcement only means the other nodes find the change by polling.
      if (commands.status === 'ready') commands.publish(CHANNEL, `${nodeId} ${event} ${taskId}`).catch(() => undefined);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async close() {
      listeners.clear();
    },
  };
}
