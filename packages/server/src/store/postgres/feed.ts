/**
 * Worker wake-ups through Postgres itself (LISTEN/NOTIFY): a task queued on one node wakes the
 * idle workers of the others at once instead of at their next poll. Only that: the feed carries
 * `task:queued` alone and never reports itself complete, so waiters keep polling (Redis carries
 * every change when configured). Polling stays the fallback, so this also works where NOTIFY
 * cannot (behind a transaction-mode PgBouncer, or while the listening connection reconnects).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { LocalTaskEvent } from '../../core/events.js';
import type { TaskFeed } from '../../core/ports.js';
import type { Pool } from './db.js';

const CHANNEL = 'taskgate_tasks';
/** Queued tasks within this window are announced by one NOTIFY (a wake-up names no task). */
const COALESCE_MS = 10;

export function createPgFeed(pool: Pool, url: string): TaskFeed {
  const nodeId = randomUUID();
  const listeners = new Set<(event: LocalTaskEvent, taskId: string) => void>();
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let pending: NodeJS.Timeout | undefined;
  const listen = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, application_name: 'taskgate-listen' });
    c.on('notification', (msg) => {
      const [node, taskId] = (msg.payload ?? '').split(' ');
      if (node === nodeId || !taskId) return;
      for (const fn of listeners) fn('task:queued', taskId);
    });
    const again = (): void => {
      client = null;
      c.end().catch(() => undefined);
      if (!closed) retry = setTimeout(() => void listen(), 2000);
    };
    c.on('error', again);
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
      if (closed) await c.end();
      else client = c;
    } catch {
      again();
    }
  };
  void listen();
  return {
    kind: 'postgres',
    complete: false,
    publish(event) {
      // A NOTIFY commits (and serialises notifying commits server-wide): one per window at most,
      // naming no task (`*`): the other nodes' workers wake and claim whatever is due.
      if (event !== 'task:queued' || closed || pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        if (!closed) pool.query('SELECT pg_notify($1, $2)', [CHANNEL, `${nodeId} *`]).catch(() => undefined);
      }, COALESCE_MS);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      clearTimeout(pending);
      listeners.clear();
      await client?.end().catch(() => undefined);
      client = null;
    },
  };
}
