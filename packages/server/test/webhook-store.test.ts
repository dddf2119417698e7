/** The webhook outbox in the SQLite store: atomic with transitions, ordered, leased, logged. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ServiceClaimLimit, TaskStore, WebhookStore } from '../src/core/ports.js';
import type { WebhookDelivery, WebhookEvent } from '../src/core/types.js';
import { openDatabase } from '../src/store/sqlite/db.js';
import { createSqliteTaskStore } from '../src/store/sqlite/task-store.js';
import { createSqliteWebhookStore } from '../src/store/sqlite/webhook-store.js';
import { tempDir } from './helpers.js';
import { newTask } from './store-contract.js';

const limit: ServiceClaimLimit = { service: 'demo/image', concurrency: 10, timeoutMs: 60_000 };
const ok = { n: 1, at: 0, statusCode: 200, latencyMs: 5, error: null };

function open(): { tasks: TaskStore; hooks: WebhookStore } {
  const db = openDatabase(join(tempDir(), 'w.db'));
  return { tasks: createSqliteTaskStore(db), hooks: createSqliteWebhookStore(db) };
}

async function runningTask(tasks: TaskStore, events: WebhookEvent[] = ['completed'], callbackUrl: string | null = 'http://127.0.0.1:1/hook') {
  const t = await tasks.insert(newTask({ callbackUrl, webhookEvents: events }));
  await tasks.claimDue({ workerId: 'W', now: 10, leaseMs: 1000, max: 10, services: [limit] });
  return t;
}

test('a terminal transition writes its completed delivery in the same transaction, once', async () => {
  const { tasks, hooks } = open();
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
  assert.match(d?.id ?? '', /^msg_/);
  assert.deepEqual(await hooks.listDeliveries('owner-1', { taskId: silent.id, limit: 10 }), [], 'no callback URL, no delivery');
  const cancelled = await tasks.insert(newTask({ callbackUrl: 'http://127.0.0.1:1/c' }));
  await tasks.terminate({ id: cancelled.id, from: ['queued'], state: 'cancelled', error: { code: 'cancelled', message: 'x' }, now: 40 });
  assert.equal((await hooks.listDeliveries('owner-1', { taskId: cancelled.id, limit: 10 }))[0]?.event, 'completed');
});

test('start and progress go out only when asked for; a newer event supersedes older pending ones', async () => {
  const { tasks, hooks } = open();
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

test('a task’s deliveries go out in order: the next waits while an earlier one is in flight', async () => {
  const { tasks, hooks } = open();
  const t = await runningTask(tasks, ['start', 'completed']);
  const [start] = await hooks.claimDeliveries({ workerId: 'D', now: 20, leaseMs: 1000, max: 10 });
  assert.equal(start?.event, 'start');
  await tasks.finish({ id: t.id, workerId: 'W', now: 21, state: 'succeeded', output: { files: [] } });
  assert.deepEqual(await hooks.claimDeliveries({ workerId: 'D2', now: 22, leaseMs: 1000, max: 10 }), [], 'completed waits for start');
  await hooks.recordAttempt(start!.id, 'D', { ...ok, at: 23 }, { state: 'delivered' });
  const [completed] = await hooks.claimDeliveries({ workerId: 'D2', now: 24, leaseMs: 1000, max: 10 });
  assert.equal(completed?.event, 'completed');
});

test('leases: a dead worker’s delivery is claimed again; its late attempt is refused', async () => {
  const { tasks, hooks } = open();
  const t = await runningTask(tasks);
  await tasks.finish({ id: t.id, workerId: 'W', now: 20, state: 'succeeded', output: { files: [] } });
  const [d] = await hooks.claimDeliveries({ workerId: 'A', now: 30, leaseMs: 100, max: 10 });
  assert.deepEqual(await hooks.deliveryLeaseOwners(), ['A']);
  assert.equal(await hooks.setPayload(d!.id, 'A', '{"v":1}'), true);
  assert.equal(await hooks.setPayload(d!.id, 'A', '{"v":2}'), false, 'the payload is fixed once');
  assert.deepEqual(await hooks.claimDeliveries({ workerId: 'B', now: 129, leaseMs: 100, max: 10 }), []);
  assert.deepEqual(await hooks.extendDeliveryLeases([d!.id], 'B', 500), []);
  const [again] = await hooks.claimDeliveries({ workerId: 'B', now: 131, leaseMs: 100, max: 10 });
  assert.equal(again?.id, d!.id, 'same webhook-id');
  assert.equal(again?.payload, '{"v":1}', 'same payload');
  assert.equal(await hooks.recordAttempt(d!.id, 'A', { ...ok, at: 132 }, { state: 'delivered' }), null);
  await hooks.releaseDeliveryLeases(['B']);
  const [third] = await hooks.claimDeliveries({ workerId: 'C', now: 133, leaseMs: 100, max: 10 });
  assert.equal(third?.id, d!.id, 'released leases are claimable at once');
});

test('extendDeliveryLeases renews, in one call, exactly the deliveries the worker still holds', async () => {
  const { tasks, hooks } = open();
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

test('attempts are logged; retries wait for retryAt; failed and delivered stay visible; redeliver keeps the id', async () => {
  const { tasks, hooks } = open();
  const t = await runningTask(tasks);
  await tasks.finish({ id: t.id, workerId: 'W', now: 20, state: 'failed', error: { code: 'timeout', message: 'late' } });
  let [d] = await hooks.claimDeliveries({ workerId: 'A', now: 30, leaseMs: 1000, max: 10 });
  const retry = await hooks.recordAttempt(d!.id, 'A', { n: 1, at: 30, statusCode: 500, latencyMs: 7, error: 'HTTP 500' }, { state: 'pending', retryAt: 1000 });
  assert.deepEqual([retry?.state, retry?.attempts, retry?.nextAttemptAt, retry?.lastStatus], ['pending', 1, 1000, 500]);
  assert.deepEqual(await hooks.claimDeliveries({ workerId: 'A', now: 999, leaseMs: 1000, max: 10 }), []);
  [d] = await hooks.claimDeliveries({ workerId: 'A', now: 1000, leaseMs: 1000, max: 10 });
  const failed = await hooks.recordAttempt(d!.id, 'A', { n: 2, at: 1000, statusCode: null, latencyMs: 15_000, error: 'timeout' }, { state: 'failed' });
  assert.deepEqual([failed?.state, failed?.attempts, failed?.finishedAt, failed?.lastError], ['failed', 2, 16_000, 'timeout']);
  const [listed] = await hooks.listDeliveries('owner-1', { limit: 10 });
  assert.deepEqual(listed?.log.map((a) => [a.n, a.statusCode, a.error]), [[1, 500, 'HTTP 500'], [2, null, 'timeout']]);
  assert.equal(await hooks.redeliver('owner-2', d!.id, 2000), null, 'only the owner redelivers');
  const again = await hooks.redeliver('owner-1', d!.id, 2000);
  assert.deepEqual([again?.id, again?.state, again?.nextAttemptAt], [d!.id, 'pending', 2000]);
  const [claimed] = await hooks.claimDeliveries({ workerId: 'A', now: 2000, leaseMs: 1000, max: 10 });
  await hooks.recordAttempt(claimed!.id, 'A', { ...ok, n: 3, at: 2000 }, { state: 'delivered' });
  assert.equal((await hooks.listDeliveries('owner-1', { limit: 10 }))[0]?.log.length, 3);
});

test('secrets: newest first; a rotation keeps the old one active for its overlap only', async () => {
  const { hooks } = open();
  assert.deepEqual(await hooks.activeSecrets('o', 0), []);
  await hooks.addSecret('o', 'whsec_one', 0, 0);
  await hooks.addSecret('o', 'whsec_two', 100, 500);
  assert.deepEqual(await hooks.activeSecrets('o', 200), ['whsec_two', 'whsec_one']);
  assert.deepEqual(await hooks.activeSecrets('o', 500), ['whsec_two']);
  assert.deepEqual(await hooks.activeSecrets('other', 200), []);
});

test('the first secret is created once even when two first uses race', async () => {
  const { hooks } = open();
  await Promise.all([hooks.ensureSecret('o', 'whsec_a', 10), hooks.ensureSecret('o', 'whsec_b', 10)]);
  assert.deepEqual(await hooks.activeSecrets('o', 11), ['whsec_a']);
});
