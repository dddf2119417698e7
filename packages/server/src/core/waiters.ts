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
    private readonly read: (id: string) => Promise<Task | null>,
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
      const settle = (): void => {
        void this.read(id).then(done, () => done(null));
      };
      let settled = false;
      const done = (task: Task | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poller);
        signal?.removeEventListener('abort', settle);
        waiters.delete(wake);
        if (waiters.size === 0 && this.byId.get(id) === waiters) this.byId.delete(id);
        resolve(task ?? initial);
      };
      const wake: Wake = (task) => done(task);
      waiters.add(wake);
      const timer = setTimeout(settle, timeoutMs);
      const poller = setInterval(() => {
        void this.read(id).then((task) => {
          if (task && isTerminal(task.state)) done(task);
        }, () => undefined);
      }, this.pollMs);
      poller.unref();
      if (signal?.aborted) settle();
      else signal?.addEventListener('abort', settle, { once: true });
    });
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }
}
