/**
 * A typed, namespaced event map. Events are emitted after the transaction that caused them has
 * committed, so a listener always sees the stored state. Logs, waiters, metrics and (later)
 * webhooks and the dashboard subscribe here.
 */
import type { Task } from './types.js';

export interface TaskEventMap {
  'task:queued': { task: Task };
  'task:started': { task: Task; workerId: string };
  'task:progress': { task: Task };
  'task:succeeded': { task: Task };
  'task:failed': { task: Task };
  /** `previous` tells the worker holding a running task to abort its provider. */
  'task:cancelled': { task: Task; previous: Task['state'] };
  /**
   * Another gateway node changed this task (`event` is what it emitted there), as a TaskFeed
   * reported it: committed, but not read here. Workers wake; waiters re-read the task.
   */
  'task:remote': { id: string; event: LocalTaskEvent };
}

/** The events a node emits for its own transitions (the ones a TaskFeed carries to other nodes). */
export type LocalTaskEvent = 'task:queued' | 'task:started' | 'task:progress' | 'task:succeeded' | 'task:failed' | 'task:cancelled';
export const LOCAL_TASK_EVENTS: readonly LocalTaskEvent[] = ['task:queued', 'task:started', 'task:progress', 'task:succeeded', 'task:failed', 'task:cancelled'];

export type TaskEventName = keyof TaskEventMap;
type Listener<E extends TaskEventName> = (payload: TaskEventMap[E]) => void;

export class TaskEvents {
  private readonly listeners: { [E in TaskEventName]?: Set<Listener<E>> } = {};

  on<E extends TaskEventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners[event] as Set<Listener<E>> | undefined;
    if (!set) {
      set = new Set();
      (this.listeners as Record<string, Set<Listener<E>>>)[event] = set;
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Listener errors are reported to `onError`, never thrown into the emitting transition. */
  emit<E extends TaskEventName>(event: E, payload: TaskEventMap[E]): void {
    const set = this.listeners[event] as Set<Listener<E>> | undefined;
    if (!set) return;
    for (const listener of set) {
      try {
        listener(payload);
      } catch (err) {
        this.onError(err, event);
      }
    }
  }

  onError: (err: unknown, event: TaskEventName) => void = () => {};
}
