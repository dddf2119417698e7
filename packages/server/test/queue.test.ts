/** The queue dialect (fal-compatible) over raw HTTP: shapes, positions, URLs, failures, errors, SSE. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GatewayError } from '../src/core/errors.js';
import { queueError } from '../src/dialects/queue/errors.js';
import { startGateway, waitForTask, type Reply, type TestGateway } from './helpers.js';

const SERVICES = {
  'slow/image': { provider: 'demo-image', mode: 'async', concurrency: 1, options: { latencyMs: 600, steps: 3, defaultWidth: 64, defaultHeight: 64 }, aliases: { queue: ['test/slow'] } },
  'late/image': { provider: 'demo-image', mode: 'async', timeoutMs: 100, options: { latencyMs: 2000 }, aliases: { queue: ['test/late/v1'] } },
  'tune/audio': { provider: 'demo-audio', mode: 'async', options: { latencyMs: 20, steps: 1, defaultDurationSec: 0.5 }, aliases: { queue: ['test/tune'] } },
  'clip/video': { provider: 'demo-video', mode: 'async', options: { latencyMs: 20, steps: 1, defaultWidth: 48, defaultHeight: 32, defaultFrames: 3 }, aliases: { queue: ['test/clip/text-to-video'] } },
};

/** Polls the status until `pred` holds (bounded in time and count). */
async function pollStatus(t: TestGateway, app: string, id: string, pred: (r: Reply) => boolean, query = ''): Promise<Reply> {
  for (let i = 0; i < 500; i++) {
    const r = await t.call('GET', `/v1/queue/${app}/requests/${id}/status${query}`);
    assert.equal(r.status, 200, r.text);
    if (pred(r)) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`request ${id} never reached the expected status`);
}
const completed = (r: Reply): boolean => r.json.status === 'COMPLETED';

function assertDetail(r: Reply, status: number, detail: RegExp | string): void {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json), ['detail'], r.text);
  if (typeof detail === 'string') assert.equal(r.json.detail, detail);
  else assert.match(r.json.detail, detail);
}

/** Reads a whole SSE response (bounded) into its parsed `data:` events. */
async function readEvents(res: Response): Promise<Array<Record<string, unknown>>> {
  const text = await res.text();
  return text.split('\n\n').filter((block) => block.startsWith('data: ')).map((block) => JSON.parse(block.slice('data: '.length)));
}

describe('queue dialect', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ services: SERVICES });
  });
  after(() => t.close());

  test('submit → status → result for fal-ai/flux/dev, with URLs under the app (subpath rule)', async () => {
    const r = await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'a red fox', width: 96, height: 80, seed: 7 } });
    assert.equal(r.status, 200, r.text);
    const id = r.json.request_id;
    const base = `${t.url}/v1/queue/fal-ai/flux/requests/${id}`;
    assert.deepEqual(r.json, { status: 'IN_QUEUE', request_id: id, response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel`, queue_position: 0 });
    assert.equal(r.headers.get('x-fal-request-id'), id);

    const done = await pollStatus(t, 'fal-ai/flux', id, completed);
    assert.deepEqual(Object.keys(done.json).sort(), ['cancel_url', 'logs', 'metrics', 'request_id', 'response_url', 'status', 'status_url']);
    assert.equal(done.json.logs, null, 'logs only with ?logs=1');
    assert.ok(done.json.metrics.inference_time > 0 && done.json.metrics.inference_time < 10, 'inference_time in seconds');
    const withLogs = await t.call('GET', `/v1/queue/fal-ai/flux/requests/${id}/status?logs=1`);
    assert.deepEqual(withLogs.json.logs.map((l: { message: string }) => l.message), ['rendering: step 1/3', 'rendering: step 2/3', 'rendering: step 3/3']);
    assert.deepEqual(Object.keys(withLogs.json.logs[0]).sort(), ['level', 'message', 'source', 'timestamp']);
    assert.ok(!Number.isNaN(Date.parse(withLogs.json.logs[0].timestamp)));
    const full = await t.call('GET', `/v1/queue/fal-ai/flux/dev/requests/${id}/status`);
    assert.deepEqual([full.status, full.json.status], [200, 'COMPLETED'], 'polling under the full endpoint works too');

    const res = await t.call('GET', `/v1/queue/fal-ai/flux/requests/${id}`, { token: null, headers: { authorization: `Key ${t.token}` } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('x-fal-request-id'), id);
    assert.equal(res.json.images.length, 1);
    const [image] = res.json.images;
    assert.deepEqual({ ...image, url: undefined }, { url: undefined, width: 96, height: 80, content_type: 'image/png' });
    assert.match(image.url, new RegExp(`^${t.url}/files/`));
    assert.deepEqual([res.json.seed, res.json.prompt, res.json.has_nsfw_concepts], [7, 'a red fox', [false]]);
    assert.equal(res.json.timings.inference, done.json.metrics.inference_time);
    assert.equal((await fetch(image.url)).headers.get('content-type'), 'image/png');
  });

  test('audio and video results are fal File objects', async () => {
    const audio = (await t.call('POST', '/v1/queue/test/tune', { body: { prompt: 'la la', title: 'Song' } })).json.request_id;
    const video = (await t.call('POST', '/v1/queue/test/clip/text-to-video', { body: { prompt: 'waves' } })).json.request_id;
    await pollStatus(t, 'test/tune', audio, completed);
    await pollStatus(t, 'test/clip', video, completed);
    const a = (await t.call('GET', `/v1/queue/test/tune/requests/${audio}`)).json;
    assert.deepEqual(Object.keys(a.audio).sort(), ['content_type', 'file_name', 'file_size', 'url']);
    assert.deepEqual([a.audio.content_type, a.audio.file_name, a.title, a.images], ['audio/wav', 'audio.wav', 'Song', undefined]);
    assert.ok(a.audio.file_size > 44);
    const v = (await t.call('GET', `/v1/queue/test/clip/requests/${video}`)).json;
    assert.equal(typeof v.video.url, 'string');
    assert.ok(v.video.file_size > 0);
    assert.equal((await fetch(v.video.url)).status, 200);
  });

  test('queue_position is the real position among queued requests; result answers 202 meanwhile', async () => {
    const submit = async (p: string): Promise<Reply> => t.call('POST', '/v1/queue/test/slow', { body: { prompt: p } });
    const first = (await submit('first')).json.request_id;
    await waitForTask(t.gw, t.ownerId, first, (x) => x.state === 'running');
    const queued = [await submit('second'), await submit('third'), await submit('fourth')];
    assert.deepEqual(queued.map((r) => r.json.queue_position), [0, 1, 2]);
    const ids: string[] = queued.map((r) => r.json.request_id);
    const statuses = await Promise.all(ids.map((id) => t.call('GET', `/v1/queue/test/slow/requests/${id}/status`)));
    assert.deepEqual(statuses.map((s) => [s.json.status, s.json.queue_position]), [['IN_QUEUE', 0], ['IN_QUEUE', 1], ['IN_QUEUE', 2]]);
    const running = await t.call('GET', `/v1/queue/test/slow/requests/${first}/status`);
    assert.equal(running.json.status, 'IN_PROGRESS');
    assert.equal(running.json.queue_position, undefined);

    const early = await t.call('GET', `/v1/queue/test/slow/requests/${ids[1]}`);
    assert.equal(early.status, 202);
    assert.deepEqual([early.json.status, early.json.queue_position, early.json.request_id], ['IN_QUEUE', 1, ids[1]]);
    // Cancelling the second moves the ones behind it up.
    assert.equal((await t.call('PUT', `/v1/queue/test/slow/requests/${ids[0]}/cancel`)).status, 202);
    assert.equal((await t.call('GET', `/v1/queue/test/slow/requests/${ids[2]}/status`)).json.queue_position, 1);
    for (const id of [first, ids[1], ids[2]]) await t.call('PUT', `/v1/queue/test/slow/requests/${id}/cancel`);
  });

  test('cancel: 202 CANCELLATION_REQUESTED, then COMPLETED + error; 400 ALREADY_COMPLETED; 404 NOT_FOUND', async () => {
    const blocker = (await t.call('POST', '/v1/queue/test/slow', { body: { prompt: 'blocker' } })).json.request_id;
    const id = (await t.call('POST', '/v1/queue/test/slow', { body: { prompt: 'cancel me' } })).json.request_id;
    const c = await t.call('PUT', `/v1/queue/test/slow/requests/${id}/cancel`, { raw: '' });
    assert.equal(c.status, 202, c.text);
    assert.deepEqual(c.json, { status: 'CANCELLATION_REQUESTED' });
    const s = await t.call('GET', `/v1/queue/test/slow/requests/${id}/status`);
    assert.deepEqual([s.json.status, s.json.error_type, s.json.metrics], ['COMPLETED', 'request_cancelled', { inference_time: null }]);
    assert.equal(typeof s.json.error, 'string');
    const r = await t.call('GET', `/v1/queue/test/slow/requests/${id}`);
    assert.equal(r.status, 409);
    assert.deepEqual(r.json, { detail: s.json.error, error_type: 'request_cancelled' });
    const again = await t.call('PUT', `/v1/queue/test/slow/requests/${id}/cancel`);
    assert.deepEqual([again.status, again.json], [400, { status: 'ALREADY_COMPLETED' }]);
    const missing = await t.call('PUT', '/v1/queue/test/slow/requests/nope/cancel');
    assert.deepEqual([missing.status, missing.json], [404, { status: 'NOT_FOUND', detail: 'Request not found' }]);
    await t.call('PUT', `/v1/queue/test/slow/requests/${blocker}/cancel`);
  });

  test('a failed request is COMPLETED + error; its result answers an error status with the error body', async () => {
    const id = (await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'a forbidden-demo-word' } })).json.request_id;
    const s = await pollStatus(t, 'fal-ai/flux', id, completed);
    assert.deepEqual([s.json.error, s.json.error_type], ['The prompt was rejected by content moderation', 'content_policy_violation']);
    const r = await t.call('GET', `/v1/queue/fal-ai/flux/requests/${id}`);
    assert.equal(r.status, 422);
    assert.deepEqual(r.json, { detail: 'The prompt was rejected by content moderation', error_type: 'content_policy_violation' });
    assert.equal(r.headers.get('x-fal-error-type'), 'content_policy_violation');

    const late = (await t.call('POST', '/v1/queue/test/late/v1', { body: { prompt: 'too slow' } })).json.request_id;
    const ls = await pollStatus(t, 'test/late', late, completed);
    assert.equal(ls.json.error_type, 'request_timeout');
    const lr = await t.call('GET', `/v1/queue/test/late/requests/${late}`);
    assert.deepEqual([lr.status, lr.json.error_type], [504, 'request_timeout']);
  });

  test('status stream: the current status first, one event per change, closes after COMPLETED', async () => {
    const id = (await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'stream me' } })).json.request_id;
    const res = await fetch(`${t.url}/v1/queue/fal-ai/flux/requests/${id}/status/stream?logs=1`, {
      headers: { authorization: `Key ${t.token}` }, signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('x-fal-request-id'), id);
    const events = await readEvents(res);
    const statuses = events.map((e) => e.status);
    assert.ok(['IN_QUEUE', 'IN_PROGRESS'].includes(statuses[0] as string), statuses.join());
    assert.equal(statuses.at(-1), 'COMPLETED');
    assert.equal(statuses.filter((s) => s === 'COMPLETED').length, 1);
    assert.ok(events.length >= 3, `saw ${statuses.join()}`);
    const order = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED'];
    assert.deepEqual([...statuses].sort((a, b) => order.indexOf(a as string) - order.indexOf(b as string)), statuses, 'never goes backwards');
    // Each event carries only new log lines: together they are the task's logs, once each.
    const messages = events.flatMap((e) => (e.logs as Array<{ message: string }>).map((l) => l.message));
    assert.deepEqual(messages, ['rendering: step 1/3', 'rendering: step 2/3', 'rendering: step 3/3']);

    const again = await fetch(`${t.url}/v1/queue/fal-ai/flux/requests/${id}/status/stream`, { headers: { authorization: `Bearer ${t.token}` }, signal: AbortSignal.timeout(5000) });
    const once = await readEvents(again);
    assert.deepEqual([once.length, once[0]?.status, once[0]?.logs], [1, 'COMPLETED', null], 'a finished request: one event, then the stream ends');
  });

  test('URLs honour X-Forwarded-Proto/Host from a trusted proxy, and a configured publicUrl', async () => {
    const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'gw.example.com' };
    const r = await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'proxied' }, headers });
    assert.equal(r.json.status_url, `https://gw.example.com/v1/queue/fal-ai/flux/requests/${r.json.request_id}/status`);
    const s = await t.call('GET', `/v1/queue/fal-ai/flux/requests/${r.json.request_id}/status`, { headers });
    assert.equal(s.json.response_url, `https://gw.example.com/v1/queue/fal-ai/flux/requests/${r.json.request_id}`);

    const p = await startGateway({ config: { publicUrl: 'https://public.example.com/tg/' } });
    try {
      const sub = await p.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'public' }, headers });
      assert.equal(sub.json.cancel_url, `https://public.example.com/tg/v1/queue/fal-ai/flux/requests/${sub.json.request_id}/cancel`);
      await pollStatus(p, 'fal-ai/flux', sub.json.request_id, completed);
      const res = await p.call('GET', `/v1/queue/fal-ai/flux/requests/${sub.json.request_id}`);
      assert.match(res.json.images[0].url, /^https:\/\/public\.example\.com\/tg\/files\//);
    } finally {
      await p.close();
    }
  });

  test('fal_webhook is recorded as the callback URL; a bad one is a 400 {detail}', async () => {
    const hook = 'http://127.0.0.1:9/fal/hook?k=1';
    const r = await t.call('POST', `/v1/queue/fal-ai/flux/dev?fal_webhook=${encodeURIComponent(hook)}`, { body: { prompt: 'hooked' } });
    assert.equal(r.status, 200, r.text);
    const task = await t.gw.tasks.get(t.ownerId, r.json.request_id);
    assert.deepEqual([task?.callbackUrl, task?.dialect, task?.input], [hook, 'queue', { prompt: 'hooked', width: 64, height: 64 }]);
    assertDetail(await t.call('POST', '/v1/queue/fal-ai/flux/dev?fal_webhook=ftp%3A%2F%2Fh%2Fx', { body: { prompt: 'x' } }), 400, /fal_webhook/);
    assertDetail(await t.call('POST', '/v1/queue/fal-ai/flux/dev?fal_webhook=not-a-url', { body: { prompt: 'x' } }), 400, /fal_webhook/);
    assertDetail(await t.call('POST', '/v1/queue/fal-ai/flux/dev?fal_webhook=https://a.b/1&fal_webhook=https://a.b/2', { body: { prompt: 'x' } }), 400, /fal_webhook/);
  });
});

describe('queue dialect: bad input and errors', () => {
  let t: TestGateway;
  let kept: string;
  let stranger: string;
  before(async () => {
    t = await startGateway({ config: { bodyLimit: 2048 } });
    kept = (await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'keep me' } })).json.request_id;
    stranger = (await t.gw.tokens.create('stranger')).token;
  });
  after(async () => {
    // Nothing stored before the bad requests was lost, none of them created a task, and the gateway still serves.
    const s = await pollStatus(t, 'fal-ai/flux', kept, completed);
    assert.equal(s.json.error, undefined);
    const queued = (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 100 })).filter((x) => x.dialect === 'queue');
    assert.deepEqual(queued.map((x) => x.id), [kept]);
    await t.close();
  });

  function assertUnauthorized(r: Reply): void {
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.error.code, 'UNAUTHORIZED');
    assert.equal(typeof r.json.error.message, 'string');
    assert.equal(r.json.request_id, r.headers.get('x-trace-id'));
  }

  test('missing or wrong credentials → 401 {error: {code: UNAUTHORIZED}, request_id} on every route', async () => {
    for (const token of [null, 'wrong-token']) {
      assertUnauthorized(await t.call('POST', '/v1/queue/fal-ai/flux/dev', { token, body: { prompt: 'x' } }));
      assertUnauthorized(await t.call('GET', `/v1/queue/fal-ai/flux/requests/${kept}/status`, { token }));
      assertUnauthorized(await t.call('GET', `/v1/queue/fal-ai/flux/requests/${kept}/status/stream`, { token }));
      assertUnauthorized(await t.call('GET', `/v1/queue/fal-ai/flux/requests/${kept}`, { token }));
      assertUnauthorized(await t.call('PUT', `/v1/queue/fal-ai/flux/requests/${kept}/cancel`, { token }));
    }
    assertUnauthorized(await t.call('GET', `/v1/queue/fal-ai/flux/requests/${kept}`, { token: null, headers: { authorization: 'Key' } }));
    const key = await t.call('GET', `/v1/queue/fal-ai/flux/requests/${kept}/status`, { token: null, headers: { authorization: `Key ${t.token}` } });
    assert.equal(key.status, 200, 'Key <token> is accepted like Bearer <token>');
  });

  test('rate limits and model permissions map to the seed envelopes', () => {
    assert.deepEqual(queueError(new GatewayError('too_many_requests'), 'rid'), {
      status: 429, body: { error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded, please try again later' }, request_id: 'rid' },
    });
    assert.deepEqual(queueError(new GatewayError('token_mismatched'), 'rid'), { status: 403, body: { detail: 'Model not allowed for this user' } });
    assert.deepEqual(queueError(new GatewayError('api_error', 'secret internals'), 'rid'), { status: 500, body: { detail: 'Runtime execution failed' } });
  });

  test('unknown endpoints → 404 App not found: <endpoint>', async () => {
    assertDetail(await t.call('POST', '/v1/queue/not/exists', { body: { prompt: 'x' } }), 404, 'App not found: not/exists');
    assertDetail(await t.call('POST', '/v1/queue/fal-ai/flux/schnell', { body: { prompt: 'x' } }), 404, 'App not found: fal-ai/flux/schnell');
    assertDetail(await t.call('GET', `/v1/queue/not/exists/requests/${kept}/status`), 404, 'App not found: not/exists');
    assertDetail(await t.call('GET', `/v1/queue/fal-ai/flu/requests/${kept}`), 404, 'App not found: fal-ai/flu');
  });

  test('unknown id, another token’s id and another app’s id all answer 404 Request not found, identically', async () => {
    const other = (await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'not fal', async: true } })).json.task_id;
    const cases: Array<[string, string | undefined]> = [['0190f0f0-0000-7000-8000-000000000000', undefined], [kept, stranger], [other, undefined]];
    for (const suffix of ['/status', '', '/status/stream', '/cancel']) {
      const method = suffix === '/cancel' ? 'PUT' : 'GET';
      const replies = await Promise.all(cases.map(([id, token]) => t.call(method, `/v1/queue/fal-ai/flux/requests/${id}${suffix}`, { token })));
      for (const r of replies) {
        assert.equal(r.status, 404, r.text);
        assert.equal(r.json.detail, 'Request not found');
        assert.deepEqual(r.json, replies[0]!.json);
      }
    }
    await t.gw.tasks.cancel(t.ownerId, other);
  });

  test('malformed JSON, non-object bodies, bad fields and oversized bodies → 400 {detail}, never a 500', async () => {
    const submit = (opts: Parameters<TestGateway['call']>[2]): Promise<Reply> => t.call('POST', '/v1/queue/fal-ai/flux/dev', opts);
    assertDetail(await submit({ raw: '{"prompt": "cat",' }), 400, /JSON/);
    assertDetail(await submit({ raw: 'not json' }), 400, /JSON/);
    assertDetail(await submit({ raw: '{"__proto__": {"x": 1}, "prompt": "p"}' }), 400, /JSON|proto/i);
    for (const body of [['prompt'], 'cat', 12, null]) assertDetail(await submit({ body }), 400, /JSON object/);
    assertDetail(await submit({ body: { prompt: 42 } }), 400, /prompt/);
    assertDetail(await submit({ raw: '' }), 400, /prompt/);
    assertDetail(await submit({ body: { prompt: 'x', width: 'wide' } }), 400, /width/);
    assertDetail(await submit({ body: { prompt: 'x'.repeat(4096) } }), 400, /2048 bytes/);
    assertDetail(await submit({ raw: '{"prompt":', headers: { 'content-type': 'text/plain' } }), 400, /JSON/);
  });

  test('paths and methods the dialect does not serve → 404 {detail: "Not Found"}', async () => {
    assertDetail(await t.call('GET', '/v1/queue/fal-ai/flux/dev'), 404, 'Not Found');
    assertDetail(await t.call('GET', `/v1/queue/fal-ai/flux/requests/${kept}/cancel`), 404, 'Not Found');
    assertDetail(await t.call('PUT', `/v1/queue/fal-ai/flux/requests/${kept}/status`), 404, 'Not Found');
    assertDetail(await t.call('DELETE', `/v1/queue/fal-ai/flux/requests/${kept}`), 404, 'Not Found');
    assertDetail(await t.call('GET', '/v1/queue'), 404, 'Not Found');
  });
});
