/** The APIXO dialect end to end over HTTP: submit, status, failures, auth, bad input. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import { parseConfig } from '../src/config/load.js';
import { GatewayError } from '../src/core/errors.js';
import { errorEnvelope, failCode } from '../src/dialects/apixo/render.js';
import { wavDurationSec } from '../src/providers/demo/render-audio.js';
import { startGateway, waitForTask, type Reply, type TestGateway } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FILE_URL = /^http:\/\/127\.0\.0\.1:\d+\/files\/[0-9a-f]{32}\/(image\.png|audio\.wav)\?exp=\d+&kid=[A-Za-z0-9_-]+&sig=[A-Za-z0-9_-]{43}$/;

function assertEnvelope(r: Reply, status: number, error?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json ?? {}).sort(), ['code', 'data', 'message'], r.text);
  assert.equal(r.json.code, status, 'code mirrors the HTTP status');
  assert.equal(typeof r.json.message, 'string');
  if (status !== 200) {
    assert.notEqual(r.json.message, 'success');
    assert.deepEqual(Object.keys(r.json.data), ['error']);
    assert.equal(typeof r.json.data.error, 'string');
    if (error) assert.match(r.json.data.error, error);
  }
}

async function submit(t: TestGateway, model: string, body: unknown): Promise<string> {
  const r = await t.call('POST', `/api/v1/generateTask/${model}`, { body });
  assertEnvelope(r, 200);
  assert.equal(r.json.message, 'success');
  assert.deepEqual(Object.keys(r.json.data), ['taskId']);
  assert.match(r.json.data.taskId, UUID);
  return r.json.data.taskId as string;
}

const status = (t: TestGateway, model: string, id: string, token?: string | null): Promise<Reply> =>
  t.call('GET', `/api/v1/statusTask/${model}?taskId=${encodeURIComponent(id)}`, { token });

/** Polls statusTask until `pred` holds (bounded in time); returns the last `data`. */
async function pollStatus(t: TestGateway, model: string, id: string, pred: (d: Record<string, unknown>) => boolean, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await status(t, model, id);
    assertEnvelope(r, 200);
    if (pred(r.json.data)) return r.json.data;
    if (Date.now() > until) throw new Error(`task ${id} never matched; last: ${r.text}`);
    await new Promise((res) => setTimeout(res, 15));
  }
}
const finished = (d: Record<string, unknown>): boolean => d.state === 'success' || d.state === 'failed';

describe('APIXO dialect', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({
      config: { bodyLimit: 4096 },
      services: {
        'slow/image': { provider: 'demo-image', mode: 'wait', concurrency: 1, options: { latencyMs: 400, steps: 4, defaultWidth: 64, defaultHeight: 64 }, aliases: { apixo: ['slow-image'] } },
        'late/image': { provider: 'demo-image', mode: 'wait', timeoutMs: 100, options: { latencyMs: 2000 }, aliases: { apixo: ['late-image'] } },
      },
    });
  });
  after(() => t.close());

  test('midjourney: submit answers at once; polling reaches success with a downloadable PNG', async () => {
    const before = Date.now();
    const id = await submit(t, 'midjourney', { request_type: 'async', input: { prompt: 'A cat sitting on a table', width: 96, height: 80 } });
    const data = await pollStatus(t, 'midjourney', id, finished);
    assert.deepEqual(Object.keys(data), ['taskId', 'state', 'resultJson', 'costTime', 'createTime', 'completeTime']);
    assert.equal(data.taskId, id);
    assert.equal(data.state, 'success');
    assert.equal(typeof data.resultJson, 'string', 'resultJson is a JSON string');
    const { resultUrls } = JSON.parse(data.resultJson as string);
    assert.equal(resultUrls.length, 1);
    assert.match(resultUrls[0], FILE_URL);
    const createTime = data.createTime as number;
    const completeTime = data.completeTime as number;
    assert.ok(createTime >= before && createTime <= Date.now(), 'createTime is Unix ms');
    assert.ok(completeTime >= createTime);
    assert.equal(data.costTime, completeTime - createTime);
    const img = await fetch(resultUrls[0]);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/png');
    const png = PNG.sync.read(Buffer.from(await img.arrayBuffer()));
    assert.deepEqual([png.width, png.height], [96, 80]);
  });

  test('suno: the result URL is a real WAV of the requested duration', async () => {
    const id = await submit(t, 'suno', { input: { prompt: 'lofi beat', duration: 1.5 } });
    const data = await pollStatus(t, 'suno', id, finished);
    assert.equal(data.state, 'success', JSON.stringify(data));
    const [url] = JSON.parse(data.resultJson as string).resultUrls;
    assert.match(url, FILE_URL);
    const wav = Buffer.from(await (await fetch(url)).arrayBuffer());
    assert.equal(wav.subarray(0, 4).toString(), 'RIFF');
    assert.equal(wavDurationSec(wav), 1.5);
  });

  test('pending and processing are observed; submission never waits for the result', async () => {
    const first = await submit(t, 'slow-image', { input: { prompt: 'occupies the only slot' } });
    const second = await submit(t, 'slow-image', { input: { prompt: 'waits its turn' } });
    const stored = await t.gw.tasks.get(t.ownerId, second);
    assert.equal(stored?.state, 'queued', 'generateTask answered before the task ran');
    const running = await pollStatus(t, 'slow-image', first, (d) => d.state !== 'pending');
    // `progress` (a taskgate extension) joins once the provider has reported some.
    const { progress, ...seen } = running;
    assert.deepEqual(seen, { taskId: first, state: 'processing', createTime: running.createTime });
    assert.ok(progress === undefined || (typeof progress === 'number' && progress >= 0 && progress <= 1));
    const waiting = await status(t, 'slow-image', second);
    assert.deepEqual(waiting.json.data, { taskId: second, state: 'pending', createTime: waiting.json.data.createTime });
    assert.equal(typeof waiting.json.data.createTime, 'number');
    assert.equal((await pollStatus(t, 'slow-image', second, finished)).state, 'success');
  });

  test('moderation failure → failed / CONTENT_VIOLATION with failMsg and times', async () => {
    const id = await submit(t, 'midjourney', { input: { prompt: 'a forbidden-demo-word here' } });
    const data = await pollStatus(t, 'midjourney', id, finished);
    assert.deepEqual(Object.keys(data), ['taskId', 'state', 'failCode', 'failMsg', 'createTime', 'completeTime']);
    assert.equal(data.state, 'failed');
    assert.equal(data.failCode, 'CONTENT_VIOLATION');
    assert.match(data.failMsg as string, /moderation/);
    assert.ok((data.completeTime as number) >= (data.createTime as number));
  });

  test('a task past its service timeout → failed / PROCESSING_TIMEOUT', async () => {
    const id = await submit(t, 'late-image', { input: { prompt: 'never in time' } });
    const data = await pollStatus(t, 'late-image', id, finished);
    assert.equal(data.state, 'failed');
    assert.equal(data.failCode, 'PROCESSING_TIMEOUT');
    assert.equal(typeof data.failMsg, 'string');
  });

  test('a cancelled task → failed / TASK_CANCELLED; a generic failure → GENERATION_FAILED', async () => {
    const busy = await submit(t, 'slow-image', { input: { prompt: 'busy' } });
    const queued = await submit(t, 'slow-image', { input: { prompt: 'to cancel' } });
    const other = await submit(t, 'slow-image', { input: { prompt: 'to fail' } });
    const cancelled = await t.gw.tasks.cancel(t.ownerId, queued);
    assert.equal(cancelled.outcome, 'cancelled');
    const c = (await status(t, 'slow-image', queued)).json.data;
    assert.equal(c.state, 'failed');
    assert.equal(c.failCode, 'TASK_CANCELLED');
    assert.equal(typeof c.failMsg, 'string');
    assert.equal(typeof c.completeTime, 'number');
    assert.equal(c.resultJson, undefined);
    assert.ok(await t.gw.tasks.abandon(other, { code: 'api_error', message: 'upstream exploded' }));
    const g = (await status(t, 'slow-image', other)).json.data;
    assert.deepEqual([g.state, g.failCode, g.failMsg], ['failed', 'GENERATION_FAILED', 'upstream exploded']);
    await pollStatus(t, 'slow-image', busy, finished);
  });

  test('failure codes and error statuses map to APIXO’s catalog', () => {
    assert.equal(failCode('forbidden'), 'CONTENT_VIOLATION');
    assert.equal(failCode('timeout'), 'PROCESSING_TIMEOUT');
    assert.equal(failCode('cancelled'), 'TASK_CANCELLED');
    assert.equal(failCode('api_error'), 'GENERATION_FAILED');
    assert.equal(failCode('something_new'), 'GENERATION_FAILED');
    const shapes = (['bad_request', 'no_token', 'invalid_token', 'forbidden', 'not_found', 'too_many_requests', 'api_error', 'timeout', 'already_completed'] as const)
      .map((code) => errorEnvelope(new GatewayError(code)))
      .map(({ status, body }) => [status, body.code, Object.keys(body.data)]);
    assert.deepEqual(shapes, [
      [400, 400, ['error']], [401, 401, ['error']], [401, 401, ['error']], [403, 403, ['error', 'failCode']], [404, 404, ['error']],
      [429, 429, ['error']], [500, 500, ['error']], [500, 500, ['error']], [400, 400, ['error']],
    ]);
  });

  test('unknown model → 404 on both routes; a model of another dialect is unknown here', async () => {
    const id = await submit(t, 'midjourney', { input: { prompt: 'x' } });
    assertEnvelope(await t.call('POST', '/api/v1/generateTask/nope', { body: { input: { prompt: 'x' } } }), 404, /Model "nope" not found/);
    assertEnvelope(await status(t, 'nope', id), 404, /Model "nope" not found/);
    assertEnvelope(await t.call('POST', '/api/v1/generateTask/producer', { body: { input: { prompt: 'x' } } }), 404, /Model "producer" not found/);
    assertEnvelope(await t.call('POST', '/api/v1/generateTask/fal-ai/flux/dev', { body: { input: { prompt: 'x' } } }), 404);
    assertEnvelope(await t.call('GET', '/api/v1/generateTask/midjourney'), 404, /No API at GET/);
    assertEnvelope(await t.call('GET', '/api/v1/nothing/here'), 404, /No API/);
  });

  test("unknown taskId, another token's task and another model's task answer the same 404", async () => {
    const { token: other } = await t.gw.tokens.create('other');
    const id = await submit(t, 'midjourney', { input: { prompt: 'mine' } });
    const unknownId = '00000000-0000-7000-8000-000000000000';
    const stranger = await status(t, 'midjourney', id, other);
    const unknown = await status(t, 'midjourney', unknownId, other);
    const wrongModel = await status(t, 'suno', id);
    for (const r of [stranger, unknown, wrongModel]) assertEnvelope(r, 404, /not found/);
    assert.deepEqual(JSON.parse(stranger.text.replace(id, 'ID')), JSON.parse(unknown.text.replace(unknownId, 'ID')));
    assert.deepEqual(JSON.parse(wrongModel.text), JSON.parse(stranger.text));
    assertEnvelope(await status(t, 'midjourney', id), 200);
  });

  test('missing or invalid API key → 401 before anything else', async () => {
    const id = await submit(t, 'midjourney', { input: { prompt: 'x' } });
    const body = { input: { prompt: 'x' } };
    assertEnvelope(await t.call('POST', '/api/v1/generateTask/midjourney', { token: null, body }), 401);
    assertEnvelope(await t.call('POST', '/api/v1/generateTask/midjourney', { token: 'tg_wrong', body }), 401);
    assertEnvelope(await t.call('POST', '/api/v1/generateTask/midjourney', { token: null, headers: { authorization: 'Bearer ' }, body }), 401);
    assertEnvelope(await status(t, 'midjourney', id, null), 401);
    assertEnvelope(await status(t, 'midjourney', id, 'tg_wrong'), 401);
    assertEnvelope(await t.call('POST', '/api/v1/generateTask/nope', { token: null, raw: '{bad' }), 401);
    assert.equal(JSON.parse((await status(t, 'midjourney', id, null)).text).message, 'Unauthorized');
  });

  test('bad input → 400 in the APIXO envelope naming the problem; nothing is stored or lost', async () => {
    const kept = await submit(t, 'midjourney', { input: { prompt: 'keep me' } });
    const count = async () => (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length;
    const storedBefore = await count();
    const gen = (opts: Parameters<TestGateway['call']>[2]) => t.call('POST', '/api/v1/generateTask/midjourney', opts);
    assertEnvelope(await gen({ raw: '{"input": {"prompt": "cat"},' }), 400, /JSON/);
    assertEnvelope(await gen({ raw: '' }), 400, /empty/);
    assertEnvelope(await gen({ body: ['input'] }), 400, /object/);
    assertEnvelope(await gen({ body: {} }), 400, /^Missing required field: input$/);
    assertEnvelope(await gen({ body: { prompt: 'x' } }), 400, /^Missing required field: input$/);
    for (const input of ['a cat', ['a cat'], 42, true]) assertEnvelope(await gen({ body: { input } }), 400, /input must be a JSON object/);
    assertEnvelope(await gen({ body: { input: {} } }), 400, /input\.prompt/);
    assertEnvelope(await gen({ body: { input: { prompt: 42 } } }), 400, /input\.prompt/);
    assertEnvelope(await gen({ body: { input: { prompt: 'x', width: 'big' } } }), 400, /input\.width/);
    assertEnvelope(await gen({ body: { input: { prompt: 'x', seed: -1 } } }), 400, /input\.seed/);
    assertEnvelope(await t.call('POST', '/api/v1/generateTask/suno', { body: { input: { duration: 'long' } } }), 400, /input\.duration/);
    assertEnvelope(await gen({ body: { request_type: 'sync', input: { prompt: 'x' } } }), 400, /request_type/);
    assertEnvelope(await gen({ body: { request_type: 1, input: { prompt: 'x' } } }), 400, /request_type/);
    assertEnvelope(await gen({ body: { request_type: 'callback', input: { prompt: 'x' } } }), 400, /callback_url/);
    assertEnvelope(await gen({ body: { request_type: 'async', callback_url: 'https://example.com/cb', input: { prompt: 'x' } } }), 400, /callback_url/);
    for (const cb of [12, 'not a url', 'ftp://example.com/cb', `https://example.com/${'a'.repeat(2100)}`]) {
      assertEnvelope(await gen({ body: { request_type: 'callback', callback_url: cb, input: { prompt: 'x' } } }), 400, /callback_url/);
    }
    assertEnvelope(await gen({ body: { input: { prompt: 'x'.repeat(5000) } } }), 400, /4096 bytes/);
    assertEnvelope(await gen({ raw: '{"input":{"prompt":"x","__proto__":{"polluted":1}}}' }), 400);
    assertEnvelope(await gen({ raw: 'input=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, /JSON/);
    assertEnvelope(await t.call('GET', '/api/v1/statusTask/midjourney'), 400, /taskId/);
    assertEnvelope(await t.call('GET', '/api/v1/statusTask/midjourney?taskId='), 400, /taskId/);
    assertEnvelope(await t.call('GET', `/api/v1/statusTask/midjourney?taskId=${kept}&taskId=${kept}`), 400, /taskId/);
    assert.equal(await count(), storedBefore, 'no bad request stored a task');
    assertEnvelope(await status(t, 'midjourney', kept), 200);
  });

  test('request_type and callback_url are kept with the task; only input is provider input', async () => {
    const cb = 'http://127.0.0.1:9/apixo/callback?k=secret';
    const withCb = await submit(t, 'midjourney', { request_type: 'callback', callback_url: cb, input: { prompt: 'cb' } });
    const implied = await submit(t, 'midjourney', { callback_url: cb, input: { prompt: 'implied' } });
    const plain = await submit(t, 'midjourney', { input: { prompt: 'plain' } });
    const a = await t.gw.tasks.get(t.ownerId, withCb);
    assert.equal(a?.callbackUrl, cb);
    assert.deepEqual(a?.meta, { request_type: 'callback' });
    assert.deepEqual(a?.request, { request_type: 'callback', callback_url: cb, input: { prompt: 'cb' } });
    assert.equal(a?.input.prompt, 'cb');
    assert.deepEqual([a?.input.callback_url, a?.input.request_type, a?.input.input], [undefined, undefined, undefined]);
    assert.equal(a?.dialect, 'apixo');
    const b = await t.gw.tasks.get(t.ownerId, implied);
    assert.deepEqual([b?.callbackUrl, b?.meta.request_type], [cb, 'callback']);
    const c = await t.gw.tasks.get(t.ownerId, plain);
    assert.deepEqual([c?.callbackUrl, c?.meta.request_type], [null, 'async']);
  });

  test('the taskId is the task id every dialect shares (APIXO ⇄ task API, same token)', async () => {
    const viaApixo = await submit(t, 'flux-dev', { input: { prompt: 'shared' } });
    await pollStatus(t, 'flux-dev', viaApixo, finished);
    const r = await t.call('POST', '/v1/flux/tasks', { body: { action: 'retrieve', id: viaApixo } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.response.success, true);
    const created = await t.call('POST', '/v1/flux/dev', { body: { prompt: 'from the task API', async: true } });
    const viaTaskApi = created.json.task_id as string;
    const data = await pollStatus(t, 'flux-dev', viaTaskApi, finished);
    assert.equal(data.state, 'success');
    assert.equal(JSON.parse(data.resultJson as string).resultUrls[0], (await t.call('POST', '/v1/flux/tasks', { body: { action: 'retrieve', id: viaTaskApi } })).json.response.data[0].url);
  });

  test('the trace id of the submission is the task’s trace id', async () => {
    const r = await t.call('POST', '/api/v1/generateTask/midjourney', { body: { input: { prompt: 'trace' } } });
    const task = await waitForTask(t.gw, t.ownerId, r.json.data.taskId, () => true);
    assert.equal(task.traceId, r.headers.get('x-trace-id'));
  });
});

test('the built-in defaults serve midjourney, suno and flux-dev as APIXO models', () => {
  const { services } = parseConfig({});
  assert.deepEqual(services['midjourney/imagine']?.aliases.apixo, ['midjourney']);
  assert.deepEqual(services['suno/audios']?.aliases.apixo, ['suno']);
  assert.deepEqual(services['flux/dev']?.aliases.apixo, ['flux-dev']);
});
