/**
 * The UpstreamStore contract (the upstream side of relayed tasks) as a shared suite, run against
 * every TaskStore driver: a submit recorded with the worker's release, due polls under short
 * leases, terminal results through the task store's own finish, never a second local run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ServiceClaimLimit, TaskStore } from '../src/core/ports.js';
import type { UpstreamRef } from '../src/core/upstream.js';
import { newTask, type SuiteOptions } from './store-contract.js';

const limit: ServiceClaimLimit = { service: 'demo/image', concurrency: 10, timeoutMs: 60_000 };
const ref = (id: string): UpstreamRef => ({ id, urls: { status: `https://up.test/requests/${id}/status` }, data: { model: 'm' } });
const channels = (max = 10) => [{ channel: 'fal-main', max }];

/** A task claimed by worker `A` and submitted upstream as `up-1`, next poll due at 200. */
async function submitted(s: TaskStore, over = {}) {
  const t = await s.insert(newTask(over));
  await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit] });
  const task = await s.upstream.recordSubmitted({ taskId: t.id, workerId: 'A', channel: 'fal-main', ref: ref('up-1'), now: 110, nextPollAt: 200 });
  return { id: t.id, task };
}

export function runUpstreamSuite(name: string, open: () => TaskStore | Promise<TaskStore>, opts: SuiteOptions = {}): void {
  describe(`UpstreamStore contract: ${name}`, { skip: opts.skip ?? false }, () => {
    test('recordSubmitted keeps the reference and releases the worker, once, only for the lease holder', async () => {
      const s = await open();
      const { id, task } = await submitted(s);
      assert.deepEqual([task?.state, task?.leaseOwner, task?.leaseExpiresAt], ['running', null, null]);
      assert.deepEqual(await s.get(id), task);
      const up = await s.upstream.get(id);
      assert.deepEqual(up, {
        taskId: id, channel: 'fal-main', ref: ref('up-1'), submittedAt: 110, nextPollAt: 200, polls: 0, lastStatus: null, lastProgress: null,
      });
      assert.equal(await s.upstream.recordSubmitted({ taskId: id, workerId: 'A', channel: 'x', ref: ref('up-2'), now: 120, nextPollAt: 200 }), null, 'never twice');
      const other = await s.insert(newTask());
      await s.claimDue({ workerId: 'B', now: 100, leaseMs: 1000, max: 10, services: [limit] });
      assert.equal(await s.upstream.recordSubmitted({ taskId: other.id, workerId: 'A', channel: 'x', ref: ref('up-3'), now: 120, nextPollAt: 200 }), null, 'not the lease holder');
      assert.equal(await s.upstream.get(other.id), null);
      await s.close();
    });

    test('recordSubmitting marks a submit in progress; it is found again if its answer is never stored', async () => {
      const s = await open();
      const t = await s.insert(newTask());
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit] });
      assert.equal(await s.upstream.recordSubmitting({ taskId: t.id, workerId: 'B', channel: 'fal-main', now: 105 }), false, 'not the lease holder');
      assert.equal(await s.upstream.recordSubmitting({ taskId: t.id, workerId: 'A', channel: 'fal-main', now: 105 }), true);
      assert.deepEqual(await s.upstream.get(t.id), {
        taskId: t.id, channel: 'fal-main', ref: null, submittedAt: 105, nextPollAt: null, polls: 0, lastStatus: null, lastProgress: null,
      });
      // The worker dies mid-submit: the task is claimed again (to recover), never polled.
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'P', now: 10_000, leaseMs: 50, channels: channels() }), []);
      const [again] = await s.claimDue({ workerId: 'C', now: 2000, leaseMs: 1000, max: 10, services: [limit] });
      assert.equal(again?.id, t.id);
      assert.ok(await s.upstream.recordSubmitted({ taskId: t.id, workerId: 'C', channel: 'fal-main', ref: ref('up-9'), now: 2010, nextPollAt: 2100 }));
      assert.equal((await s.upstream.get(t.id))?.ref?.id, 'up-9');
      assert.equal(await s.upstream.recordSubmitting({ taskId: t.id, workerId: 'C', channel: 'x', now: 2020 }), false, 'waiting upstream: no second submit');
      await s.close();
    });

    test('clearSubmitting drops an answered submit mark, for the lease holder only, never a stored reference', async () => {
      const s = await open();
      const t = await s.insert(newTask());
      await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit] });
      assert.ok(await s.upstream.recordSubmitting({ taskId: t.id, workerId: 'A', channel: 'fal-main', now: 105 }));
      await s.upstream.clearSubmitting({ taskId: t.id, workerId: 'B' });
      assert.equal((await s.upstream.get(t.id))?.ref, null, 'not the lease holder: the mark stays');
      await s.upstream.clearSubmitting({ taskId: t.id, workerId: 'A' });
      assert.equal(await s.upstream.get(t.id), null, 'the mark is gone: the next claim submits afresh');
      const { id } = await submitted(s);
      await s.upstream.clearSubmitting({ taskId: id, workerId: 'A' });
      assert.equal((await s.upstream.get(id))?.ref?.id, 'up-1', 'a stored reference is never dropped');
      await s.close();
    });

    test('a task waiting upstream is never claimed to run locally again, whatever the time', async () => {
      const s = await open();
      const { id } = await submitted(s);
      assert.deepEqual(await s.claimDue({ workerId: 'B', now: 10_000_000, leaseMs: 1000, max: 10, services: [limit] }), []);
      assert.equal((await s.get(id))?.attempts, 1);
      await s.close();
    });

    test('due polls are claimed under a short poll lease, per channel cap, and come back when the lease expires', async () => {
      const s = await open();
      const { id, task } = await submitted(s);
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'P', now: 199, leaseMs: 50, channels: channels() }), [], 'not due yet');
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'P', now: 200, leaseMs: 50, channels: [{ channel: 'other', max: 10 }] }), [], 'other channel');
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'P', now: 200, leaseMs: 50, channels: channels(0) }), [], 'cap 0');
      const [claimed] = await s.upstream.claimDuePolls({ workerId: 'P', now: 200, leaseMs: 50, channels: channels() });
      assert.deepEqual([claimed?.taskId, claimed?.service, claimed?.deadlineAt, claimed?.upstream.ref?.id], [id, task?.service, task?.deadlineAt, 'up-1']);
      assert.deepEqual(await s.get(id), task, 'the task row is not written by a poll claim');
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'Q', now: 249, leaseMs: 50, channels: channels() }), [], 'leased');
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'Q', now: 240, leaseMs: 50, channels: [{ channel: 'fal-main', max: 10, aheadMs: 100 }] }), [], 'never pulled ahead while leased');
      assert.deepEqual(await s.upstream.renewPolls({ taskIds: [id], workerId: 'Q', until: 400 }), [], 'only the holder renews');
      assert.deepEqual(await s.upstream.renewPolls({ taskIds: [id], workerId: 'P', until: 260 }), [id]);
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'Q', now: 255, leaseMs: 50, channels: channels() }), [], 'renewed');
      const [again] = await s.upstream.claimDuePolls({ workerId: 'Q', now: 261, leaseMs: 50, channels: channels() });
      assert.equal(again?.taskId, id, 'a dead poller’s lease expires');
      assert.equal((await s.upstream.recordPolls({ workerId: 'P', now: 262, polls: [{ taskId: id, raw: 'x', progress: null, nextPollAt: 900 }] }))[0], null, 'the old holder records nothing');
      await s.close();
    });

    test('aheadMs: polls due soon join a due one of their channel, never on their own', async () => {
      const s = await open();
      const ids: string[] = [];
      for (const next of [200, 230, 260, 400]) {
        const t = await s.insert(newTask());
        await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit] });
        await s.upstream.recordSubmitted({ taskId: t.id, workerId: 'A', channel: 'fal-main', ref: ref(`up-${next}`), now: 110, nextPollAt: next });
        ids.push(t.id);
      }
      const claim = (now: number, max = 10) => s.upstream.claimDuePolls({ workerId: 'P', now, leaseMs: 500, channels: [{ channel: 'fal-main', max, aheadMs: 60 }] });
      assert.deepEqual(await claim(199), [], 'none due: nothing is pulled ahead');
      assert.deepEqual((await claim(200, 2)).map((c) => c.taskId), ids.slice(0, 2), 'within the cap, oldest due first');
      assert.deepEqual(await claim(201), [], 'the due ones are leased; one due soon is not claimed alone');
      assert.deepEqual((await claim(260)).map((c) => c.taskId), [ids[2]], 'the one due at 400 is beyond now + aheadMs');
      assert.deepEqual((await claim(800)).map((c) => c.taskId).sort(), [...ids].sort(), 'expired leases due again, and the one due at 400 rides along');
      await s.close();
    });

    test('recordPolls keeps what each saw, raises progress, sets the next poll, and gives the poll lease back', async () => {
      const s = await open();
      const { id, task } = await submitted(s);
      const b = await submitted(s);
      const record = (workerId: string, now: number, polls: Array<[string, number | null, number]>) =>
        s.upstream.recordPolls({ workerId, now, polls: polls.map(([taskId, progress, nextPollAt]) => ({ taskId, raw: 'IN_PROGRESS', progress, nextPollAt })) });
      await s.upstream.claimDuePolls({ workerId: 'P', now: 200, leaseMs: 50, channels: channels() });
      assert.deepEqual(await record('Q', 210, [[id, 0.5, 400]]), [null], 'not the lease holder');
      const [first, second] = await record('P', 210, [[id, 0.5, 400], [b.id, null, 410]]);
      assert.equal(first?.progressed?.progress, 0.5, 'progress rose: the task with it');
      assert.deepEqual(second, { progressed: null });
      const t = await s.get(id);
      assert.deepEqual([t?.progress, t?.leaseOwner, t?.state], [0.5, null, 'running']);
      assert.deepEqual(await s.get(b.id), b.task, 'a poll that saw no progress leaves the task row alone');
      const up = await s.upstream.get(id);
      assert.deepEqual([up?.polls, up?.lastStatus, up?.lastProgress, up?.nextPollAt], [1, 'IN_PROGRESS', 0.5, 400]);
      assert.deepEqual(await record('P', 211, [[id, 0.6, 400]]), [null], 'the lease was given back');
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'P', now: 399, leaseMs: 50, channels: channels() }), []);
      assert.ok(await s.upstream.pollNow(id, 300), 'a callback makes it due at once');
      assert.equal((await s.upstream.claimDuePolls({ workerId: 'P', now: 300, leaseMs: 50, channels: channels() })).length, 1);
      // A callback while that poll is in flight: its answer may predate the upstream's finish.
      assert.ok(await s.upstream.pollNow(id, 310));
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'Q', now: 311, leaseMs: 50, channels: channels() }), [], 'still leased to the poll in flight');
      assert.deepEqual((await record('P', 320, [[id, 0.4, 500]]))[0], { progressed: null }, 'progress never goes down');
      assert.equal((await s.get(id))?.progress, 0.5);
      assert.equal((await s.upstream.get(id))?.nextPollAt, 0, 'a callback during the poll: due again at once, not a whole interval later');
      await s.upstream.claimDuePolls({ workerId: 'P', now: 320, leaseMs: 50, channels: channels() });
      await record('P', 330, [[id, null, 500]]);
      assert.equal((await s.upstream.get(id))?.nextPollAt, 500, 'the callback was answered by that poll: the usual interval again');
      assert.equal(task?.progress, null);
      await s.close();
    });

    test('a callback’s poll goes before a backlog of polls that are merely due', async () => {
      const s = await open();
      const ids: string[] = [];
      for (const next of [200, 210, 220]) {
        const t = await s.insert(newTask());
        await s.claimDue({ workerId: 'A', now: 100, leaseMs: 1000, max: 10, services: [limit] });
        await s.upstream.recordSubmitted({ taskId: t.id, workerId: 'A', channel: 'fal-main', ref: ref(`up-${next}`), now: 110, nextPollAt: next });
        ids.push(t.id);
      }
      assert.ok(await s.upstream.pollNow(ids[2]!, 250));
      const [first] = await s.upstream.claimDuePolls({ workerId: 'P', now: 300, leaseMs: 50, channels: channels(1) });
      assert.equal(first?.taskId, ids[2], 'the woken one first, although the others were due earlier');
      await s.close();
    });

    test('takeTask: only the poll lease holder takes the task lease, once, and only while the task runs', async () => {
      const s = await open();
      const { id } = await submitted(s);
      assert.equal(await s.upstream.takeTask({ taskId: id, workerId: 'P', now: 200, leaseMs: 50 }), null, 'no poll lease');
      await s.upstream.claimDuePolls({ workerId: 'P', now: 200, leaseMs: 50, channels: channels() });
      assert.equal(await s.upstream.takeTask({ taskId: id, workerId: 'Q', now: 201, leaseMs: 50 }), null, 'not the poll lease holder');
      const taken = await s.upstream.takeTask({ taskId: id, workerId: 'P', now: 202, leaseMs: 50 });
      assert.deepEqual([taken?.leaseOwner, taken?.leaseExpiresAt, taken?.state], ['P', 252, 'running']);
      assert.equal(await s.upstream.takeTask({ taskId: id, workerId: 'P', now: 203, leaseMs: 50 }), null, 'already leased');
      assert.equal((await s.finish({ id, workerId: 'P', now: 210, state: 'succeeded', output: { files: [] } }))?.state, 'succeeded');
      assert.equal(await s.upstream.takeTask({ taskId: id, workerId: 'P', now: 300, leaseMs: 50 }), null, 'ended');
      await s.close();
    });

    test('a terminal poll goes through finish: exactly once, and the task is never polled again', async () => {
      const s = await open();
      const { id } = await submitted(s);
      await s.upstream.claimDuePolls({ workerId: 'P', now: 200, leaseMs: 50, channels: channels() });
      assert.ok(await s.upstream.takeTask({ taskId: id, workerId: 'P', now: 210, leaseMs: 50 }));
      const done = await s.finish({ id, workerId: 'P', now: 220, state: 'succeeded', output: { files: [] } });
      assert.equal(done?.state, 'succeeded');
      assert.equal(await s.finish({ id, workerId: 'P', now: 221, state: 'failed', error: { code: 'api_error', message: 'late' } }), null);
      const ended = await s.upstream.get(id);
      assert.deepEqual([ended?.nextPollAt, ended?.channel, ended?.ref?.id], [null, 'fal-main', 'up-1']);
      assert.deepEqual([ended?.ref?.urls, ended?.ref?.data], [{}, {}], 'a result that came back drops URLs and data (inline images)');
      assert.deepEqual(await s.upstream.claimDuePolls({ workerId: 'P', now: 10_000, leaseMs: 50, channels: channels() }), []);
      assert.equal(await s.upstream.pollNow(id, 10_000), false);
      assert.deepEqual(await s.upstream.inFlightByChannel(), {});
      await s.close();
    });

    test('a clean stop drops a poll lease without counting an attempt; the poll is due again at once', async () => {
      const s = await open();
      const { id } = await submitted(s);
      await s.upstream.claimDuePolls({ workerId: 'P', now: 200, leaseMs: 5000, channels: channels() });
      assert.deepEqual(await s.runningLeaseOwners(), ['P'], 'poll lease owners count for dead-worker detection');
      assert.equal(await s.returnLeases('P'), 1);
      const back = await s.get(id);
      assert.deepEqual([back?.leaseOwner, back?.attempts, back?.state], [null, 1, 'running']);
      assert.equal((await s.upstream.claimDuePolls({ workerId: 'Q', now: 201, leaseMs: 50, channels: channels() })).length, 1);
      assert.equal(await s.releaseLeases(['Q']), 1, 'a dead poller’s leases are released the same way');
      assert.equal((await s.upstream.claimDuePolls({ workerId: 'R', now: 202, leaseMs: 50, channels: channels() })).length, 1);
      assert.deepEqual(await s.claimDue({ workerId: 'L', now: 10_000, leaseMs: 1000, max: 10, services: [limit] }), [], 'still never run locally');
      await s.close();
    });

    test('cancel or timeout while waiting upstream ends the polls; counts per channel', async () => {
      const s = await open();
      const a = await submitted(s);
      const b = await submitted(s);
      assert.deepEqual(await s.upstream.inFlightByChannel(), { 'fal-main': 2 });
      const cancelled = await s.terminate({ id: a.id, from: ['queued', 'running'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 150 });
      assert.equal(cancelled?.state, 'cancelled');
      const ended = await s.upstream.get(a.id);
      assert.deepEqual([ended?.nextPollAt, ended?.ref], [null, ref('up-1')], 'the reference stays, for the cancel sent upstream');
      assert.deepEqual(await s.upstream.inFlightByChannel(), { 'fal-main': 1 });
      const due = await s.upstream.claimDuePolls({ workerId: 'P', now: 200, leaseMs: 50, channels: channels() });
      assert.deepEqual(due.map((d) => d.taskId), [b.id]);
      await s.close();
    });
  });
}
