/**
 * Per-account concurrency: an account's running tasks never exceed its `max_concurrency` (or the
 * gateway's `rateLimits.concurrency`); tasks over it wait queued and never block other accounts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceClaimLimit } from '../src/core/ports.js';
import type { Task } from '../src/core/types.js';
import { ADMIN_TOKEN, startGateway, waitForTask, type TestGateway } from './helpers.js';

const SERVICE: ServiceClaimLimit = { service: 'veo/videos', concurrency: 50, timeoutMs: 60_000 };

async function createMany(t: TestGateway, n: number, token = t.token): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await t.call('POST', '/v1/veo/videos', { token, body: { prompt: `clip ${i}` } });
    assert.equal(r.status, 200, r.text);
    ids.push(r.json.task_id as string);
  }
  return ids;
}

async function capAccount(t: TestGateway, id: string, maxConcurrency: number | null): Promise<void> {
  const r = await t.call('PATCH', `/admin/accounts/${id}`, { token: ADMIN_TOKEN, body: { max_concurrency: maxConcurrency } });
  assert.equal(r.status, 200, r.text);
}

const ownersOf = (tasks: Task[]) => tasks.map((x) => x.ownerId);
const count = (xs: string[], owner: string) => xs.filter((x) => x === owner).length;

test("a capped token's queued tasks wait and never block another token's, claim after claim", async () => {
  const t = await startGateway({ config: { dispatch: { enabled: false } } });
  try {
    const other = await t.gw.tokens.create('other');
    await capAccount(t, t.ownerId, 2);
    // The capped token's tasks come first in claim order: a claim must look past them.
    await createMany(t, 6);
    await createMany(t, 3, other.token);

    const first = ownersOf(await t.gw.tasks.claim('w1', 4, [SERVICE], 60_000));
    assert.equal(first.length, 4);
    assert.equal(count(first, t.ownerId), 2, 'the capped token gets exactly its 2 slots');
    assert.equal(count(first, other.record.accountId), 2, 'the rest go to the other token');

    const second = await t.gw.tasks.claim('w2', 10, [SERVICE], 60_000);
    assert.deepEqual(ownersOf(second), [other.record.accountId], 'the capped token stays at 2 across workers');

    // One of its tasks finishes: exactly one more of its tasks may start.
    const running = (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 10 })).filter((x) => x.state === 'running');
    assert.equal(running.length, 2);
    const done = running[0]!;
    assert.ok(await t.gw.tasks.succeed(done.id, done.leaseOwner!, { files: [] }));
    const third = await t.gw.tasks.claim('w1', 10, [SERVICE], 60_000);
    assert.deepEqual(ownersOf(third), [t.ownerId]);

    // Raising the cap lets the rest start; null removes it.
    await capAccount(t, t.ownerId, null);
    assert.equal((await t.gw.tasks.claim('w1', 10, [SERVICE], 60_000)).length, 3);
  } finally {
    await t.close();
  }
});

test("the gateway default applies to tokens without their own cap; a token's own cap wins", async () => {
  const t = await startGateway({ config: { dispatch: { enabled: false } } });
  try {
    const roomy = await t.gw.tokens.create('roomy', {}, { account: { maxConcurrency: 3 } });
    await createMany(t, 4);
    await createMany(t, 4, roomy.token);
    const claimed = ownersOf(await t.gw.tasks.claim('w1', 20, [SERVICE], 60_000, 1));
    assert.equal(count(claimed, t.ownerId), 1, 'default cap 1');
    assert.equal(count(claimed, roomy.record.accountId), 3, 'own cap 3 beats the default');
    assert.equal((await t.gw.tasks.claim('w2', 20, [SERVICE], 60_000, 1)).length, 0, 'nothing more while every owner is at its cap');
  } finally {
    await t.close();
  }
});

test('end to end: a token capped at 1 runs its tasks one after another, all succeed', async () => {
  const t = await startGateway({ config: { rateLimits: { concurrency: 1 }, dispatch: { maxConcurrency: 8 } } });
  try {
    const ids = await createMany(t, 4);
    const tasks: Task[] = [];
    for (const id of ids) tasks.push(await waitForTask(t.gw, t.ownerId, id, (x) => x.state === 'succeeded'));
    tasks.sort((a, b) => a.startedAt! - b.startedAt!);
    for (let i = 1; i < tasks.length; i++) {
      assert.ok(tasks[i]!.startedAt! >= tasks[i - 1]!.finishedAt!, `task ${i} started before task ${i - 1} finished`);
    }
  } finally {
    await t.close();
  }
});

test('rateLimits.concurrency is validated at load', async () => {
  await assert.rejects(startGateway({ config: { rateLimits: { concurrency: 0 } } }), /concurrency/);
});
