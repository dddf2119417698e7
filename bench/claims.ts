/**
 * Claim cost against stored history: `npm run bench:claims`. In-process, no network; bounded in
 * count (BENCH_CLAIM_HISTORY finished tasks, default 200,000; BENCH_CLAIM_ROUNDS, default 300).
 *
 * A worker's claim round and a queued task's queue position must not grow with the number of
 * finished tasks kept in the store. Each is timed on a store with no history (the baseline) and
 * on one holding the history, in the same run, through the real SQLite TaskStore: each round
 * inserts 16 queued tasks (untimed), claims them across 6 services (timed), finishes them
 * (untimed). Owners have a concurrency cap in half the rounds' tasks, so the capped path is timed
 * as well. The webhook outbox is timed the same way: 16 due deliveries claimed per round, beside
 * as many delivered ones as there are finished tasks. Rewrites only the "## Claims" section of
 * BENCHMARKS.md.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NewTask, ServiceClaimLimit, TaskStore } from '../packages/server/src/core/ports.js';
import type { Task } from '../packages/server/src/core/types.js';
import { openDatabase, type Db } from '../packages/server/src/store/sqlite/db.js';
import { createSqliteTaskStore } from '../packages/server/src/store/sqlite/task-store.js';
import { createSqliteWebhookStore } from '../packages/server/src/store/sqlite/webhook-store.js';
import { machine, writeSection } from './lib/report.js';

const HISTORY = Math.min(2_000_000, Number(process.env.BENCH_CLAIM_HISTORY ?? 200_000));
const ROUNDS = Math.min(5_000, Number(process.env.BENCH_CLAIM_ROUNDS ?? 300));
const SERVICES = ['a/image', 'b/image', 'c/video', 'd/audio', 'e/image', 'f/video'];
const PER_ROUND = 16;
const LIMITS: ServiceClaimLimit[] = SERVICES.map((service) => ({ service, concurrency: 64, timeoutMs: 60_000 }));

interface Timing {
  claimUs: number;
  positionUs: number;
  webhookUs: number;
}

function newTask(service: string, ownerId: string, now: number): NewTask {
  return {
    id: randomUUID(), ownerId, service, dialect: 'task-api', request: { prompt: 'p' }, input: { prompt: 'p' },
    traceId: randomUUID(), callbackUrl: null, createdAt: now, runAfter: now, meta: {}, webhookEvents: [], origin: null, price: 0,
  };
}

/** `count` finished tasks spread over the services, written in one transaction. */
function fillHistory(db: Db, count: number): void {
  const insert = db.prepare(
    `INSERT INTO tasks (id, owner_id, service, dialect, state, request, input, trace_id, created_at, run_after, meta, webhook_events, origin, price, finished_at)
     VALUES (?, 'history-owner', ?, 'task-api', 'succeeded', '{}', '{}', 'trace', ?, ?, '{}', '[]', NULL, 0, ?)`,
  );
  const delivered = db.prepare(
    `INSERT INTO webhook_deliveries (id, task_id, owner_id, seq, event, url, state, attempts, next_attempt_at, created_at, finished_at)
     VALUES (?, ?, 'history-owner', 1, 'completed', 'http://127.0.0.1:9/cb', 'delivered', 1, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const id = randomUUID();
      insert.run(id, SERVICES[i % SERVICES.length]!, i, i, i);
      delivered.run(randomUUID(), id, i, i, i);
    }
  })();
  db.prepare(`INSERT INTO tokens (id, name, token_hash, created_at, max_concurrency) VALUES ('capped', 'capped', 'h', 0, 8)`).run();
}

const micros = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1000;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(history: number): Promise<Timing> {
  const dir = mkdtempSync(join(tmpdir(), 'taskgate-bench-claims-'));
  const db = openDatabase(join(dir, 'taskgate.db'));
  const store: TaskStore = createSqliteTaskStore(db);
  const webhooks = createSqliteWebhookStore(db);
  const pending = db.prepare(
    `INSERT INTO webhook_deliveries (id, task_id, owner_id, seq, event, url, state, next_attempt_at, created_at)
     VALUES (?, ?, 'free', 1, 'completed', 'http://127.0.0.1:9/cb', 'pending', ?, ?)`,
  );
  const deliver = db.prepare(`UPDATE webhook_deliveries SET state = 'delivered', finished_at = ? WHERE id = ?`);
  try {
    fillHistory(db, history);
    const claims: number[] = [];
    const positions: number[] = [];
    const deliveries: number[] = [];
    let now = 10_000_000;
    for (let round = 0; round < ROUNDS; round++) {
      now += 10;
      const queued: Task[] = [];
      for (let i = 0; i < PER_ROUND; i++) queued.push(await store.insert(newTask(SERVICES[i % SERVICES.length]!, i % 2 ? 'capped' : 'free', now)));
      let start = process.hrtime.bigint();
      await store.queuePosition(queued[PER_ROUND - 1]!);
      positions.push(micros(start));
      start = process.hrtime.bigint();
      const claimed = await store.claimDue({ workerId: 'w', now, leaseMs: 60_000, max: PER_ROUND * 2, services: LIMITS, ownerConcurrency: null });
      claims.push(micros(start));
      if (claimed.length !== PER_ROUND) throw new Error(`round ${round}: claimed ${claimed.length} of ${PER_ROUND}`);
      for (const t of claimed) await store.finish({ id: t.id, workerId: 'w', now, state: 'succeeded', output: { files: [] } });
      // The webhook outbox: one due delivery per task of this round, claimed by a delivery worker.
      db.transaction(() => queued.forEach((t) => pending.run(randomUUID(), `wh-${t.id}`, now, now)))();
      start = process.hrtime.bigint();
      const taken = await webhooks.claimDeliveries({ workerId: 'w', now, leaseMs: 60_000, max: PER_ROUND * 2 });
      deliveries.push(micros(start));
      if (taken.length !== PER_ROUND) throw new Error(`round ${round}: claimed ${taken.length} deliveries of ${PER_ROUND}`);
      db.transaction(() => taken.forEach((d) => deliver.run(now, d.id)))();
    }
    return { claimUs: median(claims), positionUs: median(positions), webhookUs: median(deliveries) };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const baseline = await measure(0);
const loaded = await measure(HISTORY);
const f1 = (x: number): string => x.toFixed(1);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
console.log(`claim round: ${f1(baseline.claimUs)} µs empty, ${f1(loaded.claimUs)} µs with ${HISTORY} finished tasks`);
console.log(`queue position: ${f1(baseline.positionUs)} µs empty, ${f1(loaded.positionUs)} µs with ${HISTORY} finished tasks`);
console.log(`webhook claim: ${f1(baseline.webhookUs)} µs empty, ${f1(loaded.webhookUs)} µs with ${HISTORY} delivered webhooks`);

const m = machine();
writeSection(fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url)), 'Claims', `## Claims

Claim cost against stored history (\`npm run bench:claims\`; this section is rewritten by that
script). The real SQLite TaskStore in process: each of ${ROUNDS} rounds inserts ${PER_ROUND} queued tasks over
${SERVICES.length} services (half of them owned by a token capped at 8 running tasks), times one
\`queuePosition\` and one \`claimDue\`, then finishes them. Median per call; the baseline is the same
run on a store with no finished tasks.

| call | no history (baseline) | ${HISTORY.toLocaleString('en-US')} finished tasks | ratio |
| --- | --- | --- | --- |
| claim round (6 services, 16 tasks) | ${f1(baseline.claimUs)} µs | ${f1(loaded.claimUs)} µs | ${ratio(loaded.claimUs, baseline.claimUs)} |
| queue position of a queued task | ${f1(baseline.positionUs)} µs | ${f1(loaded.positionUs)} µs | ${ratio(loaded.positionUs, baseline.positionUs)} |
| webhook claim (16 due deliveries; history: as many delivered ones) | ${f1(baseline.webhookUs)} µs | ${f1(loaded.webhookUs)} µs | ${ratio(loaded.webhookUs, baseline.webhookUs)} |

- Until commit 15d7a88 made the claim and position queries repeat the partial index's
  condition, SQLite scanned every stored task in each of them. This script on that code, same
  machine, 2026-11-30: claim round 1.0 ms empty → 75.3 ms with 200,000 finished tasks (74×),
  queue position 26 µs → 12.3 ms. The webhook outbox's due query had the same flaw until
  9079902: webhook claim 0.25 ms empty → 15.7 ms with 200,000 delivered webhooks (62×).
- Machine: ${m.cpu}, \`nproc\` ${m.nproc}, ${m.memory}, Node ${m.node}, ${m.kernel}; ${m.date}.
`);
console.log('wrote BENCHMARKS.md (## Claims)');
