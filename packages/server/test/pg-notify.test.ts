/**
 * Without Redis, Postgres LISTEN/NOTIFY wakes the other nodes' workers: a task queued on an
 * API-only node is claimed by a worker node whose polling alone would not look for a minute.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, until, type TestGateway } from './helpers.js';
import { freshDatabase, postgresUnavailable } from './pg.js';

const skip = (await postgresUnavailable()) ?? false;

describe('worker wake-ups through Postgres', { skip }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let api: TestGateway;
  let worker: TestGateway;
  before(async () => {
    db = await freshDatabase();
    api = await startGateway({ config: { databaseUrl: db.url, dispatch: { enabled: false } } });
    // Polls the queue once a minute: only a wake-up gets the task started within the test.
    worker = await startGateway({ config: { databaseUrl: db.url, dispatch: { pollMs: 60_000 } } });
    await new Promise((r) => setTimeout(r, 300)); // the worker's first claim round (at start) has run, and it LISTENs
  });
  after(async () => {
    await api?.close();
    await worker?.close();
    await db?.drop();
  });

  test('a task created on the API-only node starts on the worker node at once', async () => {
    assert.equal(api.gw.coordination.feed?.kind, 'postgres');
    const created = await api.call('POST', '/v1/demo/image', { body: { prompt: 'wake up', async: true } });
    assert.equal(created.status, 200, created.text);
    const done = await until('the worker to finish it', async () => {
      const task = await worker.gw.tasks.get(api.ownerId, created.json.task_id);
      return task?.state === 'succeeded' ? task : undefined;
    }, 10_000);
    assert.equal(done.attempts, 1);
  });
});
