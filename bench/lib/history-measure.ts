/**
 * The two measurements of `npm run bench:history`, run on several stores at once, interleaved
 * (a block of calls on one store, then the same on the next, the order reversed every other turn),
 * so that whatever else the machine does at a given moment weighs on every store alike. Bounded in count and in time.
 */
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { NewTask, ServiceClaimLimit, TaskStore } from '../../packages/server/src/core/ports.js';
import { CLAIM_SERVICES, LIVE_TOTAL, ownerId, taskId, type Shape } from './history-data.js';

export interface Subject {
  tasks: TaskStore;
  shape: Shape;
}

export interface Spread {
  p50: number;
  p99: number;
  n: number;
}

const micros = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1000;

/** The stores' order in a turn: forwards, then backwards, so that neither always goes first. */
const order = (n: number, turn: number): number[] => {
  const ks = Array.from({ length: n }, (_, k) => k);
  return turn % 2 ? ks.reverse() : ks;
};

export function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), n: s.length };
}

/**
 * `store.get(id)` of `calls` ids per store, each drawn uniformly over every stored task (history
 * and live set), one call at a time, in blocks of `block` per store in turn. µs per call.
 */
export async function measureRetrieves(subjects: Subject[], opts: { calls: number; block: number; warmup: number; deadline: number }): Promise<number[][]> {
  const out = subjects.map((): number[] => []);
  const one = async (s: Subject, into: number[] | null): Promise<void> => {
    const id = taskId(s.shape, Math.floor(Math.random() * (s.shape.count + LIVE_TOTAL)));
    const start = process.hrtime.bigint();
    const task = await s.tasks.get(id);
    const us = micros(start);
    if (task?.id !== id) throw new Error(`retrieve: task ${id} not found in the store of ${s.shape.count} tasks`);
    into?.push(us);
  };
  for (const s of subjects) for (let i = 0; i < opts.warmup; i++) await one(s, null);
  for (let turn = 0; out.some((xs) => xs.length < opts.calls) && Date.now() < opts.deadline; turn++) {
    for (const k of order(subjects.length, turn)) {
      const into = out[k]!;
      for (let i = 0; i < opts.block && into.length < opts.calls; i++) await one(subjects[k]!, into);
    }
  }
  return out;
}

export const PER_ROUND = 16;
/** The claim rounds' owners: owner 0 (the biggest history, capped at 8 running tasks) and owner 1 (no cap). */
const ROUND_OWNERS = [ownerId(0), ownerId(1)];
const LIMITS: ServiceClaimLimit[] = CLAIM_SERVICES.map((service) => ({ service, concurrency: 64, timeoutMs: 600_000 }));

function newTask(service: string, owner: string, now: number): NewTask {
  return {
    id: uuidv7(), ownerId: owner, service, dialect: 'task-api',
    request: { prompt: 'a lighthouse on a rocky cliff at dusk, dramatic clouds', async: true },
    input: { prompt: 'a lighthouse on a rocky cliff at dusk, dramatic clouds', width: 1024, height: 1024, seed: 42 },
    traceId: randomUUID().replace(/-/g, ''), callbackUrl: null, createdAt: now, runAfter: now, meta: {}, webhookEvents: ['completed'],
    origin: null, price: 0,
  };
}

/** One round on one store: insert a batch (untimed), claim it (timed: µs), finish it (untimed). */
async function round(s: Subject, workerId: string): Promise<number> {
  let now = Date.now();
  const inserted = await Promise.all(
    Array.from({ length: PER_ROUND }, (_, i) => s.tasks.insert(newTask(CLAIM_SERVICES[i % CLAIM_SERVICES.length]!, ROUND_OWNERS[i % 2]!, now))),
  );
  now = Math.max(now, Date.now());
  const start = process.hrtime.bigint();
  const claimed = await s.tasks.claimDue({ workerId, now, leaseMs: 600_000, max: PER_ROUND * 2, services: LIMITS, ownerConcurrency: null });
  const us = micros(start);
  const mine = new Set(inserted.map((t) => t.id));
  if (claimed.length !== PER_ROUND || !claimed.every((t) => mine.has(t.id))) {
    throw new Error(`claim round on the store of ${s.shape.count} tasks claimed ${claimed.length} tasks, expected this round's ${PER_ROUND}`);
  }
  for (const t of claimed) {
    const output = { files: [{ id: randomUUID(), kind: 'image' as const, contentType: 'image/png', path: `/files/${randomUUID().replace(/-/g, '')}/image-0.png`, bytes: 1000 }] };
    if (!(await s.tasks.finish({ id: t.id, workerId, now: Date.now(), state: 'succeeded', output }))) throw new Error(`finish of ${t.id} failed`);
  }
  return us;
}

/** `rounds` claim rounds per store, one store after the other in each turn. µs per claimDue. */
export async function measureClaims(subjects: Subject[], opts: { rounds: number; warmup: number; deadline: number }): Promise<number[][]> {
  const out = subjects.map((): number[] => []);
  const workerId = `bench-history-${process.pid}`;
  for (let r = 0; r < opts.warmup; r++) for (const s of subjects) await round(s, workerId);
  for (let r = 0; r < opts.rounds && Date.now() < opts.deadline; r++) {
    for (const k of order(subjects.length, r)) out[k]!.push(await round(subjects[k]!, workerId));
  }
  return out;
}
