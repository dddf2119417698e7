/**
 * Group commit for creates on Postgres: the inserts that arrive during one event-loop turn are
 * written together, one multi-row INSERT (and the holds of the priced ones) in one transaction on
 * one connection, instead of BEGIN / INSERT / COMMIT round trips and a commit (a WAL flush) each.
 * Every caller resolves only once its row is committed, so durability is unchanged. If a batch
 * fails (a hold refused: used_up), its tasks are inserted one by one, so the refused one fails
 * alone. A lone free task is one autocommitted statement.
 */
import type { NewTask } from '../../core/ports.js';
import { transaction, type Pool } from './db.js';
import type { PgTaskLedger, Queryable } from './parts.js';

interface Pending {
  task: NewTask;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Most tasks in one statement (bounds the statement's size). */
const MAX_BATCH = 200;
/**
 * Most batches committing at once. While they commit, new creates queue up and go together in the
 * next batch: fewer, larger commits (each a WAL flush) instead of one per event-loop turn.
 */
const MAX_IN_FLIGHT = 2;

const row = (t: NewTask) => ({
  id: t.id, owner_id: t.ownerId, service: t.service, dialect: t.dialect, state: 'queued',
  request: JSON.stringify(t.request), input: JSON.stringify(t.input), trace_id: t.traceId, callback_url: t.callbackUrl,
  created_at: t.createdAt, run_after: t.runAfter, meta: JSON.stringify(t.meta), webhook_events: JSON.stringify(t.webhookEvents),
  origin: t.origin, price: t.price, follow_up: t.followUp ? JSON.stringify(t.followUp) : null, attempts: 0,
});

const COLUMNS = 'id, owner_id, service, dialect, state, request, input, trace_id, callback_url, created_at, run_after, meta, webhook_events, origin, price, follow_up, attempts';

/** Inserts the tasks (one statement) and holds their prices, on `c` (inside the caller's transaction for priced ones). */
export async function insertTasks(c: Queryable, ledger: PgTaskLedger, tasks: readonly NewTask[]): Promise<void> {
  await c.query(`INSERT INTO tasks (${COLUMNS}) SELECT ${COLUMNS} FROM json_populate_recordset(NULL::tasks, $1::json)`, [JSON.stringify(tasks.map(row))]);
  for (const t of tasks) await ledger.hold(c, t.ownerId, t.id, t.price, t.createdAt); // throws used_up: rolls the batch back
}

export class GroupInsert {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly pool: Pool,
    private readonly ledger: PgTaskLedger,
  ) {}

  add(task: NewTask): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0 && this.inFlight.size < MAX_IN_FLIGHT) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const done = this.write(batch).finally(() => {
        this.inFlight.delete(done);
        this.flush(); // what queued meanwhile goes now, as one batch
      });
      this.inFlight.add(done);
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      await this.commit(batch.map((p) => p.task));
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      // One bad row (a refused hold) must not fail the others: each on its own.
      await Promise.all(batch.map((p) => this.commit([p.task]).then(p.resolve, p.reject)));
    }
  }

  private commit(tasks: NewTask[]): Promise<void> {
    if (tasks.every((t) => t.price <= 0)) return insertTasks(this.pool, this.ledger, tasks); // one statement: autocommit
    return transaction(this.pool, (c) => insertTasks(c, this.ledger, tasks));
  }

  /** Waits for the writes in flight (before the pool ends). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0 || this.scheduled) await Promise.all([...this.inFlight, new Promise((r) => setImmediate(r))]);
  }
}
