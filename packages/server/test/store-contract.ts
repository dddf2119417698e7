/**
 * The TaskStore contract as a shared suite: every driver (SQLite now, Postgres later) must pass it.
 * Call `runStoreSuite(name, open)` from a driver's test file.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { NewTask, ServiceClaimLimit, TaskFilter, TaskStore } from '../src/core/ports.js';
import type { FollowUp, OutputFile } from '../src/core/types.js';

export function newTask(over: Partial<NewTask> = {}): NewTask {
  const now = over.createdAt ?? 1;
  return {
    id: randomUUID(), ownerId: 'owner-1', service: 'demo/image', dialect: 'task-api',
    request: { prompt: 'p', async: true }, input: { prompt: 'p' }, traceId: randomUUID(), callbackUrl: null,
    createdAt: now, runAfter: now, meta: {}, webhookEvents: ['completed'], origin: null, price: 0, ...over,
  };
}

const limit = (over: Partial<ServiceClaimLimit> = {}): ServiceClaimLimit => ({
  service: 'demo/image', concurrency: 10, timeoutMs: 5000, ...over,
});

/** `it(title, fn)`: a test on freshly opened stores, closed afterwards whether it passes or not. */
export function testsOn<S extends { close(): Promise<void> }>(open: () => S | Promise<S>): (title: string, fn: (s: S) => Promise<void>) => void {
  return (title, fn) => {
    test(title, async () => {
      const s = await open();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });
  };
}

/** `skip`: a reason to skip the whole suite (a driver whose database is unreachable), shown in the report. */
export interface SuiteOptions {
  skip?: string | false;
}

export function runStoreSuite(name: string, open: () => TaskStore | Promise<TaskStore>, opts: SuiteOptions = {}): void {
  describe(`TaskStore contract: ${name}`, { skip: opts.skip ?? false }, () => {
    test('insert and get round-trip every field', async () => {
      const s = await open();
      const t = newTask({ callbackUrl: 'https://x.test/cb' });
      const inserted = await s.insert(t);
      assert.equal(inserted.state, 'queued');
      assert.deepEqual(await s.get(t.id), inserted);
      assert.deepEqual(inserted.request, t.request);
      assert.equal(inserted.callbackUrl, 'https://x.test/cb');
      assert.equal(inserted.attempts, 0);
      assert.equal(await s.get('missing'), null);
      await s.close();
    });

    test('a follow-up is kept with its task (null for a new generation)', async () => {
      const s = await open();
      const file: OutputFile = { id: 'img-1', kind: 'image', contentType: 'image/png', path: '/files/k/image.png', bytes: 10, width: 64, height: 64 };
      const followUp: FollowUp = { action: 'upscale2', kind: 'upscale', index: 2, parent: { taskId: 'parent-1', file, input: { prompt: 'p' }, seed: 7, kind: null } };
      const t = await s.insert(newTask({ input: { action: 'upscale2', image_id: 'img-1' }, followUp }));
      assert.deepEqual(t.followUp, followUp);
      assert.deepEqual((await s.get(t.id))?.followUp, followUp);
      assert.equal((await s.insert(newTask())).followUp, null);
      await s.close();
    });

    test('findByOutputFile: the owner’s succeeded task by an output file id; another owner’s, unknown and unfinished ones alike are null', async () => {
      const s = await open();
      const file = (id: string): OutputFile => ({ id, kind: 'image', contentType: 'image/png', path: `/files/${id}/image.png`, bytes: 10 });
      const ok = await s.insert(newTask({ createdAt: 1, runAfter: 1 }));
      const failed = await s.insert(newTask({ createdAt: 2, runAfter: 2 }));
      const pending = await s.insert(newTask({ createdAt: 3, runAfter: 3 }));
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 2, services: [limit()] });
      const done = await s.finish({ id: ok.id, workerId: 'A', now: 150, state: 'succeeded', output: { files: [file('f-1'), file('f-2')], seed: 3 } });
      await s.finish({ id: failed.id, workerId: 'A', now: 150, state: 'failed', output: { files: [file('f-3')] }, error: { code: 'api_error', message: 'x' } });
      assert.deepEqual(await s.findByOutputFile('owner-1', 'f-1'), done);
      assert.equal((await s.findByOutputFile('owner-1', 'f-2'))?.id, ok.id);
      assert.equal(await s.findByOutputFile('owner-2', 'f-1'), null, 'another owner’s file: as if unknown');
      assert.equal(await s.findByOutputFile('owner-1', 'f-404'), null);
      assert.equal(await s.findByOutputFile('owner-1', 'f-3'), null, 'a failed task’s file');
      assert.equal(await s.findByOutputFile('owner-1', pending.id), null);
      await s.close();
    });

    test('getMany keeps the asked order and only the owner’s tasks', async () => {
      const s = await open();
      const a = await s.insert(newTask());
      const b = await s.insert(newTask());
      const foreign = await s.insert(newTask({ ownerId: 'owner-2' }));
      assert.deepEqual((await s.getMany('owner-1', [b.id, 'nope', foreign.id, a.id])).map((t) => t.id), [b.id, a.id]);
      assert.deepEqual(await s.getMany('owner-1', []), []);
      await s.close();
    });

    test('claimDue takes due tasks oldest first, under the service concurrency across workers', async () => {
      const s = await open();
      const first = await s.insert(newTask({ createdAt: 1, runAfter: 1 }));
      const second = await s.insert(newTask({ createdAt: 2, runAfter: 2 }));
      await s.insert(newTask({ createdAt: 3, runAfter: 3 }));
      await s.insert(newTask({ runAfter: 10_000_000 })); // not due yet
      const a = await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 1, services: [limit({ concurrency: 2 })] });
      assert.deepEqual(a.map((t) => t.id), [first.id]);
      assert.equal(a[0]!.state, 'running');
      assert.equal(a[0]!.leaseOwner, 'A');
      assert.equal(a[0]!.leaseExpiresAt, 1100);
      assert.equal(a[0]!.startedAt, 100);
      assert.equal(a[0]!.deadlineAt, 5100);
      assert.equal(a[0]!.attempts, 1);
      const b = await s.claimDue({ workerId: 'B', now: 100, leaseMs: 1000, max: 10, services: [limit({ concurrency: 2 })] });
      assert.deepEqual(b.map((t) => t.id), [second.id], 'only one slot was left of 2');
      assert.deepEqual(await s.claimDue({ workerId: 'C', now: 100, leaseMs: 1000, max: 10, services: [limit({ concurrency: 2 })] }), []);
      assert.deepEqual(await s.claimDue({ workerId: 'C', now: 100, leaseMs: 1000, max: 10, services: [limit({ service: 'other/x' })] }), []);
      await s.close();
    });

    test('claimDue never takes more than `max` tasks, all services together', async () => {
      const s = await open();
      for (let i = 0; i < 3; i++) await s.insert(newTask({ service: 'a/x' }));
      for (let i = 0; i < 3; i++) await s.insert(newTask({ service: 'b/x' }));
      const claimed = await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 4, services: [limit({ service: 'a/x' }), limit({ service: 'b/x' })] });
      assert.deepEqual(claimed.map((t) => t.service), ['a/x', 'a/x', 'a/x', 'b/x']);
      await s.close();
    });

    test('an expired lease is claimable again; start time and deadline are kept', async () => {
      const s = await open();
      const t = await s.insert(newTask());
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit()] });
      assert.deepEqual(await s.claimDue({ workerId: 'B', now: 1099, leaseMs: 1000, max: 10, services: [limit()] }), []);
      assert.deepEqual(await s.extendLeases([t.id], 'B', 5000), [], 'only the owner renews');
      const again = await s.claimDue({ workerId: 'B', now: 1100, leaseMs: 1000, max: 10, services: [limit()] });
      assert.equal(again.length, 1);
      assert.equal(again[0]!.leaseOwner, 'B');
      assert.equal(again[0]!.attempts, 2);
      assert.equal(again[0]!.startedAt, 100);
      assert.equal(again[0]!.deadlineAt, 5100);
      assert.deepEqual(await s.extendLeases([t.id], 'A', 9000), [], 'the old owner lost it');
      assert.deepEqual(await s.extendLeases([t.id], 'B', 9000), [t.id]);
      await s.close();
    });

    test('extendLeases renews, in one call, exactly the leases the worker still holds', async () => {
      const s = await open();
      const [a, b, c, d, queued] = await Promise.all([1, 2, 3, 4, 5].map((n) => s.insert(newTask({ createdAt: n, runAfter: n }))));
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 4, services: [limit()] });
      await s.finish({ id: b!.id, workerId: 'A', now: 150, state: 'succeeded', output: { files: [] } });
      await s.terminate({ id: c!.id, from: ['running'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 150 });
      const held = await s.extendLeases([a!.id, b!.id, c!.id, d!.id, queued!.id, 'unknown'], 'A', 5000);
      assert.deepEqual([...held].sort(), [a!.id, d!.id].sort(), 'finished, cancelled, queued and unknown ones are not held');
      assert.deepEqual([(await s.get(a!.id))?.leaseExpiresAt, (await s.get(d!.id))?.leaseExpiresAt], [5000, 5000]);
      assert.deepEqual([(await s.get(b!.id))?.leaseExpiresAt, (await s.get(queued!.id))?.leaseExpiresAt], [null, null], 'the others are left as they were');
      assert.deepEqual(await s.extendLeases([a!.id, d!.id], 'B', 9000), [], 'another worker renews none of them');
      assert.equal((await s.get(a!.id))?.leaseExpiresAt, 5000);
      assert.deepEqual(await s.extendLeases([], 'A', 9000), []);
      // Expired and claimed again by another worker: the old owner's batch holds nothing any more.
      const again = await s.claimDue({ workerId: 'B', now: 5000, leaseMs: 1000, max: 10, services: [limit()] });
      assert.deepEqual(again.map((t) => t.id).sort(), [a!.id, d!.id, queued!.id].sort());
      assert.deepEqual(await s.extendLeases([a!.id, d!.id], 'A', 9000), []);
      assert.deepEqual([...(await s.extendLeases([a!.id, d!.id, queued!.id], 'B', 9000))].sort(), [a!.id, d!.id, queued!.id].sort());
      await s.close();
    });

    test('finish is a compare-and-set on running + lease owner, applied once', async () => {
      const s = await open();
      const t = await s.insert(newTask());
      assert.equal(await s.finish({ id: t.id, workerId: 'A', now: 1, state: 'succeeded', output: { files: [] } }), null, 'queued cannot finish');
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit()] });
      assert.equal(await s.setProgress(t.id, 'B', 0.5, 'x', 150), null);
      assert.equal((await s.setProgress(t.id, 'A', 0.5, 'half', 150))?.progressMessage, 'half');
      assert.equal(await s.finish({ id: t.id, workerId: 'B', now: 200, state: 'succeeded', output: { files: [] } }), null);
      const done = await s.finish({ id: t.id, workerId: 'A', now: 200, state: 'succeeded', output: { files: [], seed: 7 } });
      assert.equal(done?.state, 'succeeded');
      assert.equal(done?.finishedAt, 200);
      assert.equal(done?.progress, 1);
      assert.equal(done?.leaseOwner, null);
      assert.deepEqual(done?.output, { files: [], seed: 7 });
      assert.equal(await s.finish({ id: t.id, workerId: 'A', now: 300, state: 'failed', error: { code: 'api_error', message: 'x' } }), null);
      assert.equal((await s.get(t.id))?.state, 'succeeded');
      await s.close();
    });

    test('terminate cancels a running task; its worker can then neither finish nor renew it', async () => {
      const s = await open();
      const t = await s.insert(newTask({ meta: { webhook_events_filter: ['completed'] } }));
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit()] });
      const cancelled = await s.terminate({ id: t.id, from: ['queued', 'running'], state: 'cancelled', error: { code: 'cancelled', message: 'by user' }, now: 150 });
      assert.deepEqual([cancelled?.state, cancelled?.error?.code, cancelled?.finishedAt, cancelled?.leaseOwner], ['cancelled', 'cancelled', 150, null]);
      assert.deepEqual(cancelled?.meta, { webhook_events_filter: ['completed'] });
      assert.equal(await s.finish({ id: t.id, workerId: 'A', now: 200, state: 'succeeded', output: { files: [] } }), null);
      assert.deepEqual(await s.extendLeases([t.id], 'A', 5000), []);
      assert.equal(await s.setProgress(t.id, 'A', 0.9, 'late', 210), null);
      assert.equal((await s.get(t.id))?.state, 'cancelled');
      await s.close();
    });

    test('progress messages become the task’s log lines, in order', async () => {
      const s = await open();
      const t = await s.insert(newTask());
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit()] });
      await s.setProgress(t.id, 'A', 0.1, 'step 1', 101);
      await s.setProgress(t.id, 'A', 0.2, null, 102);
      await s.setProgress(t.id, 'A', 0.5, 'step 2', 103);
      await s.setProgress(t.id, 'B', 0.6, 'not the owner', 104);
      assert.deepEqual(await s.logs(t.id), [
        { at: 101, level: 'info', message: 'step 1' },
        { at: 103, level: 'info', message: 'step 2' },
      ]);
      assert.deepEqual(await s.logs('unknown'), []);
      await s.close();
    });

    test('queuePosition counts queued tasks of the same service claimed before this one', async () => {
      const s = await open();
      const a = await s.insert(newTask({ createdAt: 1, runAfter: 1 }));
      const b = await s.insert(newTask({ createdAt: 2, runAfter: 2 }));
      const c = await s.insert(newTask({ createdAt: 3, runAfter: 3 }));
      await s.insert(newTask({ service: 'other/x', createdAt: 0, runAfter: 0 }));
      assert.deepEqual(await Promise.all([a, b, c].map((t) => s.queuePosition(t))), [0, 1, 2]);
      const [claimed] = await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 1, services: [limit()] });
      assert.equal(claimed?.id, a.id);
      assert.equal(await s.queuePosition(claimed!), 0, 'a running task is not queued');
      assert.deepEqual(await Promise.all([b, c].map(async (t) => s.queuePosition((await s.get(t.id))!))), [0, 1]);
      await s.close();
    });

    test('countLive counts queued and running tasks per service, finished ones not at all', async () => {
      const s = await open();
      assert.deepEqual(await s.countLive(), []);
      const a = await s.insert(newTask({ createdAt: 1, runAfter: 1 }));
      await s.insert(newTask({ createdAt: 2, runAfter: 2 }));
      await s.insert(newTask({ createdAt: 3, runAfter: 3 }));
      await s.insert(newTask({ service: 'other/x' }));
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 2, services: [limit()] });
      await s.finish({ id: a.id, workerId: 'A', now: 150, state: 'succeeded', output: { files: [] } });
      const counts = (await s.countLive()).map((c) => `${c.service} ${c.state} ${c.count}`).sort();
      assert.deepEqual(counts, ['demo/image queued 1', 'demo/image running 1', 'other/x queued 1']);
      assert.equal(typeof (await s.countLive())[0]?.count, 'number');
      await s.close();
    });

    test('list pages an owner’s tasks newest first, optionally for some services only', async () => {
      const s = await open();
      const ids: string[] = [];
      // v7-like ids: lexical order is creation order.
      for (let i = 0; i < 5; i++) ids.push((await s.insert(newTask({ id: `0000000${i}-0000-7000-8000-000000000000`, service: i % 2 ? 'a/x' : 'b/x' }))).id);
      await s.insert(newTask({ ownerId: 'owner-2' }));
      const page1 = await s.list({ ownerId: 'owner-1', limit: 2 });
      assert.deepEqual(page1.map((t) => t.id), [ids[4], ids[3]]);
      const page2 = await s.list({ ownerId: 'owner-1', limit: 2, before: page1[1]!.id });
      assert.deepEqual(page2.map((t) => t.id), [ids[2], ids[1]]);
      const onlyA = await s.list({ ownerId: 'owner-1', limit: 10, services: ['a/x'] });
      assert.deepEqual(onlyA.map((t) => t.id), [ids[3], ids[1]]);
      assert.deepEqual(await s.list({ ownerId: 'nobody', limit: 10 }), []);
      await s.close();
    });

    test('search filters by owner, service, state, channel and creation time, newest first, in pages', async () => {
      const s = await open();
      const id = (i: number) => `0000000${i}-0000-7000-8000-000000000000`;
      for (let i = 0; i < 6; i++) {
        await s.insert(newTask({ id: id(i), ownerId: i < 4 ? 'owner-1' : 'owner-2', service: i % 2 ? 'a/x' : 'b/x', createdAt: 1000 * (i + 1), runAfter: 0 }));
      }
      // Task 1 (a/x) runs and is relayed through channel "ch-a"; task 3 runs locally.
      const claimed = await s.claimDue({ workerId: 'w', now: 10_000, leaseMs: 60_000, max: 2, services: [limit({ service: 'a/x' })] });
      assert.deepEqual(claimed.map((t) => t.id).sort(), [id(1), id(3)]);
      assert.equal(await s.upstream.recordSubmitting({ taskId: id(1), workerId: 'w', channel: 'ch-a', now: 10_000 }), true);
      const ids = async (filter: Partial<TaskFilter>) => (await s.search({ limit: 50, ...filter })).map((l) => l.task.id);

      assert.deepEqual(await ids({}), [5, 4, 3, 2, 1, 0].map(id));
      assert.deepEqual(await ids({ ownerId: 'owner-2' }), [id(5), id(4)]);
      assert.deepEqual(await ids({ services: ['a/x'] }), [id(5), id(3), id(1)]);
      assert.deepEqual(await ids({ services: ['a/x', 'b/x'], states: ['running'] }), [id(3), id(1)]);
      assert.deepEqual(await ids({ states: ['queued', 'succeeded'], ownerId: 'owner-1' }), [id(2), id(0)]);
      assert.deepEqual(await ids({ channel: 'ch-a' }), [id(1)]);
      assert.deepEqual(await ids({ channel: 'nope' }), []);
      assert.deepEqual(await ids({ createdFrom: 2000, createdTo: 4000 }), [id(2), id(1)]);
      assert.deepEqual(await ids({ limit: 2, before: id(4) }), [id(3), id(2)]);
      const found = await s.search({ limit: 10, services: ['a/x'], ownerId: 'owner-1' });
      assert.deepEqual(found.map((l) => l.channel), [null, 'ch-a']);
      assert.deepEqual(found[1]!.task, await s.get(id(1)));
      await s.close();
    });

    test('get reflects every write at once (lease renewals and releases included)', async () => {
      const s = await open();
      const t = await s.insert(newTask());
      assert.equal((await s.get(t.id))?.state, 'queued');
      const [claimed] = await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit()] });
      assert.deepEqual(await s.get(t.id), claimed);
      assert.deepEqual(await s.extendLeases([t.id], 'A', 7777), [t.id]);
      assert.equal((await s.get(t.id))?.leaseExpiresAt, 7777);
      const progressed = await s.setProgress(t.id, 'A', 0.25, 'quarter', 150);
      assert.deepEqual(await s.get(t.id), progressed);
      await s.releaseLeases(['A']);
      assert.equal((await s.get(t.id))?.leaseExpiresAt, 0);
      const [again] = await s.claimDue({ workerId: 'B', now: 200, leaseMs: 1000, max: 10, services: [limit()] });
      assert.equal((await s.get(t.id))?.leaseOwner, 'B');
      const done = await s.finish({ id: t.id, workerId: 'B', now: 300, state: 'failed', error: { code: 'api_error', message: 'x' } });
      assert.deepEqual(await s.get(t.id), done);
      assert.deepEqual((await s.getMany('owner-1', [t.id]))[0], done);
      assert.equal(again?.attempts, 2);
      await s.close();
    });

    test('terminate ends only from the listed states; releaseLeases frees a worker’s tasks', async () => {
      const s = await open();
      const queued = await s.insert(newTask());
      const failed = await s.terminate({ id: queued.id, from: ['queued'], state: 'failed', error: { code: 'timeout', message: 'late' }, now: 50 });
      assert.deepEqual([failed?.state, failed?.error?.code, failed?.finishedAt], ['failed', 'timeout', 50]);
      assert.equal(await s.terminate({ id: queued.id, from: ['queued', 'running'], state: 'cancelled', error: { code: 'x', message: 'y' }, now: 60 }), null);
      const t = await s.insert(newTask());
      await s.claimDue({ workerId: 'dead', now: 100, leaseMs: 100_000, max: 10, services: [limit()] });
      assert.deepEqual(await s.runningLeaseOwners(), ['dead']);
      assert.equal(await s.releaseLeases(['dead']), 1);
      const again = await s.claimDue({ workerId: 'alive', now: 101, leaseMs: 1000, max: 10, services: [limit()] });
      assert.deepEqual(again.map((x) => x.id), [t.id]);
      await s.close();
    });

    test('returnLeases (a clean stop) hands tasks back without counting the attempt', async () => {
      const s = await open();
      const t = await s.insert(newTask());
      for (let i = 0; i < 5; i++) {
        const [claimed] = await s.claimDue({ workerId: `w${i}`, now: 100 + i, leaseMs: 100_000, max: 10, services: [limit()] });
        assert.deepEqual([claimed?.id, claimed?.attempts, claimed?.startedAt], [t.id, 1, 100]);
        assert.equal(await s.returnLeases('someone-else'), 0);
        assert.equal(await s.returnLeases(`w${i}`), 1);
        const back = await s.get(t.id);
        assert.deepEqual([back?.state, back?.leaseOwner, back?.attempts], ['running', null, 0]);
        // Nobody holds it any more, so no start sees a dead worker to recover.
        assert.deepEqual(await s.runningLeaseOwners(), []);
      }
      const [last] = await s.claimDue({ workerId: 'final', now: 200, leaseMs: 1000, max: 10, services: [limit()] });
      const done = await s.finish({ id: t.id, workerId: 'final', now: 300, state: 'succeeded', output: { files: [] } });
      assert.deepEqual([last?.attempts, done?.state], [1, 'succeeded']);
      await s.close();
    });
  });
}
