/**
 * Tasks waiting upstream survive kill -9: the next start resumes every one by its upstream id
 * (polls it, copies its result) and submits none of them again.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { call, removeDir, tempDir, until } from './helpers.js';
import { startServer } from './process.js';
import { startTaskApiUpstream } from './fixtures/task-api-upstream.js';

const ADMIN = 'tga_relay_restart_admin';
const TASKS = 10;

test('kill -9 with tasks in flight upstream: all resume by upstream id, zero resubmitted', { timeout: 90_000 }, async () => {
  const dir = tempDir();
  const up = await startTaskApiUpstream({ token: 'up-key', delayMs: 4000 });
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    relay: { pollTickMs: 50 },
    services: {
      'relay/flux': {
        mode: 'async', timeoutMs: 60_000,
        channels: [{ name: 'main', provider: 'task-api', baseUrl: `${up.url}/v1`, apiKeyEnv: 'UP_KEY', model: 'flux/dev', poll: { initialMs: 200, maxMs: 500 } }],
      },
    },
  }));
  const env = { TASKGATE_DATA: join(dir, 'data'), TASKGATE_ADMIN_TOKEN: ADMIN, TASKGATE_CONFIG: config, UP_KEY: 'up-key' };
  const first = await startServer(env);
  let second: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const token = (await call(first.url, 'POST', '/admin/tokens', ADMIN, { body: { name: 'relay' } })).json.token as string;
    const ids: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const r = await call(first.url, 'POST', '/v1/relay/flux', token, { body: { prompt: `restart ${i}` } });
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.task_id);
    }
    await until('every task to be submitted upstream', () => (up.tasks.size === TASKS ? true : undefined), 20_000);
    first.child.kill('SIGKILL');
    await first.exited;

    second = await startServer(env);
    const url = second.url;
    for (const id of ids) {
      const done = await until(`task ${id} to finish after the restart`, async () => {
        const r = await call(url, 'POST', '/v1/relay/tasks', token, { body: { action: 'retrieve', id } });
        return r.json?.finished_at !== undefined ? r.json : undefined;
      }, 30_000);
      assert.equal(done.response.success, true, JSON.stringify(done.response));
      assert.ok(String(done.response.data[0].url).startsWith(`${url}/files/`));
    }
    assert.equal(up.count('create'), TASKS, 'no task was submitted twice');
    assert.equal(up.tasks.size, TASKS);
  } finally {
    first.child.kill('SIGKILL');
    second?.child.kill('SIGTERM');
    await second?.exited;
    await up.close();
    removeDir(dir);
  }
});
