/**
 * Token and account changes between nodes over Redis pub/sub (`node id`): a token disabled,
 * rotated or deleted, or an account changed, through one node is forgotten by every node's
 * authentication cache at once instead of after its TTL. Fire and forget: with Redis down the
 * TTL (10 s) is the bound, as on a single node changed by the offline CLI.
 */
import type { Redis } from 'ioredis';
import { listenTo } from './redis-channel.js';

const CHANNEL = 'taskgate:auth';

export interface AuthChanges {
  /** Tells the other nodes that this token or account changed. */
  announce(id: string): void;
  /** `fn` runs with the id of each token or account another node changed. */
  subscribe(fn: (id: string) => void): () => void;
}

export function createRedisAuthChanges(commands: Redis, subscriber: Redis, nodeId: string): AuthChanges {
  const listeners = new Set<(id: string) => void>();
  listenTo(subscriber, CHANNEL, (message) => {
    const [node, id] = message.split(' ');
    if (node === nodeId || !id) return;
    for (const fn of listeners) fn(id);
  });
  return {
    announce(id) {
      if (commands.status === 'ready') commands.publish(CHANNEL, `${nodeId} ${id}`).catch(() => undefined);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
