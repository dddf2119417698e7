/**
 * The StatsStore contract (core/stats.ts) as a shared suite, run against every driver: the slim
 * rows of tasks finished in [since, until), latest finished first, filtered by owner and
 * services, capped by `limit`. Tasks are made through the real TaskStore transitions.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { TerminalState } from '../src/core/types.js';
import type { Stores } from '../src/store/factory.js';
import { newTask, testsOn, type SuiteOptions } from './store-contract.js';

interface Made {
  ownerId?: string;
  service?: string;
  createdAt: number;
  finishedAt: number;
  state: TerminalState;
  price?: number;
}

/** A task taken through insert → claim → finish (or cancelled while queued) at the given times. */
async function finished(s: Stores, m: Made): Promise<string> {
  const service = m.service ?? 'demo/image';
  const task = newTask({ ownerId: m.ownerId ?? 'owner-1', service, createdAt: m.createdAt, price: m.price ?? 0 });
  await s.tasks.insert(task);
  if (m.state === 'cancelled') {
    const done = await s.tasks.terminate({ id: task.id, from: ['queued'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: m.finishedAt });
    assert.ok(done);
    return task.id;
  }
  const claimed = await s.tasks.claimDue({ workerId: 'w', now: m.createdAt, leaseMs: 3_600_000, max: 1, services: [{ service, concurrency: 10, timeoutMs: 3_600_000 }] });
  assert.deepEqual(claimed.map((t) => t.id), [task.id]);
  const done = await s.tasks.finish({
    id: task.id, workerId: 'w', now: m.finishedAt, state: m.state,
    ...(m.state === 'succeeded' ? { output: { files: [] } } : { error: { code: 'api_error', message: 'boom' } }),
  });
  assert.equal(done?.state, m.state);
  return task.id;
}

export function runStatsSuite(name: string, open: () => Promise<Stores>, opts: SuiteOptions = {}): void {
  describe(`StatsStore contract: ${name}`, { skip: opts.skip ?? false }, () => {
    const it = testsOn(open);

    it('reads the tasks finished in [since, until), latest finished first, with state, times and price', async (s) => {
      await s.ledger.credit('owner-1', 1000, 'topup', 'test', 1);
      await finished(s, { createdAt: 500, finishedAt: 999, state: 'succeeded' }); // before since
      await finished(s, { createdAt: 900, finishedAt: 1000, state: 'succeeded', price: 7 }); // at since: in
      await finished(s, { createdAt: 1200, finishedAt: 1500, state: 'failed', price: 3 });
      await finished(s, { createdAt: 1700, finishedAt: 1800, state: 'cancelled' });
      await finished(s, { createdAt: 1900, finishedAt: 2000, state: 'succeeded' }); // at until: out
      await s.tasks.insert(newTask({ createdAt: 1100 })); // never finished
      const rows = await s.stats.finishedTasks({ since: 1000, until: 2000, limit: 100 });
      assert.deepEqual(rows, [
        { state: 'cancelled', createdAt: 1700, finishedAt: 1800, price: 0 },
        { state: 'failed', createdAt: 1200, finishedAt: 1500, price: 3 },
        { state: 'succeeded', createdAt: 900, finishedAt: 1000, price: 7 },
      ]);
      assert.deepEqual(await s.stats.finishedTasks({ since: 3000, until: 4000, limit: 100 }), []);
    });

    it('filters by owner and by services, and keeps the latest finished up to the limit', async (s) => {
      for (let i = 0; i < 5; i++) await finished(s, { createdAt: 100 * i, finishedAt: 100 * i + 50, state: 'succeeded' });
      await finished(s, { ownerId: 'owner-2', createdAt: 10, finishedAt: 60, state: 'failed' });
      await finished(s, { service: 'flux/dev', createdAt: 20, finishedAt: 70, state: 'succeeded' });
      const all = { since: 0, until: 10_000 };
      assert.equal((await s.stats.finishedTasks({ ...all, limit: 100 })).length, 7);
      const mine = await s.stats.finishedTasks({ ...all, ownerId: 'owner-1', limit: 100 });
      assert.equal(mine.length, 6);
      const theirs = await s.stats.finishedTasks({ ...all, ownerId: 'owner-2', limit: 100 });
      assert.deepEqual(theirs, [{ state: 'failed', createdAt: 10, finishedAt: 60, price: 0 }]);
      assert.deepEqual((await s.stats.finishedTasks({ ...all, services: ['flux/dev'], limit: 100 })).map((r) => r.finishedAt), [70]);
      assert.equal((await s.stats.finishedTasks({ ...all, services: ['flux/dev', 'demo/image'], limit: 100 })).length, 7);
      assert.deepEqual(await s.stats.finishedTasks({ ...all, services: ['flux/dev'], ownerId: 'owner-2', limit: 100 }), []);
      assert.deepEqual((await s.stats.finishedTasks({ ...all, limit: 2 })).map((r) => r.finishedAt), [450, 350], 'the latest finished');
    });
  });
}
