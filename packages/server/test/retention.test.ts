/**
 * Retention on a real gateway (core/retention.ts): old finished tasks go in bounded batches with
 * their files on disk, newer ones stay, the ledger stays, the parent of an unfinished follow-up
 * stays, every run reports its figures, and the job runs by itself once started. The store side
 * (both drivers) is test/retention-contract.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Clock } from '../src/core/ports.js';
import type { RetentionStats } from '../src/core/retention.js';
import { ADMIN_TOKEN, FAST_SERVICES, startGateway, tempDir, until, waitForTask, type TestGateway } from './helpers.js';

class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
}

const DAY_MS = 86_400_000;
const retention = (over: Record<string, unknown> = {}) => ({ retention: { enabled: true, maxAgeDays: 1, batchSize: 100, intervalSeconds: 3600, ...over } });

async function images(t: TestGateway, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, n - i) }, () => t.call('POST', '/v1/demo/image', { body: { prompt: 'a fox' } })));
    for (const r of batch) {
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.task_id as string);
    }
  }
  return ids;
}

const fileDirs = (t: TestGateway): string[] => readdirSync(join(t.dataDir, 'files'));

describe('retention', () => {
  test('off by default', async () => {
    const t = await startGateway();
    try {
      assert.equal(t.gw.config.retention.enabled, false);
      assert.equal(t.gw.retention, null);
    } finally {
      await t.close();
    }
  });

  test('250 old tasks, batch 100: three runs remove them with their files; newer tasks and the ledger stay', async () => {
    const clock = new ShiftedClock();
    const t = await startGateway({ clock, config: retention() });
    try {
      const runs: RetentionStats[] = [];
      t.gw.retention!.onRun((s) => runs.push(s));
      const old = await images(t, 250);
      assert.equal(fileDirs(t).length, 250);
      clock.offset = 2 * DAY_MS;
      const fresh = await images(t, 3);

      const first = await t.gw.retention!.runOnce();
      assert.equal(first.tasks, 100);
      assert.equal(first.files, 100);
      assert.ok(first.bytes > 100 * 60, `bytes of the removed files (${first.bytes})`);
      assert.equal(fileDirs(t).length, 153, 'their files are gone from disk');
      assert.deepEqual([(await t.gw.retention!.runOnce()).tasks, (await t.gw.retention!.runOnce()).tasks, (await t.gw.retention!.runOnce()).tasks], [100, 50, 0]);
      assert.deepEqual(runs.map((r) => r.tasks), [100, 100, 50, 0], 'onRun saw every run');
      assert.equal(runs.reduce((n, r) => n + r.files, 0), 250);
      // The figures reach the metrics (GET /metrics, admin token).
      const scrape = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const text = await scrape.text();
      const metric = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      assert.equal(metric('taskgate_retention_tasks_removed_total'), 250);
      assert.equal(metric('taskgate_retention_files_removed_total'), 250);
      assert.equal(metric('taskgate_retention_bytes_freed_total'), runs.reduce((n, r) => n + r.bytes, 0));

      for (const id of [old[0]!, old[249]!]) {
        assert.equal(await t.gw.tasks.get(t.ownerId, id), null);
        const r = await t.call('POST', '/v1/demo/tasks', { body: { action: 'retrieve', id } });
        assert.equal(r.status, 404, 'a removed task is not found');
      }
      for (const id of fresh) {
        const r = await t.call('POST', '/v1/demo/tasks', { body: { action: 'retrieve', id } });
        assert.equal(r.status, 200);
        assert.equal((await fetch(r.json.response.data[0].url as string)).status, 200, 'a newer task keeps its file');
      }
      assert.deepEqual(fileDirs(t).length, 3);
    } finally {
      await t.close();
    }
  });

  test('a link to a removed file answers 404; the money records stay', async () => {
    const clock = new ShiftedClock();
    const services = { 'demo/image': { ...FAST_SERVICES['demo/image'], price: 3 } };
    const t = await startGateway({ clock, services, config: retention() });
    try {
      const topup = await t.call('POST', `/admin/accounts/${t.ownerId}/topup`, { token: ADMIN_TOKEN, body: { amount: 10, reason: 'test' } });
      assert.equal(topup.status, 200, topup.text);
      const r = await t.call('POST', '/v1/demo/image', { body: { prompt: 'a fox' } });
      assert.equal(r.status, 200, r.text);
      const url = r.json.data[0].url as string;
      const ledger = (await t.call('GET', '/v1/account/ledger')).json;
      assert.ok(ledger.items.some((e: { task_id?: string }) => e.task_id === r.json.task_id), JSON.stringify(ledger));
      clock.offset = 2 * DAY_MS;
      assert.equal((await t.gw.retention!.runOnce()).tasks, 1);
      assert.equal((await fetch(url)).status, 404);
      assert.deepEqual((await t.call('GET', '/v1/account/ledger')).json, ledger, 'the ledger is untouched');
      assert.equal((await t.call('GET', '/v1/account/balance')).json.balance, 7);
    } finally {
      await t.close();
    }
  });

  test('the parent of an unfinished follow-up stays until the follow-up ends', async () => {
    const clock = new ShiftedClock();
    const dataDir = tempDir();
    const services = { 'midjourney/imagine': FAST_SERVICES['midjourney/imagine'] };
    let t = await startGateway({ dataDir, clock, services, config: retention() });
    const parent = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'a fox' } });
    assert.equal(parent.status, 200, parent.text);
    const owner = { token: t.token, id: t.ownerId };
    await t.close();
    // A node that runs no workers: the follow-up stays queued.
    t = await startGateway({ dataDir, clock, services, config: { ...retention(), dispatch: { enabled: false } } });
    try {
      const child = await t.call('POST', '/v1/midjourney/imagine', { token: owner.token, body: { action: 'upscale1', image_id: parent.json.image_id, async: true } });
      assert.equal(child.status, 200, child.text);
      clock.offset = 2 * DAY_MS;
      assert.equal((await t.gw.retention!.runOnce()).tasks, 0);
      assert.ok(await t.gw.tasks.get(owner.id, parent.json.task_id));
      const parentFile = new URL(parent.json.image_url as string).pathname.split('/')[2]!;
      assert.ok(existsSync(join(dataDir, 'files', parentFile)));
      assert.equal((await t.gw.tasks.cancel(owner.id, child.json.task_id)).outcome, 'cancelled');
      clock.offset = 4 * DAY_MS;
      assert.equal((await t.gw.retention!.runOnce()).tasks, 2, 'parent and follow-up');
      assert.ok(!existsSync(join(dataDir, 'files', parentFile)));
    } finally {
      await t.close();
    }
  });

  test('once started, it runs every intervalSeconds by itself', async () => {
    const clock = new ShiftedClock();
    const t = await startGateway({ clock, config: retention({ intervalSeconds: 1 }) });
    try {
      const seen: RetentionStats[] = [];
      t.gw.retention!.onRun((s) => seen.push(s));
      const [id] = await images(t, 1);
      await waitForTask(t.gw, t.ownerId, id!, (x) => x.state === 'succeeded');
      clock.offset = 2 * DAY_MS;
      await until('a run removed the task', () => (seen.some((s) => s.tasks === 1) ? true : undefined), 10_000);
      assert.equal(fileDirs(t).length, 0);
    } finally {
      await t.close();
    }
  });
});
