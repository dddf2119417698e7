/**
 * Upstream callbacks make a poll due at once: with a poll interval of a minute, a task finished
 * upstream is terminal in taskgate within moments of the callback. Lost callbacks are caught by
 * polling; forged ones change nothing.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startGateway, until, type TestGateway } from './helpers.js';
import { startTaskApiUpstream, type TaskApiUpstream } from './fixtures/task-api-upstream.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function finishedWithin(t: TestGateway, id: string, ms: number) {
  return until(`task ${id} to finish`, async () => {
    const r = await t.call('POST', '/v1/relay/tasks', { body: { action: 'retrieve', id } });
    return r.json?.finished_at !== undefined ? r.json : undefined;
  }, ms);
}

describe('upstream callbacks', () => {
  let up: TaskApiUpstream;
  let lossy: TaskApiUpstream;
  let a: TestGateway;
  before(async () => {
    up = await startTaskApiUpstream({ token: 'k', delayMs: 150 });
    lossy = await startTaskApiUpstream({ token: 'k', delayMs: 150, loseCallbacks: true });
    const port = await freePort();
    a = await startGateway({
      config: { port, publicUrl: `http://127.0.0.1:${port}`, relay: { pollTickMs: 20 } },
      services: {
        // A minute between polls: only a callback can finish these quickly.
        'relay/cb': { mode: 'async', channels: [{ name: 'cb', provider: 'task-api', baseUrl: `${up.url}/v1`, apiKey: 'k', model: 'flux/dev', poll: { initialMs: 60_000, maxMs: 60_000 } }] },
        'relay/lossy': { mode: 'async', channels: [{ name: 'lossy', provider: 'task-api', baseUrl: `${lossy.url}/v1`, apiKey: 'k', model: 'flux/dev', poll: { initialMs: 300, maxMs: 300 } }] },
      },
    });
  });
  after(async () => {
    await a.close();
    await up.close();
    await lossy.close();
  });

  test('the upstream gets a signed callback URL on taskgate, and its callback finishes the task at once', async () => {
    const created = await a.call('POST', '/v1/relay/cb', { body: { prompt: 'called back' } });
    assert.equal(created.status, 200, created.text);
    const id = created.json.task_id as string;
    const done = await finishedWithin(a, id, 5000);
    assert.equal(done.response.success, true, JSON.stringify(done.response));
    const sent = up.requests.find((r) => r.route === 'create' && r.headers['idempotency-key'] === id);
    const url = new URL((sent?.body as { callback_url: string }).callback_url);
    assert.equal(url.origin, a.url);
    assert.match(url.pathname, new RegExp(`^/v1/upstream/callbacks/${id}/[A-Za-z0-9_-]{43}$`));
    assert.ok(up.callbacks.some((c) => c.url === url.href && c.status === 200), 'the callback was answered 200');
  });

  test('a lost callback is caught by polling', async () => {
    const created = await a.call('POST', '/v1/relay/lossy', { body: { prompt: 'lost callback' } });
    const done = await finishedWithin(a, created.json.task_id, 5000);
    assert.equal(done.response.success, true);
    assert.ok(lossy.callbacks.every((c) => c.lost));
  });

  test('forged callbacks are refused and change nothing; a replay only polls again', async () => {
    const created = await a.call('POST', '/v1/relay/cb', { body: { prompt: 'forged' } });
    const id = created.json.task_id as string;
    await until('the submit', async () => ((await a.gw.tasks.upstream.get(id))?.ref ? true : undefined));
    const forged = await fetch(`${a.url}/v1/upstream/callbacks/${id}/${'A'.repeat(43)}`, { method: 'POST', body: '{"status":"succeeded"}' });
    assert.equal(forged.status, 404);
    const other = await fetch(`${a.url}/v1/upstream/callbacks/not-a-task/${'A'.repeat(43)}`, { method: 'POST' });
    assert.equal(other.status, 404);
    assert.notEqual((await a.gw.tasks.upstream.get(id))?.nextPollAt, null);
    const task = await a.gw.tasks.get(a.ownerId, id);
    assert.equal(task?.state, 'running', 'nothing changed');
    const done = await finishedWithin(a, id, 5000); // the real callback arrives
    assert.equal(done.response.success, true);
    const real = up.callbacks.find((c) => c.url.includes(id))!.url;
    const replay = await fetch(real, { method: 'POST', body: '{}' });
    assert.equal(replay.status, 404, 'a finished task has no callback any more');
  });

  test('a signed callback is answered with its body read: the upstream keeps its connection open', async () => {
    up.hold = true;
    try {
      const created = await a.call('POST', '/v1/relay/cb', { body: { prompt: 'keep-alive', async: true } });
      const id = created.json.task_id as string;
      await until('the submit', async () => ((await a.gw.tasks.upstream.get(id))?.ref ? true : undefined));
      const url = [...up.tasks.values()].find((t) => t.callbackUrl?.includes(id))!.callbackUrl!;
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const send = () => new Promise<{ status: number; connection: string | undefined; socket: unknown }>((resolve, reject) => {
        const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, socket: req.socket }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ status: 'running', padding: 'x'.repeat(20_000) }));
      });
      const first = await send();
      const second = await send();
      agent.destroy();
      assert.deepEqual([first.status, second.status], [200, 200]);
      assert.notEqual(first.connection, 'close');
      assert.equal(first.socket, second.socket, 'the second callback reused the connection');
    } finally {
      up.hold = false;
      up.release(() => 0);
    }
  });
});
