/**
 * Several gateway nodes on one Postgres and one Redis, as real processes: what one node does,
 * the other sees at once, and a node killed with kill -9 loses nothing (the other finishes its
 * local and upstream tasks once their leases expire): no task lost, no double charge, no second
 * upstream submit, every webhook delivered.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, removeDir, tempDir, until, type Reply } from './helpers.js';
import { freshDatabase, postgresUnavailable } from './pg.js';
import { startServer, type ServerProcess } from './process.js';
import { DEAD_REDIS_URL, REDIS_URL, redisUnavailable } from './redis.js';
import { startTaskApiUpstream, type TaskApiUpstream } from './fixtures/task-api-upstream.js';

const skip = (await postgresUnavailable()) ?? (await redisUnavailable()) ?? false;
const ADMIN = 'tga_multi_node_admin_token';
const LOCAL = 'demo/slow';
const RELAYED = 'relay/flux';

interface Receiver {
  url: string;
  /** webhook-id → bodies received under it. */
  byTask: Map<string, Array<{ id: string; status: string }>>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const byTask = new Map<string, Array<{ id: string; status: string }>>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const json = JSON.parse(body) as { id?: string; task_id?: string; status?: string; finished_at?: unknown };
      const taskId = String(json.task_id ?? json.id);
      const list = byTask.get(taskId) ?? [];
      list.push({ id: String(req.headers['webhook-id']), status: String(json.status ?? (json.finished_at ? 'finished' : '')) });
      byTask.set(taskId, list);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    byTask,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('two gateway nodes on one Postgres and one Redis', { skip, timeout: 180_000 }, () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let up: TaskApiUpstream;
  let hooks: Receiver;
  let env: (name: string, extra?: Record<string, unknown>) => Record<string, string>;
  const nodes: ServerProcess[] = [];
  const start = async (name: string, extra?: Record<string, unknown>): Promise<ServerProcess> => {
    const node = await startServer(env(name, extra));
    nodes.push(node);
    return node;
  };

  before(async () => {
    dir = tempDir();
    db = await freshDatabase();
    up = await startTaskApiUpstream({ token: 'up-key', delayMs: 3000 });
    hooks = await startReceiver();
    const files = join(dir, 'files');
    mkdirSync(files);
    env = (name, extra = {}) => {
      const config = join(dir, `${name}.json`);
      writeFileSync(config, JSON.stringify({
        dispatch: { leaseMs: 1500, pollMs: 100 },
        relay: { pollTickMs: 50, pollLeaseMs: 1500 },
        webhooks: { enabled: true, allowPrivateCallbacks: true, retrySchedule: [0, 0.2, 0.5], timeoutMs: 2000, leaseMs: 3000, pollMs: 100 },
        services: {
          [LOCAL]: {
            provider: 'demo-image', mode: 'async', price: 2, timeoutMs: 60_000, aliases: { queue: ['demo/slow'] },
            options: { latencyMs: 2500, steps: 5, defaultWidth: 64, defaultHeight: 64 },
          },
          [RELAYED]: {
            mode: 'async', price: 3, timeoutMs: 60_000,
            channels: [{ name: 'main', provider: 'task-api', baseUrl: `${up.url}/v1`, apiKeyEnv: 'UP_KEY', model: 'flux/dev', poll: { initialMs: 300, maxMs: 600 } }],
          },
        },
        ...extra,
      }));
      return {
        TASKGATE_DATA: join(dir, name), TASKGATE_CONFIG: config, TASKGATE_ADMIN_TOKEN: ADMIN, UP_KEY: 'up-key',
        TASKGATE_DATABASE_URL: db.url, TASKGATE_REDIS_URL: REDIS_URL, TASKGATE_FILES_DIR: files,
      };
    };
  });

  after(async () => {
    for (const n of nodes) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await hooks?.close();
    await up?.close();
    await db?.drop();
    removeDir(dir);
  });

  async function account(url: string, credits: number): Promise<{ token: string; accountId: string }> {
    const created = await call(url, 'POST', '/admin/tokens', ADMIN, { body: { name: 'multi' } });
    assert.equal(created.status, 201, created.text);
    const topup = await call(url, 'POST', `/admin/accounts/${created.json.account_id}/topup`, ADMIN, { body: { amount: credits, reason: 'test' } });
    assert.equal(topup.status, 200, topup.text);
    return { token: created.json.token, accountId: created.json.account_id };
  }

  test('create on A, poll, read and cancel on B; an event stream on A sees B finish the task', async () => {
    // A answers the API only; B does the work, so whatever A's stream sees, B did.
    const a = await start('api-only', { dispatch: { enabled: false } });
    const b = await start('worker');
    try {
      const { token } = await account(a.url, 100);
      const created = await call(a.url, 'POST', `/v1/${LOCAL}`, token, { body: { prompt: 'made on A' } });
      assert.equal(created.status, 200, created.text);
      const id = created.json.task_id as string;
      // The queue dialect's SSE status stream on A, until COMPLETED.
      const stream = fetch(`${a.url}/v1/queue/demo/slow/requests/${id}/status/stream`, { headers: { authorization: `Key ${token}` } }).then((r) => r.text());
      const seenOnB = await call(b.url, 'POST', '/v1/demo/tasks', token, { body: { action: 'retrieve', id } });
      assert.equal(seenOnB.json.id, id);
      // While the feed is live a waiter polls the store only every 15 s: a stream that ends well
      // before that heard of B's finish through Redis.
      const events = await Promise.race([stream, new Promise<string>((_r, no) => setTimeout(() => no(new Error('A never heard the task finish')), 12_000))]);
      assert.match(events, /"status":\s*"COMPLETED"/);
      // B wrote the file into the shared files directory; A serves it.
      const onA = (await call(a.url, 'POST', '/v1/demo/tasks', token, { body: { action: 'retrieve', id } })).json;
      const file = await fetch(String(onA.response.data[0].url));
      assert.equal(file.status, 200);
      assert.deepEqual([...new Uint8Array(await file.arrayBuffer()).subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');

      const second = (await call(a.url, 'POST', `/v1/${LOCAL}`, token, { body: { prompt: 'cancelled on B' } })).json.task_id as string;
      const cancelled = await call(b.url, 'POST', '/v1/demo/tasks', token, { body: { action: 'cancel', id: second } });
      assert.equal(cancelled.status, 200, cancelled.text);
      // A reads the cancel B made as soon as Redis has carried B's announcement (milliseconds).
      const cancelledOnA = await until('A to read the cancel B made', async () => {
        const r = await call(a.url, 'POST', '/v1/demo/tasks', token, { body: { action: 'retrieve', id: second } });
        return r.json?.finished_at !== undefined ? r : undefined;
      }, 5_000, 10);
      assert.equal(cancelledOnA.json.response?.error?.code, 'cancelled', cancelledOnA.text);
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      await Promise.all([a.exited, b.exited]);
    }
  });

  test('a node stopped gracefully hands its running tasks back: the other node runs them at once, no attempt lost', async () => {
    // Leases of a minute: tasks finished well within it were handed back, not taken over after expiry.
    const slow = { dispatch: { leaseMs: 60_000, pollMs: 100 } };
    const b = await start('graceful-b', slow);
    const { token } = await account(b.url, 100);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call(b.url, 'POST', `/v1/${LOCAL}`, token, { body: { prompt: `handed back ${i}` } })).json.task_id);
    const pg = new (await import('pg')).default.Client(db.url);
    await pg.connect();
    try {
      const states = async () => (await pg.query<{ state: string; attempts: number }>('SELECT state, attempts FROM tasks WHERE id = ANY($1)', [ids])).rows;
      await until('B to run them', async () => ((await states()).every((r) => r.state === 'running') ? true : undefined), 10_000);
      const a = await start('graceful-a', slow);
      b.child.kill('SIGTERM');
      assert.equal(await b.exited, 0, 'B exits cleanly');
      await until('A to finish them', async () => ((await states()).every((r) => r.state === 'succeeded') ? true : undefined), 30_000, 200);
      assert.deepEqual((await states()).map((r) => r.attempts), [1, 1, 1], 'the stop on B did not count as an attempt');
      a.child.kill('SIGTERM');
      await a.exited;
    } finally {
      await pg.end();
    }
  });

  test('with Redis unreachable a node starts, says so once, and works on Postgres alone', async () => {
    const node = await startServer({ ...env('no-redis'), TASKGATE_REDIS_URL: DEAD_REDIS_URL });
    nodes.push(node);
    try {
      const { token } = await account(node.url, 10);
      const id = (await call(node.url, 'POST', `/v1/${LOCAL}`, token, { body: { prompt: 'without redis' } })).json.task_id as string;
      const done = await until('the task to finish', async () => {
        const r = await call(node.url, 'POST', '/v1/demo/tasks', token, { body: { action: 'retrieve', id } });
        return r.json?.finished_at !== undefined ? r.json : undefined;
      }, 30_000, 200);
      assert.equal(done.response.success, true);
      const warnings = node.output.filter((l) => l.includes('redis unreachable'));
      assert.equal(warnings.length, 1, node.output.join('\n'));
      assert.ok(!warnings[0]!.includes('password'), 'the Redis URL is logged without credentials');
    } finally {
      node.child.kill('SIGTERM');
      await node.exited;
    }
  });

  test('kill -9 a node with local and upstream tasks running: the other finishes them all', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const { token, accountId } = await account(a.url, 1000);
    const local: string[] = [];
    const relayed: string[] = [];
    // Half created on each node; both nodes claim and submit.
    for (let i = 0; i < 8; i++) {
      const node = i % 2 === 0 ? a : b;
      const l = await call(node.url, 'POST', `/v1/${LOCAL}`, token, { body: { prompt: `local ${i}`, callback_url: hooks.url } });
      const r = await call(node.url, 'POST', `/v1/${RELAYED}`, token, { body: { prompt: `relayed ${i}`, callback_url: hooks.url } });
      assert.equal(l.status, 200, l.text);
      assert.equal(r.status, 200, r.text);
      local.push(l.json.task_id);
      relayed.push(r.json.task_id);
    }
    await until('every relayed task submitted upstream', () => (up.tasks.size >= relayed.length ? true : undefined), 20_000);
    b.child.kill('SIGKILL');
    await b.exited;

    const all = [...local, ...relayed];
    const finished = new Map<string, Reply['json']>();
    await until('every task finished on A', async () => {
      for (const id of all) {
        if (finished.has(id)) continue;
        const vendor = local.includes(id) ? 'demo' : 'relay';
        const r = await call(a.url, 'POST', `/v1/${vendor}/tasks`, token, { body: { action: 'retrieve', id } });
        if (r.json?.finished_at !== undefined) finished.set(id, r.json);
      }
      return finished.size === all.length ? true : undefined;
    }, 60_000, 200);
    for (const [id, t] of finished) assert.equal(t.response?.success, true, `${id}: ${JSON.stringify(t.response)}`);

    // A create B sent just before it died (the upstream made the task, B never stored its id) is
    // sent again by A with the same Idempotency-Key (the task id), and the upstream answers with
    // the task it already made: never a second upstream task.
    assert.equal(up.tasks.size, relayed.length, 'no task was made upstream twice');
    const creates = up.requests.filter((r) => r.route === 'create');
    const keys = creates.map((r) => String(r.headers['idempotency-key']));
    assert.deepEqual(new Set(keys), new Set(relayed), 'every create carries its task id as Idempotency-Key');
    const credits = (await call(a.url, 'GET', `/admin/accounts/${accountId}`, ADMIN)).json;
    assert.deepEqual([credits.used, credits.held, credits.balance], [8 * 2 + 8 * 3, 0, 1000 - 40], 'each task charged exactly once');
    await until('a completed webhook for every task', () => (all.every((id) => (hooks.byTask.get(id) ?? []).length > 0) ? true : undefined), 30_000);
    for (const id of all) {
      const ids = new Set((hooks.byTask.get(id) ?? []).map((d) => d.id));
      assert.equal(ids.size, 1, `${id}: one delivery (retries reuse its webhook-id)`);
    }
    a.child.kill('SIGTERM');
    await a.exited;
  });
});
