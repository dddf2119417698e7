/** Workers and leases: a dead worker's task is claimed again; concurrency, attempts, deadlines. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { test } from 'node:test';
import pino from 'pino';
import type { Task } from '../src/core/types.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import { deadLocalWorkers } from '../src/dispatch/worker-id.js';
import { createFileSink } from '../src/store/files.js';
import { ManualClock, startGateway, waitForTask, type TestGateway } from './helpers.js';

const LEASE = 1000;

function secondWorker(t: TestGateway, workerId: string, maxAttempts = 3): Dispatcher {
  return new Dispatcher({
    tasks: t.gw.tasks, files: createFileSink(`${t.dataDir}/files`), log: pino({ level: 'silent' }), workerId,
    leaseMs: LEASE, pollMs: 20, maxConcurrency: 4, maxAttempts,
  });
}

async function withClockGateway(opts: { maxAttempts?: number; timeoutMs?: number }, fn: (t: TestGateway, clock: ManualClock) => Promise<void>): Promise<void> {
  const clock = new ManualClock();
  const t = await startGateway({
    clock,
    config: { dispatch: { leaseMs: LEASE, pollMs: 20, maxAttempts: opts.maxAttempts ?? 3 } },
    services: {
      'slow/image': { provider: 'demo-image', mode: 'async', timeoutMs: opts.timeoutMs ?? 600_000, options: { latencyMs: 600, steps: 3, defaultWidth: 64, defaultHeight: 64 } },
    },
  });
  try {
    await fn(t, clock);
  } finally {
    await t.close();
  }
}

async function createRunning(t: TestGateway): Promise<Task> {
  const r = await t.call('POST', '/v1/slow/image', { body: { prompt: 'lease test' } });
  assert.equal(r.status, 200, r.text);
  return waitForTask(t.gw, t.ownerId, r.json.task_id, (task) => task.state === 'running');
}

test('a task whose worker dies is claimed again once its lease expires, and finished by the new claim', async () => {
  await withClockGateway({}, async (t, clock) => {
    const finished: string[] = [];
    t.gw.tasks.events.on('task:succeeded', ({ task }) => finished.push(task.id));
    t.gw.tasks.events.on('task:failed', ({ task }) => finished.push(task.id));
    const running = await createRunning(t);
    const workerA = t.gw.dispatcher!;
    assert.equal(running.leaseOwner, workerA.workerId);
    assert.equal(running.attempts, 1);
    workerA.halt(); // the process "dies": no more renewals or claims

    const workerB = secondWorker(t, 'worker-b');
    await workerB.tick();
    assert.equal((await t.gw.tasks.get(t.ownerId, running.id))?.leaseOwner, workerA.workerId, 'a live lease is not stolen');

    clock.advance(LEASE + 1);
    workerB.start();
    const done = await waitForTask(t.gw, t.ownerId, running.id, (task) => task.state === 'succeeded');
    assert.equal(done.attempts, 2);
    assert.equal(done.output?.files.length, 1);
    await new Promise((r) => setTimeout(r, 700)); // let worker A's run end too
    assert.deepEqual(finished, [running.id], "worker A's late result was discarded, not applied twice");
    assert.equal((await t.gw.tasks.get(t.ownerId, running.id))?.state, 'succeeded');
    await workerB.stop();
  });
});

test('a task that keeps losing its worker is failed after maxAttempts, not retried forever', async () => {
  await withClockGateway({ maxAttempts: 1 }, async (t, clock) => {
    const running = await createRunning(t);
    t.gw.dispatcher!.halt();
    clock.advance(LEASE + 1);
    const workerB = secondWorker(t, 'worker-b', 1);
    workerB.start();
    const failed = await waitForTask(t.gw, t.ownerId, running.id, (task) => task.state === 'failed');
    assert.equal(failed.error?.code, 'api_error');
    assert.match(failed.error?.message ?? '', /abandoned/);
    await workerB.stop();
  });
});

test('a re-claimed task whose deadline has passed fails with timeout at once', async () => {
  await withClockGateway({ timeoutMs: 1500 }, async (t, clock) => {
    const running = await createRunning(t);
    t.gw.dispatcher!.halt();
    clock.advance(2000);
    const workerB = secondWorker(t, 'worker-b');
    workerB.start();
    const failed = await waitForTask(t.gw, t.ownerId, running.id, (task) => task.state === 'failed');
    assert.equal(failed.error?.code, 'timeout');
    await workerB.stop();
  });
});

test('per-service concurrency holds across workers; every task still completes', async () => {
  const t = await startGateway({
    config: { dispatch: { pollMs: 10 } },
    services: { 'busy/image': { provider: 'demo-image', mode: 'async', concurrency: 2, options: { latencyMs: 120, steps: 1, defaultWidth: 64, defaultHeight: 64 } } },
  });
  const workerB = secondWorker(t, 'worker-b');
  workerB.start();
  try {
    let running = 0;
    let peak = 0;
    t.gw.tasks.events.on('task:started', () => { running++; peak = Math.max(peak, running); });
    t.gw.tasks.events.on('task:succeeded', () => { running--; });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await t.call('POST', '/v1/busy/image', { body: { prompt: `c${i}` } })).json.task_id);
    const done = await Promise.all(ids.map((id) => waitForTask(t.gw, t.ownerId, id, (task) => task.state === 'succeeded')));
    assert.equal(done.length, 6);
    assert.equal(peak, 2, `at most 2 ran at once (peak ${peak})`);
    assert.ok(done.every((d) => d.attempts === 1), 'no task ran twice');
  } finally {
    await workerB.stop();
    await t.close();
  }
});

test('dead-worker detection: only this host, only processes that are gone', () => {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(child.stdout.toString());
  const self = `${hostname()}:${process.pid}:aaaa`;
  const owners = [`${hostname()}:${deadPid}:beef`, `${hostname()}:${process.pid}:cafe`, `other-host:${deadPid}:beef`, self, 'garbage'];
  assert.deepEqual(deadLocalWorkers(owners, self), [`${hostname()}:${deadPid}:beef`]);
});
