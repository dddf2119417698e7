/**
 * Group commit: writes requested during one event-loop turn are committed together in one
 * transaction, right after the turn's I/O (setImmediate). Each caller resolves only once its row
 * is committed, so durability is unchanged; the commit's fixed cost (WAL frame writes, locks) is
 * shared by every request that arrived together. If a batch fails, its rows are retried one by
 * one so a single bad row fails alone. Each write returns a result (what the row turned out to be)
 * that its caller receives once committed.
 */
import type { Transaction } from 'better-sqlite3';
import type { Db } from './db.js';

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T, R = void> {
  private queue: Pending<T, R>[] = [];
  private scheduled: Promise<void> | null = null;
  private readonly writeAll: Transaction<(items: T[]) => R[]>;

  constructor(
    private readonly db: Db,
    private readonly write: (item: T) => R,
  ) {
    this.writeAll = db.transaction((items: T[]) => items.map((item) => write(item)));
  }

  add(item: T): Promise<R> {
    const done = new Promise<R>((resolve, reject) => this.queue.push({ item, resolve, reject }));
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
      const results = this.writeAll.immediate(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(results[i] as R));
    } catch {
      for (const p of batch) {
        try {
          p.resolve(this.db.transaction(() => this.write(p.item)).immediate());
        } catch (err) {
          p.reject(err);
        }
      }
    }
  }
}
