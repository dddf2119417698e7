/**
 * Graceful restarts never count as lost attempts (issue: a long task and three SIGINT restarts of
 * `npm start` ended "Task abandoned after 3 lost attempts", because npm's process chain dropped
 * the signal and a clean stop's give-back counted as an attempt). Five SIGINTs to `npm start`
 * itself while one long task runs: each stop is graceful, and the task succeeds.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { call, removeDir, tempDir, until } from './helpers.js';
import { startServer, type ServerProcess } from './process.js';

const ADMIN = 'tga_graceful_restart_admin';


const portClosed = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });

test('five graceful restarts of npm start during one long task: it succeeds, never abandoned', { timeout: 150_000 }, async () => {
  const dir = tempDir();
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    // maxAttempts 3 (the default): five counted restarts would abandon the task.
    dispatch: { pollMs: 50, maxAttempts: 3 },
    services: { 'long/video': { provider: 'demo-video', mode: 'async', options: { latencyMs: 3000, steps: 6, defaultWidth: 32, defaultHeight: 32, defaultFrames: 2 } } },
  }));
  const env = { TASKGATE_DATA: join(dir, 'data'), TASKGATE_ADMIN_TOKEN: ADMIN, TASKGATE_CONFIG: config };
  const runs: ServerProcess[] = [];
  try {
    let server = await startServer(env, 30_000, { via: 'npm' });
    runs.push(server);
    const token = (await call(server.url, 'POST', '/admin/tokens', ADMIN, { body: { name: 'restarts' } })).json.token as string;
    const created = await call(server.url, 'POST', '/v1/long/video', token, { body: { prompt: 'a long video' } });
    assert.equal(created.status, 200, created.text);
    const id = created.json.task_id as string;

    for (let restart = 1; restart <= 5; restart++) {
      const current = server;
      await until(`run ${restart} to start the task`, () => (current.output.some((l) => l.includes('"task started"') && l.includes(id)) ? true : undefined));
      const port = Number(new URL(current.url).port);
      current.child.kill('SIGINT'); // to npm itself, as a terminal's Ctrl+C or a supervisor would
      await current.exited;
      assert.ok(current.output.some((l) => l.includes('running tasks handed back')), `run ${restart} stopped gracefully:\n${current.output.join('\n')}`);
      assert.ok(await portClosed(port), 'the gateway process exited with npm (no orphan still listening)');
      server = await startServer(env, 30_000, { via: 'npm' });
      runs.push(server);
    }

    const done = await until('the task to finish', async () => {
      const r = await call(server.url, 'POST', '/v1/long/tasks', token, { body: { action: 'retrieve', id } });
      return r.json?.finished_at ? r.json : undefined;
    }, 30_000);
    assert.equal(done.response.success, true, JSON.stringify(done.response));
    server.child.kill('SIGINT');
    await server.exited;

    for (const run of runs) {
      assert.ok(!run.output.some((l) => l.includes('released tasks of dead local workers')), 'no clean stop looked like a dead worker');
      assert.ok(!run.output.some((l) => l.includes('abandoned')), 'never abandoned');
    }
    const db = new Database(join(dir, 'data', 'taskgate.db'), { readonly: true });
    const row = db.prepare('SELECT state, attempts FROM tasks WHERE id = ?').get(id) as { state: string; attempts: number };
    db.close();
    assert.deepEqual(row, { state: 'succeeded', attempts: 1 });
  } finally {
    for (const run of runs) run.child.kill('SIGKILL');
    removeDir(dir);
  }
});
