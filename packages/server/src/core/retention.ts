/**
 * Retention: a background job removing finished tasks (and their result files) older than
 * `maxAgeDays`, counted from when they finished, in bounded batches. The store removes each
 * task with the rows hanging off it and keeps the ledger; it never removes the parent of an
 * unfinished follow-up nor a task with a webhook delivery still to make (TaskStore.purgeFinished).
 * Several nodes may run it at once: the store hands each task to one of them, and removing a file
 * twice is harmless. A run is one batch; the first comes `intervalSeconds` after start, a full
 * batch is followed by the next one soon after, anything less waits `intervalSeconds` again.
 */
import type { Clock, FileSink } from './ports.js';
import type { TaskService } from './task-service.js';

export interface RetentionSettings {
  enabled: boolean;
  maxAgeDays: number;
  batchSize: number;
  intervalSeconds: number;
}

/** What one run removed: tasks, files and the files' bytes. */
export interface RetentionStats {
  tasks: number;
  files: number;
  bytes: number;
}

export interface RetentionLog {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RetentionOptions {
  tasks: TaskService;
  files: FileSink;
  clock: Clock;
  settings: RetentionSettings;
  log: RetentionLog;
}

/** Pause between two full batches, so a large backlog drains without hogging the store. */
const NEXT_BATCH_MS = 1000;

export class RetentionJob {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RetentionStats> | null = null;
  private stopped = true;
  private readonly listeners: Array<(stats: RetentionStats) => void> = [];

  constructor(private readonly opts: RetentionOptions) {}

  /** Calls `fn` with the figures of every run (metrics); returns the unsubscribe. */
  onRun(fn: (stats: RetentionStats) => void): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** One batch now (runs never overlap on a node: a second call joins the one in progress). */
  runOnce(): Promise<RetentionStats> {
    this.running ??= this.batch().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(this.opts.settings.intervalSeconds * 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.runOnce().then(
        (stats) => this.schedule(stats.tasks >= this.opts.settings.batchSize ? NEXT_BATCH_MS : this.opts.settings.intervalSeconds * 1000),
        (err: unknown) => {
          this.opts.log.error({ err }, 'retention run failed');
          this.schedule(this.opts.settings.intervalSeconds * 1000);
        },
      );
    }, ms);
    this.timer.unref();
  }

  private async batch(): Promise<RetentionStats> {
    const { settings, clock, files } = this.opts;
    const before = clock.now() - settings.maxAgeDays * 86_400_000;
    const removed = await this.opts.tasks.purgeFinished(before, settings.batchSize);
    const stats: RetentionStats = { tasks: removed.length, files: 0, bytes: 0 };
    // The rows are gone first: a file is never left without its task, only (after a crash
    // between the two) a file without a task, which nothing links to any more.
    for (const file of removed.flatMap((t) => t.files)) {
      try {
        const bytes = await files.remove(file.path);
        if (bytes === null) continue;
        stats.files++;
        stats.bytes += bytes;
      } catch (err) {
        this.opts.log.error({ err, path: file.path }, 'retention could not remove a file');
      }
    }
    if (stats.tasks > 0) this.opts.log.info({ ...stats }, 'retention removed old tasks');
    for (const fn of this.listeners) {
      try {
        fn(stats);
      } catch (err) {
        this.opts.log.error({ err }, 'retention listener failed');
      }
    }
    return stats;
  }
}
