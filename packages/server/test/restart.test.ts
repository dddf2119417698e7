/**
 * Durability across processes: tasks queued before a restart finish after it, and a task whose
 * process is killed with SIGKILL mid-run is picked up again by the next start.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { call, removeDir, tempDir, until } from './helpers.js';
import { startServer } from './process.js';

const ADMIN = 'tga_restart_test_admin';

function writeConfig(dir: string, name: string, workers: boolean): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({
    // A long lease: recovery after SIGKILL must come from dead-worker detection, not lease expiry.
    dispatch: { enabled: workers, leaseMs: 120_000, pollMs: 50 },
    services: { 'slow/image': { provider: 'demo-image', mode: 'async', concurrency: 1, options: { latencyMs: 1200, steps: 4, defaultWidth: 64, defaultHeight: 64 } } },
  }));
  return file;
}

async function retrieve(url: string, token: string, id: string) {
  return (await call(url, 'POST', '/v1/slow/tasks', token, { body: { action: 'retrieve', id } })).json;
}


test('queued tasks survive a restart, and a SIGKILLed task is resumed by the next start', { timeout: 90_000 }, async () => {
  const dir = tempDir();
  const env = { TASKGATE_DATA: join(dir, 'data'), TASKGATE_ADMIN_TOKEN: ADMIN };
  try {
    // 1. An API-only gateway accepts three tasks; nothing runs them. Then it stops (SIGTERM).
    const apiOnly = await startServer({ ...env, TASKGATE_CONFIG: writeConfig(dir, 'api.json', false) });
    const token = (await call(apiOnly.url, 'POST', '/admin/tokens', ADMIN, { body: { name: 'restart' } })).json.token as string;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call(apiOnly.url, 'POST', '/v1/slow/image', token, { body: { prompt: `restart ${i}`, seed: i } });
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.task_id);
    }
    apiOnly.child.kill('SIGTERM');
    assert.equal(await apiOnly.exited, 0, 'graceful stop exits 0');

    // 2. A gateway with workers starts the first task (concurrency 1) and is killed mid-run.
    const workers = writeConfig(dir, 'workers.json', true);
    const doomed = await startServer({ ...env, TASKGATE_CONFIG: workers });
    await until('the first task to start', async () => ((await retrieve(doomed.url, token, ids[0]!)).started_at ? true : undefined));
    assert.equal((await retrieve(doomed.url, token, ids[0]!)).finished_at, undefined);
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    // 3. The next start releases the dead process's lease at once and finishes all three.
    const next = await startServer({ ...env, TASKGATE_CONFIG: workers });
    try {
      assert.ok(next.output.some((l) => l.includes('released tasks of dead local workers')), 'dead worker detected');
      for (const id of ids) {
        const done = await until(`task ${id} to finish`, async () => {
          const item = await retrieve(next.url, token, id);
          return item.finished_at ? item : undefined;
        });
        assert.equal(done.response.success, true, JSON.stringify(done.response));
        const png = await fetch(done.response.data[0].url);
        assert.equal(png.status, 200);
      }
    } finally {
      next.child.kill('SIGTERM');
      await next.exited;
    }
    const db = new Database(join(dir, 'data', 'taskgate.db'), { readonly: true });
    const rows = db.prepare('SELECT id, state, attempts FROM tasks ORDER BY created_at').all() as Array<{ id: string; state: string; attempts: number }>;
    db.close();
    assert.deepEqual(rows.map((r) => r.state), ['succeeded', 'succeeded', 'succeeded']);
    assert.equal(rows[0]!.attempts, 2, 'the killed task ran again');
    assert.deepEqual(rows.slice(1).map((r) => r.attempts), [1, 1]);
  } finally {
    removeDir(dir);
  }
});
