/**
 * Waiting for a task to become terminal: woken by this process's events at once, and by a slow
 * store re-read for tasks another process finishes (shared SQLite file, or later Postgres).
 */
import type { TaskEvents } from './events.js';
import type { Task } from './types.js';
import { isTerminal } from './types.js';

type Wake = (task: Task) => void;

export class TerminalWaiters {
  private readonly byId = new Map<string, Set<Wake>>();
  private readonly unsubscribe: Array<() => void>;

  constructor(
    events: TaskEvents,
    private readonly read: (id: string) => Task | null,
    private readonly pollMs: number,
  ) {
    const wake = ({ task }: { task: Task }): void => {
      const set = this.byId.get(task.id);
      if (set) for (const fn of [...set]) fn(task);
    };
    this.unsubscribe = [
      events.on('task:succeeded', wake),
      events.on('task:failed', wake),
      events.on('task:cancelled', wake),
    ];
  }

  /** Resolves with the terminal task, or with the latest stored state after `timeoutMs`. */
  wait(initial: Task, timeoutMs: number, signal?: AbortSignal): Promise<Task> {
    const id = initial.id;
    return new Promise<Task>((resolve) => {
      let set = this.byId.get(id);
      if (!set) {
        set = new Set();
        this.byId.set(id, set);
      }
      const waiters = set;
      const onAbort = (): void => done(this.read(id));
      const done = (task: Task | null): void => {
        clearTimeout(timer);
        clearInterval(poller);
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(wake);
        if (waiters.size === 0) this.byId.delete(id);
        resolve(task ?? initial);
      };
      const wake: Wake = (task) => done(task);
      waiters.add(wake);
      const timer = setTimeout(() => done(this.read(id)), timeoutMs);
      const poller = setInterval(() => {
        const task = this.read(id);
        if (task && isTerminal(task.state)) done(task);
      }, this.pollMs);
      poller.unref();
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }
}
