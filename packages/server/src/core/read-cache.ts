/**
 * Reads of tasks when the store is shared by several nodes (Postgres), where the store itself
 * cannot cache: another node may change any task at any time. Two kinds of entry:
 *   - finished tasks never change again, so they are cached like any immutable value;
 *   - live tasks are cached only while every other node's change is announced (a complete
 *     TaskFeed: Redis, whose heartbeats tell within seconds when announcements may be lost): a
 *     change announced for a task drops it at once, and an entry is trusted for at most
 *     `liveTtlMs`, the last bound should announcements be lost unnoticed. Without a complete feed
 *     live tasks are read from the store.
 * This node's own transitions put the committed task in (they come with it, as events).
 */
import { LRUCache } from 'lru-cache';
import type { TaskEvents } from './events.js';
import { LOCAL_TASK_EVENTS } from './events.js';
import type { Task } from './types.js';
import { isTerminal } from './types.js';

export interface ReadCacheOptions {
  /** Most tasks kept. */
  size: number;
  /** How long a live task's entry is trusted (ms). */
  liveTtlMs: number;
  /** Whether every change by other nodes is announced now (the feed is complete). */
  coherent: () => boolean;
  now: () => number;
}

interface Entry {
  task: Task;
  at: number;
}

export class TaskReadCache {
  private readonly entries: LRUCache<string, Entry>;
  /** The announcement count when each recently announced task was last announced. */
  private readonly announced: LRUCache<string, number>;
  private announcements = 0;
  private readonly unsubscribe: Array<() => void>;

  constructor(
    events: TaskEvents,
    private readonly opts: ReadCacheOptions,
  ) {
    this.entries = new LRUCache({ max: opts.size });
    this.announced = new LRUCache({ max: opts.size });
    this.unsubscribe = [
      ...LOCAL_TASK_EVENTS.map((event) => events.on(event, ({ task }) => this.keep(task))),
      events.on('task:remote', ({ id }) => this.drop(id)),
    ];
  }

  /** The cached task, if it can be trusted now. */
  get(id: string): Task | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (isTerminal(entry.task.state)) return entry.task;
    if (this.opts.coherent() && this.opts.now() - entry.at <= this.opts.liveTtlMs) return entry.task;
    this.entries.delete(id);
    return undefined;
  }

  /** Call before reading the store; pass the mark to `fill` with what was read. */
  mark(): number {
    return this.announcements;
  }

  /** Caches a task read from the store since `mark`, unless a change to it was announced meanwhile. */
  fill(task: Task, mark: number): void {
    if ((this.announced.get(task.id) ?? 0) > mark) return; // announced after the read began: maybe stale
    this.keep(task);
  }

  private keep(task: Task): void {
    if (!isTerminal(task.state) && !this.opts.coherent()) return;
    this.entries.set(task.id, { task, at: this.opts.now() });
  }

  /** Drops a task (changed elsewhere, or removed). */
  drop(id: string): void {
    this.announcements++;
    this.announced.set(id, this.announcements);
    this.entries.delete(id);
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }
}
