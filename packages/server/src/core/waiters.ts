/**
 * Watching a task: every new state (start, progress, finish) is delivered as this process emits
 * it; a change another node announces (`task:remote`, from a TaskFeed) is re-read from the store
 * at once; and a slow store re-read catches changes nobody announced. While the feed is live the
 * re-read runs only every `QUIET_TICKS` polls (a safety net), so waiters cost no database polls.
 * Waiting for a terminal state is a watch that ignores the states in between.
 */
import type { TaskEvents } from './events.js';
import type { Task } from './types.js';
import { isTerminal } from './types.js';

type Listener = (task: Task) => void;

/** While the feed is live, a waiter re-reads its task every this many poll intervals. */
const QUIET_TICKS = 15;

const RANK = { queued: 0, running: 1, succeeded: 2, failed: 2, cancelled: 2 } as const;

/** True if `next` is a later version of the task than `prev` (never go backwards). */
function isNewer(next: Task, prev: Task): boolean {
  const a = RANK[next.state];
  const b = RANK[prev.state];
  if (a !== b) return a > b;
  if (a === 2) return false;
  return (next.progress ?? -1) > (prev.progress ?? -1) || next.attempts > prev.attempts;
}

export class TaskWatchers {
  private readonly byId = new Map<string, Set<Listener>>();
  private readonly unsubscribe: Array<() => void>;

  constructor(
    events: TaskEvents,
    private readonly read: (id: string) => Promise<Task | null>,
    private readonly pollMs: number,
    /** True while another node's changes are announced (a live TaskFeed): poll rarely. */
    private readonly announced: () => boolean = () => false,
  ) {
    const notify = ({ task }: { task: Task }): void => {
      const set = this.byId.get(task.id);
      if (set) for (const fn of [...set]) fn(task);
    };
    this.unsubscribe = [
      // Another node changed a watched task: one read, for every waiter of it.
      events.on('task:remote', ({ id }) => {
        if (!this.byId.has(id)) return;
        this.read(id).then(
          (task) => {
            if (task) notify({ task });
          },
          () => undefined,
        );
      }),
      events.on('task:started', notify),
      events.on('task:progress', notify),
      events.on('task:succeeded', notify),
      events.on('task:failed', notify),
      events.on('task:cancelled', notify),
    ];
  }

  /**
   * Calls `onChange` with each newer state until the task is terminal, `timeoutMs` passes or
   * `signal` aborts; resolves with the latest state seen.
   */
  watch(initial: Task, onChange: Listener, signal?: AbortSignal, timeoutMs?: number): Promise<Task> {
    const id = initial.id;
    return new Promise<Task>((resolve) => {
      let last = initial;
      let settled = false;
      let set = this.byId.get(id);
      if (!set) {
        set = new Set();
        this.byId.set(id, set);
      }
      const listeners = set;
      const see: Listener = (task) => {
        if (settled || !isNewer(task, last)) return;
        last = task;
        onChange(task);
        if (isTerminal(task.state)) done();
      };
      const refresh = (): Promise<void> =>
        this.read(id).then(
          (t) => {
            if (t) see(t);
          },
          () => undefined,
        );
      const done = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poller);
        signal?.removeEventListener('abort', stop);
        listeners.delete(see);
        if (listeners.size === 0 && this.byId.get(id) === listeners) this.byId.delete(id);
        resolve(last);
      };
      const stop = (): void => void refresh().then(done);
      listeners.add(see);
      const timer = timeoutMs === undefined ? undefined : setTimeout(stop, timeoutMs);
      let ticks = 0;
      const poller = setInterval(() => {
        ticks++;
        if (!this.announced() || ticks % QUIET_TICKS === 0) void refresh();
      }, this.pollMs);
      poller.unref();
      if (isTerminal(initial.state)) done();
      else if (signal?.aborted) stop();
      else signal?.addEventListener('abort', stop, { once: true });
    });
  }

  /** Resolves with the terminal task, or with the latest stored state after `timeoutMs`. */
  wait(initial: Task, timeoutMs: number, signal?: AbortSignal): Promise<Task> {
    return this.watch(initial, () => {}, signal, timeoutMs);
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }
}
