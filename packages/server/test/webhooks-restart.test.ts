/**
 * Webhook deliveries survive a SIGKILL mid-delivery: real `taskgate serve` child processes, a real
 * receiver on 127.0.0.1 that holds the first request it gets (never answers) while the gateway is
 * killed. The next start on the same data dir sends that delivery again under the same
 * webhook-id and body and ends it delivered; deliveries answered before the kill are not sent
 * again. Nothing is lost.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { call, removeDir, tempDir, until } from './helpers.js';
import { startServer } from './process.js';

const ADMIN = 'tga_webhooks_restart_admin';
const TASKS = 5;


interface Hit { id: string; body: string; answered: boolean }

test('a gateway SIGKILLed mid-delivery: the next start delivers it again under the same webhook-id, nothing lost', { timeout: 90_000 }, async () => {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit = { id: String(req.headers['webhook-id']), body: Buffer.concat(chunks).toString(), answered: hits.length > 0 };
      hits.push(hit);
      if (hit.answered) res.writeHead(200).end('ok'); // the very first request is held: no answer, ever
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const dir = tempDir();
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    // A lease far longer than the test: recovery must come from dead-worker detection on start.
    webhooks: { timeoutMs: 15_000, leaseMs: 120_000, pollMs: 50 },
    services: { 'quick/image': { provider: 'demo-image', mode: 'async', options: { latencyMs: 30, steps: 1, defaultWidth: 64, defaultHeight: 64 } } },
  }));
  const env = {
    TASKGATE_DATA: join(dir, 'data'), TASKGATE_ADMIN_TOKEN: ADMIN, TASKGATE_CONFIG: config,
    TASKGATE_ALLOW_PRIVATE_CALLBACKS: '1', TASKGATE_WEBHOOK_RETRY_SCHEDULE: '0,0.2,0.5',
  };
  try {
    const doomed = await startServer(env);
    const token = (await call(doomed.url, 'POST', '/admin/tokens', ADMIN, { body: { name: 'wh' } })).json.token as string;
    const tasks: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const r = await call(doomed.url, 'POST', '/v1/quick/image', token, { body: { prompt: `restart ${i}`, callback_url: hook } });
      assert.equal(r.status, 200, r.text);
      tasks.push(r.json.task_id as string);
    }
    await until('every task’s first delivery attempt', () => (hits.length >= TASKS ? true : undefined));
    const held = hits[0]!;
    // Let the answered attempts be recorded, then kill the process with the held one in flight.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(hits.length, TASKS, 'nothing was retried before the kill');
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    const next = await startServer(env);
    try {
      assert.ok(next.output.some((l) => l.includes('released deliveries of dead local workers')), 'dead worker detected');
      await until('the held delivery to be sent again', () => (hits.filter((h) => h.id === held.id).length >= 2 ? true : undefined));
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      next.child.kill('SIGTERM');
      assert.equal(await next.exited, 0);
    }

    const again = hits.filter((h) => h.id === held.id);
    assert.equal(again.length, 2, 'the held delivery was sent exactly once more');
    assert.equal(again[1]!.body, held.body, 'same body after the restart');
    const others = hits.filter((h) => h.id !== held.id);
    assert.equal(new Set(others.map((h) => h.id)).size, TASKS - 1);
    assert.equal(others.length, TASKS - 1, 'deliveries answered before the kill were not sent again');

    const db = new Database(join(dir, 'data', 'taskgate.db'), { readonly: true });
    const rows = db.prepare('SELECT id, task_id, state, attempts, payload FROM webhook_deliveries').all() as
      Array<{ id: string; task_id: string; state: string; attempts: number; payload: string }>;
    const log = db.prepare('SELECT n, status_code FROM webhook_attempts WHERE delivery_id = ? ORDER BY n').all(held.id);
    db.close();
    assert.deepEqual(rows.map((r) => r.task_id).sort(), [...tasks].sort(), 'one delivery per task');
    assert.ok(rows.every((r) => r.state === 'delivered' && r.attempts === 1), JSON.stringify(rows.map((r) => [r.state, r.attempts])));
    assert.equal(rows.find((r) => r.id === held.id)?.payload, held.body);
    assert.deepEqual(log, [{ n: 1, status_code: 200 }], 'the killed attempt left no record; the one after the restart delivered');
  } finally {
    server.closeAllConnections();
    server.close();
    removeDir(dir);
  }
});
