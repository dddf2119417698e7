/**
 * Deeply nested JSON (issue: a 5,000-level body answered 500, a 4,150-level one was stored and
 * then broke every read of it). Bodies deeper than `jsonMaxDepth` are refused at parse time with
 * 400 in each dialect's envelope; a task stored before the limit existed still reads everywhere.
 * Also the fuzz case: random deep and wide bodies on every create route never get a 5xx.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ADMIN_TOKEN, removeDir, startGateway, tempDir, type Reply, type TestGateway } from './helpers.js';

const nested = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
const withDepth = (levels: number, extra = ''): string => `{"prompt":"x","async":true${extra},"d":${nested(levels)}}`;

interface Route {
  name: string;
  path: string;
  /** The create body around the nested value `d`. */
  body: (d: string) => string;
  message: (r: Reply) => string;
  token?: string;
}

const ROUTES: Route[] = [
  { name: 'task API', path: '/v1/flux/dev', body: (d) => `{"prompt":"x","async":true,"d":${d}}`, message: (r) => r.json.error.message },
  { name: 'APIXO', path: '/api/v1/generateTask/flux-dev', body: (d) => `{"input":{"prompt":"x","d":${d}}}`, message: (r) => r.json.data.error },
  { name: 'queue', path: '/v1/queue/fal-ai/flux/dev', body: (d) => `{"prompt":"x","d":${d}}`, message: (r) => r.json.detail },
  { name: 'Replicate', path: '/v1/models/black-forest-labs/flux-dev/predictions', body: (d) => `{"input":{"prompt":"x","d":${d}}}`, message: (r) => r.json.detail },
  { name: 'admin tokens', path: '/admin/tokens', body: (d) => `{"name":"n","d":${d}}`, message: (r) => r.json.error.message, token: ADMIN_TOKEN },
];

describe('JSON nesting limit at parse time', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway();
  });
  after(() => t.close());

  for (const route of ROUTES) {
    test(`${route.name}: 5,000 and 4,150 levels → 400 in the dialect's envelope`, async () => {
      for (const levels of [5000, 4150, 65]) {
        const r = await t.call('POST', route.path, { raw: route.body(nested(levels)), token: route.token });
        assert.equal(r.status, 400, `${levels}: ${r.text}`);
        assert.match(route.message(r), /nested deeper than 64 levels/, r.text);
      }
    });
  }

  test('a body within the limit is accepted, and brackets inside strings do not count', async () => {
    // The body object and 63 levels in its "d" field: exactly the limit of 64.
    const ok = await t.call('POST', '/v1/flux/dev', { raw: withDepth(63, `,"s":"${'['.repeat(500)}"`) });
    assert.equal(ok.status, 200, ok.text);
    const r = await t.call('POST', '/v1/flux/tasks', { body: { action: 'retrieve', id: ok.json.task_id } });
    assert.equal(r.status, 200, r.text);
  });

  test('the limit is configurable', async () => {
    const strict = await startGateway({ config: { jsonMaxDepth: 4 } });
    try {
      assert.equal((await strict.call('POST', '/v1/flux/dev', { raw: withDepth(3) })).status, 200);
      const r = await strict.call('POST', '/v1/flux/dev', { raw: withDepth(4) });
      assert.equal(r.status, 400);
      assert.match(r.json.error.message, /nested deeper than 4 levels/);
    } finally {
      await strict.close();
    }
  });

  test('fuzz: random deep and wide bodies on every create route never get a 5xx (bounded)', async () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const value = (depth: number): string => {
      if (depth <= 0) return ['1', '"s"', 'null', 'true', '"[{"'][rand(5)]!;
      const inner = Array.from({ length: 1 + rand(3) }, () => value(depth - 1 - rand(2)));
      return rand(2) ? `[${inner.join(',')}]` : `{${inner.map((v, i) => `"k${i}":${v}`).join(',')}}`;
    };
    const deadline = Date.now() + 10_000;
    for (let i = 0; i < 120 && Date.now() < deadline; i++) {
      const route = ROUTES[i % ROUTES.length]!;
      const d = rand(4) === 0 ? nested(60 + rand(6000)) : value(1 + rand(12));
      const r = await t.call('POST', route.path, { raw: route.body(d), token: route.token });
      assert.ok(r.status < 500, `${route.name} answered ${r.status}: ${r.text.slice(0, 200)}`);
    }
  });
});

describe('a task stored with a 4,150-level input (before the limit existed)', () => {
  const dataDir = tempDir();
  let t: TestGateway;
  let id: string;
  let predictionId: string;
  before(async () => {
    const first = await startGateway({ dataDir });
    id = (await first.call('POST', '/v1/flux/dev', { body: { prompt: 'x', async: true } })).json.task_id;
    predictionId = (await first.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { body: { input: { prompt: 'y' } } })).json.id;
    const token = first.token;
    await first.close();
    // What today's main let in: write the deep value straight into the stored rows.
    const db = new Database(join(dataDir, 'taskgate.db'));
    const deep = withDepth(4150);
    db.prepare('UPDATE tasks SET request = ?, input = ?').run(deep, deep);
    db.close();
    t = await startGateway({ dataDir });
    // startGateway makes a new test token; read with the one that owns the tasks.
    const call = t.call;
    t.call = (method, path, opts) => call(method, path, { token, ...opts });
  });
  after(async () => {
    await t.close();
    removeDir(dataDir);
  });

  test('task API retrieve and retrieve_batch answer 200 with the deep part clipped', async () => {
    const r = await t.call('POST', '/v1/flux/tasks', { body: { action: 'retrieve', id } });
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /\[nested too deep\]/);
    const batch = await t.call('POST', '/v1/flux/tasks', { body: { action: 'retrieve_batch', ids: [id] } });
    assert.equal(batch.status, 200, batch.text);
    assert.equal(batch.json.count, 1);
  });

  test('Replicate get and the owner\'s prediction list answer 200', async () => {
    const one = await t.call('GET', `/v1/predictions/${predictionId}`);
    assert.equal(one.status, 200, one.text);
    const list = await t.call('GET', '/v1/predictions');
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.results.some((p: { id: string }) => p.id === predictionId));
  });

  test('the task still runs to the end and its result reads', async () => {
    let r: Reply | undefined;
    for (let i = 0; i < 200; i++) {
      r = await t.call('POST', '/v1/flux/tasks', { body: { action: 'retrieve', id } });
      if (r.json?.finished_at !== undefined) break;
      await new Promise((res) => setTimeout(res, 25));
    }
    assert.equal(r?.status, 200, r?.text);
    assert.notEqual(r?.json.finished_at, undefined, r?.text);
  });
});
