/**
 * A bounded, write-through cache of tasks for the embedded store. It is only coherent because the
 * SQLite file is held exclusively: every write goes through this process's store, which puts the
 * task it wrote here. Cached tasks are shared, immutable values: callers never mutate a Task.
 */
import type { Task } from '../../core/types.js';

export class TaskCache {
  private readonly map = new Map<string, Task>();

  constructor(private readonly capacity: number) {}

  get(id: string): Task | undefined {
    const task = this.map.get(id);
    if (task) {
      // Refresh recency (Map iteration order is insertion order).
      this.map.delete(id);
      this.map.set(id, task);
    }
    return task;
  }

  set(task: Task): Task {
    if (this.capacity <= 0) return task;
    this.map.delete(task.id);
    this.map.set(task.id, task);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
    return task;
  }

  /** Applies a change to a cached task (as a new value), if it is cached. */
  update(id: string, change: (task: Task) => Task): void {
    const task = this.map.get(id);
    if (task) this.map.set(id, change(task));
  }

  /** Drops every cached task matching `pred` (rare bulk updates). */
  evictWhere(pred: (task: Task) => boolean): void {
    for (const [id, task] of this.map) if (pred(task)) this.map.delete(id);
  }

  get size(): number {
    return this.map.size;
  }
}
