/**
 * The retention part of the TaskStore contract (`purgeFinished`) as a shared suite: every driver
 * must pass it. `open` gives a task store and a webhook store over one fresh database.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { TaskStore } from '../src/core/ports.js';
import type { FollowUp, OutputFile } from '../src/core/types.js';
import { newTask, testsOn, type SuiteOptions } from './store-contract.js';
import type { WebhookStores } from './webhook-store-contract.js';

const file = (id: string): OutputFile => ({ id, kind: 'image', contentType: 'image/png', path: `/files/${id.padEnd(32, '0')}/image.png`, bytes: 10 });

/** A task finished (cancelled, or succeeded with `files`) at `at`. */
async function finishedAt(s: TaskStore, at: number, files: OutputFile[] = [], over: Parameters<typeof newTask>[0] = {}): Promise<string> {
  const t = await s.insert(newTask({ createdAt: at - 1, runAfter: at - 1, ...over }));
  if (files.length === 0) {
    await s.terminate({ id: t.id, from: ['queued'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: at });
    return t.id;
  }
  const [claimed] = await s.claimDue({ workerId: 'W', now: at, leaseMs: 1000, max: 1, services: [{ service: t.service, concurrency: 1000, timeoutMs: 60_000 }] });
  assert.equal(claimed?.id, t.id);
  await s.finish({ id: t.id, workerId: 'W', now: at, state: 'succeeded', output: { files } });
  return t.id;
}

export function runRetentionSuite(name: string, open: () => WebhookStores | Promise<WebhookStores>, opts: SuiteOptions = {}): void {
  const it = testsOn(open);

  describe(`TaskStore retention contract: ${name}`, { skip: opts.skip ?? false }, () => {
    it('removes finished tasks older than the cutoff, oldest first, in bounded batches; newer and unfinished ones stay', async ({ tasks }) => {
      const old: string[] = [];
      for (let i = 0; i < 25; i++) old.push(await finishedAt(tasks, 1000 + i));
      const recent = await finishedAt(tasks, 5000);
      const live = await tasks.insert(newTask({ createdAt: 1, runAfter: 1 }));
      const first = await tasks.purgeFinished(2000, 10);
      assert.deepEqual(first.map((t) => t.id), old.slice(0, 10), 'the oldest ten');
      assert.equal(await tasks.get(old[0]!), null);
      assert.ok(await tasks.get(old[10]!));
      assert.equal((await tasks.purgeFinished(2000, 10)).length, 10);
      assert.equal((await tasks.purgeFinished(2000, 10)).length, 5);
      assert.deepEqual(await tasks.purgeFinished(2000, 10), [], 'nothing left past the cutoff');
      assert.ok(await tasks.get(recent), 'a task finished after the cutoff stays');
      assert.equal((await tasks.get(live.id))?.state, 'queued', 'an unfinished task stays');
    });

    it('answers the removed tasks with their output files; the file index forgets them', async ({ tasks }) => {
      const id = await finishedAt(tasks, 100, [file('a1'), file('a2')]);
      assert.equal((await tasks.findByOutputFile('owner-1', 'a1'))?.id, id);
      assert.deepEqual(await tasks.purgeFinished(200, 10), [{ id, files: [file('a1'), file('a2')] }]);
      assert.equal(await tasks.findByOutputFile('owner-1', 'a1'), null);
    });

    it('keeps the parent of an unfinished follow-up until the follow-up ends', async ({ tasks }) => {
      const parent = await finishedAt(tasks, 100, [file('p1')]);
      const other = await finishedAt(tasks, 101);
      const followUp: FollowUp = {
        action: 'upscale1', kind: 'upscale', index: 1, parent: { taskId: parent, file: file('p1'), input: { prompt: 'p' }, seed: null, kind: null },
      };
      const child = await tasks.insert(newTask({ createdAt: 150, runAfter: 150, followUp }));
      assert.deepEqual((await tasks.purgeFinished(1000, 10)).map((t) => t.id), [other]);
      assert.ok(await tasks.get(parent), 'the follow-up still needs its parent');
      await tasks.terminate({ id: child.id, from: ['queued'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 200 });
      assert.deepEqual((await tasks.purgeFinished(1000, 10)).map((t) => t.id).sort(), [child.id, parent].sort());
    });

    it('keeps a task with a webhook delivery still to make; removes its deliveries once made', async ({ tasks, hooks }) => {
      const id = await finishedAt(tasks, 100, [], { callbackUrl: 'http://127.0.0.1:1/hook' });
      assert.equal((await hooks.listDeliveries('owner-1', { taskId: id, limit: 10 })).length, 1);
      assert.deepEqual(await tasks.purgeFinished(1000, 10), [], 'pending delivery');
      const [d] = await hooks.claimDeliveries({ workerId: 'D', now: 150, leaseMs: 1000, max: 10 });
      assert.equal(d?.taskId, id);
      await hooks.recordAttempt(d!.id, 'D', { n: 1, at: 150, statusCode: 200, latencyMs: 5, error: null }, { state: 'delivered' });
      assert.deepEqual((await tasks.purgeFinished(1000, 10)).map((t) => t.id), [id]);
      assert.deepEqual(await hooks.listDeliveries('owner-1', { taskId: id, limit: 10 }), [], 'its deliveries went with it');
    });

    it('forgets a removed task’s idempotency key: the same key makes a new task', async ({ tasks }) => {
      const key = { key: 'k-1', requestHash: 'h', notBefore: 0 };
      const first = await tasks.insertOnce(newTask({ createdAt: 10, runAfter: 10 }), key);
      await tasks.terminate({ id: first.task.id, from: ['queued'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 20 });
      assert.equal((await tasks.insertOnce(newTask({ createdAt: 30, runAfter: 30 }), key)).created, false);
      assert.equal((await tasks.purgeFinished(1000, 10)).length, 1);
      const again = await tasks.insertOnce(newTask({ createdAt: 40, runAfter: 40 }), key);
      assert.equal(again.created, true, 'not an answer pointing at a removed task');
    });

    it('purges running at once remove each task once', async ({ tasks }) => {
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push(await finishedAt(tasks, 100 + i));
      const runs = await Promise.all([0, 1, 2].map(() => tasks.purgeFinished(1000, 20)));
      const removed = runs.flat().map((t) => t.id);
      assert.equal(new Set(removed).size, removed.length, 'no task in two answers');
      const rest = await tasks.purgeFinished(1000, 100);
      assert.deepEqual([...removed, ...rest.map((t) => t.id)].sort(), [...ids].sort());
    });
  });
}
