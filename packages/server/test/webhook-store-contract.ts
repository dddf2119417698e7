/**
 * The WebhookStore contract as a shared suite (the outbox: atomic with transitions, ordered,
 * leased, logged; signing secrets): every driver must pass it. Call
 * `runWebhookStoreSuite(name, open)` from a driver's test file; `open` gives a task store and a
 * webhook store over one fresh database, and `close` closes both (and drops the database).
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { ServiceClaimLimit, TaskStore, WebhookStore } from '../src/core/ports.js';
import type { WebhookDelivery, WebhookEvent } from '../src/core/types.js';
import { newTask, testsOn, type SuiteOptions } from './store-contract.js';

export interface WebhookStores {
  tasks: TaskStore;
  hooks: WebhookStore;
  close(): Promise<void>;
}

const limit: ServiceClaimLimit = { service: 'demo/image', concurrency: 100, timeoutMs: 60_000 };
const ok = { n: 1, at: 0, statusCode: 200, latencyMs: 5, error: null };

async function runningTask(tasks: TaskStore, events: WebhookEvent[] = ['completed'], callbackUrl: string | null = 'http://127.0.0.1:1/hook') {
  const t = await tasks.insert(newTask({ callbackUrl, webhookEvents: events }));
  await tasks.claimDue({ workerId: 'W', now: 10, leaseMs: 1000, max: 100, services: [limit] });
  return t;
}

export function runWebhookStoreSuite(name: string, open: () => WebhookStores | Promise<WebhookStores>, opts: SuiteOptions = {}): void {
  const it = testsOn(open);

  describe(`WebhookStore contract: ${name}`, { skip: opts.skip ?? false }, () => {
    it('a terminal transition writes its completed delivery in the same transaction, once', async ({ tasks, hooks }) => {
      const t = await runningTask(tasks);
      const silent = await runningTask(tasks, ['completed'], null);
      assert.deepEqual(await hooks.claimDeliveries({ workerId: 'D', now: 20, leaseMs: 1000, max: 10 }), [], 'nothing before the transition');
      assert.equal(await tasks.finish({ id: t.id, workerId: 'other', now: 30, state: 'succeeded', output: { files: [] } }), null);
      assert.deepEqual(await hooks.listDeliveries('owner-1', { taskId: t.id, limit: 10 }), [], 'a refused transition queues nothing');
      await tasks.finish({ id: t.id, workerId: 'W', now: 30, state: 'succeeded', output: { files: [] } });
      await tasks.finish({ id: silent.id, workerId: 'W', now: 30, state: 'succeeded', output: { files: [] } });
      const [d] = await hooks.listDeliveries('owner-1', { taskId: t.id, limit: 10 });
      assert.equal(d?.event, 'completed');
      assert.equal(d?.url, 'http://127.0.0.1:1/hook');
      assert.equal(d?.state, 'pending');
      assert.deepEqual([d?.seq, d?.attempts, d?.nextAttemptAt, d?.createdAt, d?.payload, d?.finishedAt], [1, 0, 30, 30, null, null]);
      assert.deepEqual(d?.log, []);
      assert.match(d?.id ?? '', /^msg_/);
      assert.deepEqual(await hooks.listDeliveries('owner-1', { taskId: silent.id, limit: 10 }), [], 'no callback URL, no delivery');
      const cancelled = await tasks.insert(newTask({ callbackUrl: 'http://127.0.0.1:1/c' }));
      await tasks.terminate({ id: cancelled.id, from: ['queued'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 40 });
      assert.equal((await hooks.listDeliveries('owner-1', { taskId: cancelled.id, limit: 10 }))[0]?.event, 'completed');
    });

    it('start and progress go out only when asked for; a newer event supersedes older pending ones', async ({ tasks, hooks }) => {
      const quiet = await runningTask(tasks);
      await tasks.setProgress(quiet.id, 'W', 0.5, 'half', 11);
      assert.deepEqual(await hooks.listDeliveries('owner-1', { taskId: quiet.id, limit: 10 }), []);

      const chatty = await runningTask(tasks, ['start', 'progress', 'completed']);
      await tasks.setProgress(chatty.id, 'W', 0.5, 'half', 12);
      await tasks.setProgress(chatty.id, 'W', 0.6, null, 13); // no message: no event
      let list = await hooks.listDeliveries('owner-1', { taskId: chatty.id, limit: 10 });
      assert.deepEqual(list.map((d) => [d.seq, d.event, d.state]), [[2, 'progress', 'pending'], [1, 'start', 'superseded']]);
      await tasks.finish({ id: chatty.id, workerId: 'W', now: 14, state: 'succeeded', output: { files: [] } });
      list = await hooks.listDeliveries('owner-1', { taskId: chatty.id, limit: 10 });
      assert.deepEqual(list.map((d) => [d.event, d.state]), [['completed', 'pending'], ['progress', 'superseded'], ['start', 'superseded']]);
      const superseded = list[2]!;
      assert.equal((await hooks.redeliver('owner-1', superseded.id, 20))?.state, 'superseded', 'an older event is never sent after a newer one');
    });

    it('a task’s deliveries go out in order: the next waits while an earlier one is in flight', async ({ tasks, hooks }) => {
      const t = await runningTask(tasks, ['start', 'completed']);
      const [start] = await hooks.claimDeliveries({ workerId: 'D', now: 20, leaseMs: 1000, max: 10 });
      assert.equal(start?.event, 'start');
      assert.deepEqual([start?.state, start?.attempts], ['delivering', 0]);
      await tasks.finish({ id: t.id, workerId: 'W', now: 21, state: 'succeeded', output: { files: [] } });
      assert.deepEqual(await hooks.claimDeliveries({ workerId: 'D2', now: 22, leaseMs: 1000, max: 10 }), [], 'completed waits for start');
      assert.equal((await hooks.redeliver('owner-1', start!.id, 22))?.state, 'delivering', 'a delivery in flight is returned unchanged');
      await hooks.recordAttempt(start!.id, 'D', { ...ok, at: 23 }, { state: 'delivered' });
      const [completed] = await hooks.claimDeliveries({ workerId: 'D2', now: 24, leaseMs: 1000, max: 10 });
      assert.equal(completed?.event, 'completed');
    });

    it('claims take the earliest due deliveries first, at most `max`', async ({ tasks, hooks }) => {
      const [a, b, c] = [await runningTask(tasks), await runningTask(tasks), await runningTask(tasks)];
      await tasks.finish({ id: b.id, workerId: 'W', now: 20, state: 'succeeded', output: { files: [] } });
      await tasks.finish({ id: c.id, workerId: 'W', now: 25, state: 'succeeded', output: { files: [] } });
      await tasks.finish({ id: a.id, workerId: 'W', now: 30, state: 'succeeded', output: { files: [] } });
      assert.deepEqual(await hooks.claimDeliveries({ workerId: 'D', now: 19, leaseMs: 100, max: 10 }), [], 'none due yet');
      const first = await hooks.claimDeliveries({ workerId: 'D', now: 40, leaseMs: 100, max: 2 });
      assert.deepEqual(first.map((d) => d.taskId), [b.id, c.id]);
      assert.deepEqual(first.map((d) => [d.state, d.attempts]), [['delivering', 0], ['delivering', 0]]);
      assert.deepEqual((await hooks.claimDeliveries({ workerId: 'D', now: 40, leaseMs: 100, max: 2 })).map((d) => d.taskId), [a.id]);
    });

    it('workers claiming at once never take the same delivery twice', async ({ tasks, hooks }) => {
      const ids: string[] = [];
      for (let i = 0; i < 24; i++) ids.push((await runningTask(tasks)).id);
      for (const id of ids) await tasks.finish({ id, workerId: 'W', now: 20, state: 'succeeded', output: { files: [] } });
      const claimed = new Map<string, string>();
      await Promise.all(['A', 'B', 'C', 'D'].map(async (workerId) => {
        for (;;) {
          const got = await hooks.claimDeliveries({ workerId, now: 30, leaseMs: 10_000, max: 2 });
          if (got.length === 0) return;
          for (const d of got) {
            assert.equal(claimed.get(d.id), undefined, `${d.id} claimed by ${claimed.get(d.id)} and ${workerId}`);
            claimed.set(d.id, workerId);
          }
        }
      }));
      assert.equal(claimed.size, 24);
      assert.deepEqual((await hooks.deliveryLeaseOwners()).sort(), [...new Set(claimed.values())].sort());
    });

    it('leases: a dead worker’s delivery is claimed again; its late attempt is refused', async ({ tasks, hooks }) => {
      const t = await runningTask(tasks);
      await tasks.finish({ id: t.id, workerId: 'W', now: 20, state: 'succeeded', output: { files: [] } });
      assert.deepEqual(await hooks.deliveryLeaseOwners(), []);
      const [d] = await hooks.claimDeliveries({ workerId: 'A', now: 30, leaseMs: 100, max: 10 });
      assert.deepEqual(await hooks.deliveryLeaseOwners(), ['A']);
      assert.equal(await hooks.setPayload(d!.id, 'B', '{"v":0}'), false, 'only the lease holder sets the payload');
      assert.equal(await hooks.setPayload(d!.id, 'A', '{"v":1}'), true);
      assert.equal(await hooks.setPayload(d!.id, 'A', '{"v":2}'), false, 'the payload is fixed once');
      assert.deepEqual(await hooks.claimDeliveries({ workerId: 'B', now: 129, leaseMs: 100, max: 10 }), []);
      assert.deepEqual(await hooks.extendDeliveryLeases([d!.id], 'B', 500), []);
      const [again] = await hooks.claimDeliveries({ workerId: 'B', now: 131, leaseMs: 100, max: 10 });
      assert.equal(again?.id, d!.id, 'same webhook-id');
      assert.equal(again?.payload, '{"v":1}', 'same payload');
      assert.equal(await hooks.recordAttempt(d!.id, 'A', { ...ok, at: 132 }, { state: 'delivered' }), null);
      assert.deepEqual((await hooks.listDeliveries('owner-1', { limit: 10 }))[0]?.log, [], 'a refused attempt is not logged');
      assert.equal(await hooks.releaseDeliveryLeases([]), 0);
      assert.equal(await hooks.releaseDeliveryLeases(['A', 'nobody']), 0, 'A holds nothing any more');
      assert.equal(await hooks.releaseDeliveryLeases(['B']), 1);
      const [third] = await hooks.claimDeliveries({ workerId: 'C', now: 133, leaseMs: 100, max: 10 });
      assert.equal(third?.id, d!.id, 'released leases are claimable at once');
      await hooks.recordAttempt(d!.id, 'C', { ...ok, at: 134 }, { state: 'delivered' });
      assert.deepEqual(await hooks.deliveryLeaseOwners(), [], 'a recorded delivery has no lease');
    });

    it('extendDeliveryLeases renews, in one call, exactly the deliveries the worker still holds', async ({ tasks, hooks }) => {
      const [t1, t2, t3] = [await runningTask(tasks), await runningTask(tasks), await runningTask(tasks)];
      for (const t of [t1, t2, t3]) await tasks.finish({ id: t.id, workerId: 'W', now: 20, state: 'succeeded', output: { files: [] } });
      const claimed = await hooks.claimDeliveries({ workerId: 'A', now: 30, leaseMs: 100, max: 10 });
      assert.equal(claimed.length, 3);
      const [done, lost, kept] = claimed as [WebhookDelivery, WebhookDelivery, WebhookDelivery];
      await hooks.recordAttempt(done.id, 'A', { ...ok, at: 31 }, { state: 'delivered' });
      const held = await hooks.extendDeliveryLeases(claimed.map((d) => d.id).concat('msg_unknown'), 'A', 200);
      assert.deepEqual([...held].sort(), [lost.id, kept.id].sort(), 'a recorded or unknown delivery is not held');
      assert.deepEqual(await hooks.extendDeliveryLeases([lost.id, kept.id], 'B', 999), [], 'only the owner renews');
      assert.deepEqual(await hooks.claimDeliveries({ workerId: 'B', now: 199, leaseMs: 100, max: 10 }), [], 'renewed until 200');
      await hooks.extendDeliveryLeases([kept.id], 'A', 400);
      const [stolen] = await hooks.claimDeliveries({ workerId: 'B', now: 200, leaseMs: 100, max: 10 });
      assert.equal(stolen?.id, lost.id, 'the lease not renewed expired');
      assert.deepEqual(await hooks.extendDeliveryLeases([lost.id, kept.id], 'A', 500), [kept.id]);
      assert.deepEqual(await hooks.extendDeliveryLeases([], 'A', 500), []);
    });

    it('attempts are logged; retries wait for retryAt; failed and delivered stay visible; redeliver keeps the id', async ({ tasks, hooks }) => {
      const t = await runningTask(tasks);
      await tasks.finish({ id: t.id, workerId: 'W', now: 20, state: 'failed', error: { code: 'timeout', message: 'late' } });
      let [d] = await hooks.claimDeliveries({ workerId: 'A', now: 30, leaseMs: 1000, max: 10 });
      const retry = await hooks.recordAttempt(d!.id, 'A', { n: 1, at: 30, statusCode: 500, latencyMs: 7, error: 'HTTP 500' }, { state: 'pending', retryAt: 1000 });
      assert.deepEqual([retry?.state, retry?.attempts, retry?.nextAttemptAt, retry?.lastStatus, retry?.finishedAt], ['pending', 1, 1000, 500, null]);
      assert.deepEqual(await hooks.claimDeliveries({ workerId: 'A', now: 999, leaseMs: 1000, max: 10 }), []);
      [d] = await hooks.claimDeliveries({ workerId: 'A', now: 1000, leaseMs: 1000, max: 10 });
      const failed = await hooks.recordAttempt(d!.id, 'A', { n: 2, at: 1000, statusCode: null, latencyMs: 15_000, error: 'timeout' }, { state: 'failed' });
      assert.deepEqual([failed?.state, failed?.attempts, failed?.finishedAt, failed?.lastError, failed?.lastStatus], ['failed', 2, 16_000, 'timeout', null]);
      const [listed] = await hooks.listDeliveries('owner-1', { limit: 10 });
      assert.deepEqual(listed?.log, [
        { n: 1, at: 30, statusCode: 500, latencyMs: 7, error: 'HTTP 500' },
        { n: 2, at: 1000, statusCode: null, latencyMs: 15_000, error: 'timeout' },
      ]);
      assert.equal(await hooks.redeliver('owner-2', d!.id, 2000), null, 'only the owner redelivers');
      assert.equal(await hooks.redeliver('owner-1', 'msg_unknown', 2000), null);
      const again = await hooks.redeliver('owner-1', d!.id, 2000);
      assert.deepEqual([again?.id, again?.state, again?.nextAttemptAt, again?.finishedAt, again?.attempts], [d!.id, 'pending', 2000, null, 2]);
      const [claimed] = await hooks.claimDeliveries({ workerId: 'A', now: 2000, leaseMs: 1000, max: 10 });
      const delivered = await hooks.recordAttempt(claimed!.id, 'A', { ...ok, n: 3, at: 2000 }, { state: 'delivered' });
      assert.deepEqual([delivered?.state, delivered?.attempts, delivered?.finishedAt, delivered?.lastStatus], ['delivered', 3, 2005, 200]);
      assert.equal((await hooks.listDeliveries('owner-1', { limit: 10 }))[0]?.log.length, 3);
      assert.equal((await hooks.redeliver('owner-1', d!.id, 3000))?.state, 'pending', 'a delivered one can be sent again');
    });

    it('listDeliveries: the owner’s, newest first, of one task or all, up to the limit', async ({ tasks, hooks }) => {
      const [a, b] = [await runningTask(tasks), await runningTask(tasks)];
      const foreign = await tasks.insert(newTask({ ownerId: 'owner-2', callbackUrl: 'http://127.0.0.1:1/x' }));
      await tasks.finish({ id: a.id, workerId: 'W', now: 20, state: 'succeeded', output: { files: [] } });
      await tasks.finish({ id: b.id, workerId: 'W', now: 30, state: 'succeeded', output: { files: [] } });
      await tasks.terminate({ id: foreign.id, from: ['queued'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 40 });
      assert.deepEqual((await hooks.listDeliveries('owner-1', { limit: 10 })).map((d) => d.taskId), [b.id, a.id]);
      assert.deepEqual((await hooks.listDeliveries('owner-1', { limit: 1 })).map((d) => d.taskId), [b.id]);
      assert.deepEqual((await hooks.listDeliveries('owner-1', { taskId: a.id, limit: 10 })).map((d) => d.taskId), [a.id]);
      assert.deepEqual(await hooks.listDeliveries('owner-1', { taskId: foreign.id, limit: 10 }), [], 'another owner’s task');
      assert.deepEqual((await hooks.listDeliveries('owner-2', { limit: 10 })).map((d) => d.taskId), [foreign.id]);
    });

    it('secrets: newest first; a rotation keeps the old one active for its overlap only', async ({ hooks }) => {
      assert.deepEqual(await hooks.activeSecrets('o', 0), []);
      await hooks.addSecret('o', 'whsec_one', 0, 0);
      await hooks.addSecret('o', 'whsec_two', 100, 500);
      assert.deepEqual(await hooks.activeSecrets('o', 200), ['whsec_two', 'whsec_one']);
      assert.deepEqual(await hooks.activeSecrets('o', 500), ['whsec_two']);
      assert.deepEqual(await hooks.activeSecrets('other', 200), []);
      await hooks.addSecret('o', 'whsec_three', 600, 900);
      assert.deepEqual(await hooks.activeSecrets('o', 700), ['whsec_three', 'whsec_two']);
      await hooks.addSecret('o', 'whsec_four', 700, 2000);
      assert.deepEqual(await hooks.activeSecrets('o', 950), ['whsec_four', 'whsec_three'], 'an overlap already set is never extended');
      await hooks.addSecret('o', 'whsec_five', 1000, 1100);
      assert.deepEqual(await hooks.activeSecrets('o', 1099), ['whsec_five', 'whsec_four', 'whsec_three']);
      assert.deepEqual(await hooks.activeSecrets('o', 1100), ['whsec_five'], 'a shorter overlap cuts the longer one short');
    });

    it('ensureSecret adds a secret only while the owner has none in force', async ({ hooks }) => {
      await hooks.ensureSecret('o', 'whsec_first', 5);
      await hooks.ensureSecret('o', 'whsec_no', 6);
      assert.deepEqual(await hooks.activeSecrets('o', 6), ['whsec_first']);
      await hooks.addSecret('o', 'whsec_two', 10, 50);
      await hooks.ensureSecret('o', 'whsec_no', 20);
      assert.deepEqual(await hooks.activeSecrets('o', 20), ['whsec_two', 'whsec_first']);
      await hooks.ensureSecret('o', 'whsec_no', 60);
      assert.deepEqual(await hooks.activeSecrets('o', 60), ['whsec_two']);
      assert.deepEqual(await hooks.activeSecrets('p', 60), []);
    });

    it('the first secret is created once even when first uses race', async ({ hooks }) => {
      const racers = ['whsec_a', 'whsec_b', 'whsec_c', 'whsec_d', 'whsec_e', 'whsec_f'];
      await Promise.all(racers.map((s) => hooks.ensureSecret('o', s, 10)));
      const active = await hooks.activeSecrets('o', 11);
      assert.equal(active.length, 1, `one secret, not ${active.join(', ')}`);
      assert.ok(racers.includes(active[0]!));
      await Promise.all([hooks.ensureSecret('p', 'whsec_p', 10), hooks.ensureSecret('q', 'whsec_q', 10)]);
      assert.deepEqual([await hooks.activeSecrets('p', 10), await hooks.activeSecrets('q', 10)], [['whsec_p'], ['whsec_q']], 'owners do not block each other');
    });
  });
}
