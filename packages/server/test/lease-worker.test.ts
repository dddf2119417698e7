/** The one lease-worker mechanism: free slots, batched renewal, lease loss, detach, stop and halt. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { LeaseWorker, type JobContext, type LeaseWorkerOptions } from '../src/dispatch/lease-worker.js';

const LEASE = 60; // renewed every 20 ms
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A worker over an in-memory queue of job names; each job runs until released or aborted. */
function harness(over: Partial<LeaseWorkerOptions<string>> = {}) {
  const queue: string[] = [];
  const held = new Set<string>();
  const renewals: string[][] = [];
  const running = new Map<string, { ctx: JobContext; release: () => void }>();
  const outcomes: string[] = [];
  let gaveBack = 0;
  const worker = new LeaseWorker<string>({
    name: 'jobs', workerId: 'w1', log: pino({ level: 'silent' }), leaseMs: LEASE, pollMs: 1000, maxConcurrency: 2,
    key: (job) => job,
    claim: async (max) => {
      const claimed = queue.splice(0, max);
      for (const job of claimed) held.add(job);
      return claimed;
    },
    run: async (job, ctx) => {
      await new Promise<void>((resolve) => {
        running.set(job, { ctx, release: resolve });
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      running.delete(job);
      outcomes.push(ctx.isDetached() ? `${job}: nothing written` : `${job}: done`);
    },
    renew: async (jobs) => {
      renewals.push([...jobs]);
      return jobs.filter((j) => held.has(j));
    },
    giveBack: async () => {
      gaveBack++;
    },
    ...over,
  });
  return { worker, queue, held, renewals, running, outcomes, gaveBack: () => gaveBack };
}

/** Starts the worker with these jobs queued, once `count` of them run. */
async function startWith(h: ReturnType<typeof harness>, jobs: string[], count = jobs.length): Promise<void> {
  h.queue.push(...jobs);
  h.worker.start();
  await until(`${count} jobs running`, () => h.running.size === count);
}

test('claims into free slots only, renews every lease in flight in one call, and refills a slot when a job ends', async () => {
  const h = harness();
  await startWith(h, ['a', 'b', 'c'], 2);
  assert.equal(h.worker.activeCount, 2);
  assert.deepEqual(h.queue, ['c'], 'the third waits for a free slot');
  const before = h.renewals.length;
  const from = Date.now();
  await until('three renewals', () => h.renewals.length >= before + 3);
  const batches = h.renewals.slice(before);
  const periods = (Date.now() - from) / (LEASE / 3);
  assert.ok(batches.length <= periods + 1, `one call per third of the lease, not one per job (${batches.length} in ${periods} periods)`);
  assert.ok(batches.every((b) => b.length === 2 && b.includes('a') && b.includes('b')), 'both leases in each call');
  h.running.get('a')!.release();
  await until('c running', () => h.running.has('c'));
  assert.deepEqual(h.outcomes, ['a: done']);
  await h.worker.stop();
});

test('a lease the renewal no longer reports is lost: that job is aborted and writes nothing; the others go on', async () => {
  const h = harness();
  await startWith(h, ['a', 'b']);
  const a = h.running.get('a')!.ctx;
  h.held.delete('a'); // claimed again elsewhere
  await until('a stopped', () => !h.running.has('a'));
  assert.equal(a.signal.reason instanceof Error && a.signal.reason.message, 'lease lost');
  assert.deepEqual(h.outcomes, ['a: nothing written']);
  assert.ok(h.running.has('b'));
  // A refused write tells the same: lose() stops the job.
  h.running.get('b')!.ctx.lose();
  await until('b stopped', () => !h.running.has('b'));
  assert.deepEqual(h.outcomes, ['a: nothing written', 'b: nothing written']);
  await h.worker.stop();
});

test('a failing renewal: kept by default, lost with onRenewError "lose"', async () => {
  const renew = async (): Promise<string[]> => {
    throw new Error('database is locked');
  };
  const keep = harness({ renew });
  await startWith(keep, ['a']);
  await sleep(LEASE);
  assert.ok(keep.running.has('a'), 'still running');
  await keep.worker.stop();

  const lose = harness({ renew, onRenewError: 'lose' });
  lose.queue.push('a');
  lose.worker.start();
  await until('a stopped', () => lose.outcomes.length === 1);
  assert.deepEqual(lose.outcomes, ['a: nothing written']);
  await lose.worker.stop();
});

test('finishing() takes a job out of renewal; detach() aborts one job with a reason and it writes nothing', async () => {
  const h = harness();
  await startWith(h, ['a', 'b']);
  h.running.get('a')!.ctx.finishing();
  h.held.delete('a'); // its outcome ended the lease: no loss is reported
  const before = h.renewals.length;
  await sleep(LEASE);
  assert.ok(h.renewals.slice(before).every((b) => b.length === 1 && b[0] === 'b'));
  assert.ok(h.running.has('a') && !h.running.get('a')!.ctx.signal.aborted);
  const reason = new Error('cancelled');
  assert.equal(h.worker.detach('b', reason), 'b');
  assert.equal(h.worker.detach('nope', reason), undefined);
  await until('b stopped', () => !h.running.has('b'));
  h.running.get('a')!.release();
  await until('a done', () => h.outcomes.length === 2);
  assert.deepEqual(h.outcomes.sort(), ['a: done', 'b: nothing written']);
  await h.worker.stop();
});

test('stop: a grace period, then the rest are aborted and write nothing; the leases are given back once all settled', async () => {
  const h = harness({ stopGraceMs: 100 });
  await startWith(h, ['quick', 'hung']);
  setTimeout(() => h.running.get('quick')?.release(), 20);
  const started = Date.now();
  await h.worker.stop();
  assert.ok(Date.now() - started >= 90, 'waited out the grace period');
  assert.deepEqual(h.outcomes.sort(), ['hung: nothing written', 'quick: done']);
  assert.equal(h.gaveBack(), 1);
  assert.equal(h.worker.activeCount, 0);
  h.queue.push('late');
  h.worker.wake();
  await h.worker.tick();
  assert.deepEqual(h.queue, ['late'], 'a stopped worker claims nothing');
});

test('halt: no more claims or renewals, nothing given back, jobs left as a killed process leaves them', async () => {
  let release: () => void = () => undefined;
  const claimGate = new Promise<void>((r) => (release = r));
  let claims = 0;
  let secondReturned = false;
  const h = harness({
    claim: async (max) => {
      claims++;
      if (claims === 2) await claimGate; // halted while this claim runs
      const claimed = h.queue.splice(0, max);
      for (const job of claimed) h.held.add(job);
      if (claims === 2) secondReturned = true;
      return claimed;
    },
  });
  await startWith(h, ['a']);
  h.queue.push('b');
  h.worker.wake();
  await until('the second claim', () => claims === 2);
  h.worker.halt();
  release();
  await until('the second claim returned', () => secondReturned);
  await sleep(5);
  assert.ok(!h.running.has('b'), 'claimed while halting: left leased, not run');
  const before = h.renewals.length;
  await sleep(LEASE);
  assert.equal(h.renewals.length, before, 'a halted worker renews nothing');
  assert.ok(h.running.has('a') && !h.running.get('a')!.ctx.signal.aborted);
  assert.equal(h.gaveBack(), 0);
  h.running.get('a')!.release();
});
