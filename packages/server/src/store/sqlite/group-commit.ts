/**
 * Group commit: writes requested during one event-loop turn are committed together in one
 * transaction, right after the turn's I/O (setImmediate). Each caller resolves only once its row
 * is committed, so durability is unchanged; the commit's fixed cost (WAL frame writes, locks) is
 * shared by every request that arrived together. If a batch fails, its rows are retried one by
 * one so a single bad row fails alone.
 */
import type { Transaction } from 'better-sqlite3';
import type { Db } from './db.js';

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private scheduled: Promise<void> | null = null;
  private readonly writeAll: Transaction<(items: T[]) => void>;

  constructor(
    private readonly db: Db,
    private readonly write: (item: T) => void,
  ) {
    this.writeAll = db.transaction((items: T[]) => {
      for (const item of items) write(item);
    });
  }

  add(item: T): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.queue.push({ item, resolve, reject }));
    this.scheduled ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.scheduled = null;
        this.flush();
        resolve();
      }),
    );
    return done;
  }

  /** Waits for scheduled writes (used on close). */
  async drain(): Promise<void> {
    while (this.scheduled) await this.scheduled;
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      this.writeAll.immediate(batch.map((p) => p.item));
      for (const p of batch) p.resolve();
    } catch {
      for (const p of batch) {
        try {
          this.db.transaction(() => this.write(p.item)).immediate();
          p.resolve();
        } catch (err) {
          p.reject(err);
        }
      }
    }
  }
}
