/**
 * One task, every dialect: a task created through any dialect is read through every other one by
 * the same token, with the same id and the same result files; other tokens see nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers.js';

type Dialect = 'task-api' | 'apixo' | 'queue' | 'replicate';
const DIALECTS: Dialect[] = ['task-api', 'apixo', 'queue', 'replicate'];

interface Seen {
  id: string;
  done: boolean;
  /** Result file URLs once done. */
  urls: string[];
}

const create: Record<Dialect, (t: TestGateway, prompt: string) => Promise<string>> = {
  'task-api': async (t, prompt) => (await t.call('POST', '/v1/flux/dev', { body: { prompt, async: true } })).json.task_id,
  apixo: async (t, prompt) => (await t.call('POST', '/api/v1/generateTask/flux-dev', { body: { input: { prompt } } })).json.data.taskId,
  queue: async (t, prompt) => (await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt } })).json.request_id,
  replicate: async (t, prompt) => (await t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { body: { input: { prompt } } })).json.id,
};

const read: Record<Dialect, (t: TestGateway, id: string, token?: string) => Promise<Seen | null>> = {
  'task-api': async (t, id, token) => {
    const r = await t.call('POST', '/v1/flux/tasks', { token, body: { action: 'retrieve', id } });
    if (r.status === 404) return null;
    assert.equal(r.status, 200, r.text);
    const done = r.json.finished_at !== undefined;
    return { id: r.json.id, done, urls: done ? r.json.response.data.map((d: { url: string }) => d.url) : [] };
  },
  apixo: async (t, id, token) => {
    const r = await t.call('GET', `/api/v1/statusTask/flux-dev?taskId=${id}`, { token });
    if (r.status === 404) return null;
    assert.equal(r.status, 200, r.text);
    const done = r.json.data.state === 'success';
    return { id: r.json.data.taskId, done, urls: done ? JSON.parse(r.json.data.resultJson).resultUrls : [] };
  },
  queue: async (t, id, token) => {
    const headers = token === undefined ? undefined : { authorization: `Key ${token}` };
    const s = await t.call('GET', `/v1/queue/fal-ai/flux/requests/${id}/status`, { token: headers ? null : undefined, headers });
    if (s.status === 404) return null;
    assert.equal(s.status, 200, s.text);
    const done = s.json.status === 'COMPLETED';
    if (!done) return { id: s.json.request_id, done, urls: [] };
    const r = await t.call('GET', `/v1/queue/fal-ai/flux/requests/${id}`, { token: headers ? null : undefined, headers });
    return { id: s.json.request_id, done, urls: r.json.images.map((i: { url: string }) => i.url) };
  },
  replicate: async (t, id, token) => {
    const r = await t.call('GET', `/v1/predictions/${id}`, { token });
    if (r.status === 404) return null;
    assert.equal(r.status, 200, r.text);
    const done = r.json.status === 'succeeded';
    return { id: r.json.id, done, urls: done ? r.json.output : [] };
  },
};

describe('one task, every dialect', () => {
  let t: TestGateway;
  let stranger: string;
  before(async () => {
    t = await startGateway();
    stranger = (await t.gw.tokens.create('stranger')).token;
  });
  after(() => t.close());

  for (const origin of DIALECTS) {
    test(`a task created through ${origin} is read through every dialect`, async () => {
      const id = await create[origin](t, `made via ${origin}`);
      assert.equal(typeof id, 'string');
      // Every dialect sees it (done or not) under the same id; a stranger sees it nowhere.
      for (const d of DIALECTS) {
        assert.equal((await read[d](t, id))?.id, id, `${d} reads a task made via ${origin}`);
        assert.equal(await read[d](t, id, stranger), null, `${d} hides it from another token`);
      }
      // Once finished, all four report the same result files.
      const until = Date.now() + 10_000;
      while (!(await read['task-api'](t, id))?.done) {
        assert.ok(Date.now() < until, 'task finished in time');
        await new Promise((r) => setTimeout(r, 20));
      }
      const results = await Promise.all(DIALECTS.map((d) => read[d](t, id)));
      for (const [i, r] of results.entries()) {
        assert.equal(r?.done, true, `${DIALECTS[i]} reports it finished`);
        assert.deepEqual(r?.urls, results[0]?.urls, `${DIALECTS[i]} reports the same files`);
      }
      assert.equal(results[0]?.urls.length, 1);
      const png = await fetch(results[0]!.urls[0]!);
      assert.equal(png.headers.get('content-type'), 'image/png');
    });
  }
});
