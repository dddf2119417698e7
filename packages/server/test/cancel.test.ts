/** Cancellation in core: queued at once, running via the worker, finished tasks refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Task } from '../src/core/types.js';
import { startGateway, waitForTask, type TestGateway } from './helpers.js';

async function withGateway(fn: (t: TestGateway) => Promise<void>): Promise<void> {
  const t = await startGateway({
    services: {
      'slow/image': { provider: 'demo-image', mode: 'async', concurrency: 1, options: { latencyMs: 400, steps: 4, defaultWidth: 64, defaultHeight: 64 } },
    },
  });
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

async function create(t: TestGateway, prompt: string): Promise<string> {
  return (await t.call('POST', '/v1/slow/image', { body: { prompt } })).json.task_id as string;
}

test('a queued task is cancelled at once and never runs', async () => {
  await withGateway(async (t) => {
    const first = await create(t, 'runs'); // occupies the single slot
    const second = await create(t, 'waits');
    await waitForTask(t.gw, t.ownerId, first, (x) => x.state === 'running');
    const r = await t.gw.tasks.cancel(t.ownerId, second);
    assert.equal(r.outcome, 'cancelled');
    assert.equal(r.outcome === 'cancelled' && r.task.state, 'cancelled');
    assert.equal(r.outcome === 'cancelled' && r.task.startedAt, null);
    await waitForTask(t.gw, t.ownerId, first, (x) => x.state === 'succeeded');
    await new Promise((res) => setTimeout(res, 100));
    const after = await t.gw.tasks.get(t.ownerId, second);
    assert.deepEqual([after?.state, after?.attempts, after?.error?.code], ['cancelled', 0, 'cancelled']);
  });
});

test('a running task is cancelled: its provider is aborted and a late result never overwrites it', async () => {
  await withGateway(async (t) => {
    const outcomes: string[] = [];
    for (const e of ['task:succeeded', 'task:failed', 'task:cancelled'] as const) t.gw.tasks.events.on(e, ({ task }) => outcomes.push(`${e}:${task.id}`));
    const id = await create(t, 'cancel me');
    await waitForTask(t.gw, t.ownerId, id, (x: Task) => x.state === 'running' && (x.progress ?? 0) > 0);
    assert.equal(t.gw.dispatcher!.activeCount, 1);
    const r = await t.gw.tasks.cancel(t.ownerId, id);
    assert.equal(r.outcome, 'cancelled');
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(t.gw.dispatcher!.activeCount, 0, 'the worker stopped the provider at once');
    await new Promise((res) => setTimeout(res, 500)); // past the provider's whole latency
    const after = await t.gw.tasks.get(t.ownerId, id);
    assert.deepEqual([after?.state, after?.output], ['cancelled', null]);
    assert.deepEqual(outcomes, [`task:cancelled:${id}`]);
  });
});

test('a finished task cannot be cancelled; another owner’s task is not found', async () => {
  await withGateway(async (t) => {
    const id = await create(t, 'done');
    const done = await waitForTask(t.gw, t.ownerId, id, (x) => x.state === 'succeeded');
    const r = await t.gw.tasks.cancel(t.ownerId, id);
    assert.equal(r.outcome, 'already_completed');
    assert.deepEqual(r.outcome === 'already_completed' && r.task, done);
    const { record: other } = await t.gw.tokens.create('other');
    assert.deepEqual(await t.gw.tasks.cancel(other.id, id), { outcome: 'not_found' });
    assert.deepEqual(await t.gw.tasks.cancel(t.ownerId, 'missing'), { outcome: 'not_found' });
  });
});
