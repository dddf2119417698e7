/** The Replicate dialect over raw HTTP: create, lifecycle, Prefer: wait, cancel, list, stream, errors. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import { versionId } from '../src/dialects/replicate/models.js';
import { startGateway, waitForTask, type Reply, type TestGateway } from './helpers.js';

const FLUX = 'black-forest-labs/flux-dev';
const SLOW = 'taskgate/slow-image';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const PREDICTION_KEYS = [
  'completed_at', 'created_at', 'data_removed', 'error', 'id', 'input', 'logs', 'model', 'output', 'source', 'started_at',
  'status', 'urls', 'version',
];

const SERVICES = {
  'slow/image': {
    provider: 'demo-image', mode: 'wait', concurrency: 1,
    options: { latencyMs: 600, steps: 4, defaultWidth: 64, defaultHeight: 64 }, aliases: { replicate: [SLOW] },
  },
  'crawl/image': {
    provider: 'demo-image', mode: 'wait', options: { latencyMs: 2500, steps: 2, defaultWidth: 64, defaultHeight: 64 },
    aliases: { replicate: ['taskgate/crawl-image'] },
  },
  'capped/image': {
    provider: 'demo-image', mode: 'wait', waitLimitMs: 150, options: { latencyMs: 500, steps: 2, defaultWidth: 64, defaultHeight: 64 },
    aliases: { replicate: ['taskgate/capped-image'] },
  },
  'clip/video': {
    provider: 'demo-video', mode: 'async', options: { latencyMs: 60, steps: 1, defaultWidth: 48, defaultHeight: 32, defaultFrames: 2 },
    aliases: { replicate: ['taskgate/clip'] },
  },
};

/** Polls GET /v1/predictions/{id} (bounded) until `done` holds; returns every status seen. */
async function poll(t: TestGateway, id: string, done: (r: Reply) => boolean, timeoutMs = 10_000): Promise<{ last: Reply; seen: string[] }> {
  const until = Date.now() + timeoutMs;
  const seen: string[] = [];
  for (;;) {
    const last = await t.call('GET', `/v1/predictions/${id}`);
    assert.equal(last.status, 200, last.text);
    if (seen.at(-1) !== last.json.status) seen.push(last.json.status);
    if (done(last)) return { last, seen };
    assert.ok(Date.now() < until, `prediction ${id} did not get there in time; seen ${seen.join(' → ')}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

interface SseEvent {
  event: string;
  data: string;
}

/** Reads a whole SSE response (the stream closes after `done`); bounded by a timeout. */
async function readSse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; events: SseEvent[] }> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l !== '' && !l.startsWith(':'));
    if (lines.length === 0) continue;
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
    const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
    events.push({ event, data });
  }
  return { status: res.status, type: res.headers.get('content-type'), events };
}

function assertProblem(r: Reply, status: number, title: string): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.json.status, status);
  assert.equal(r.json.title, title);
  assert.equal(typeof r.json.detail, 'string');
}

describe('Replicate dialect', () => {
  let t: TestGateway;
  let other: string;
  before(async () => {
    t = await startGateway({ services: SERVICES });
    other = (await t.gw.tokens.create('other')).token;
  });
  after(() => t.close());

  test('POST /v1/predictions with owner/name answers 201 with a starting prediction in Replicate’s shape', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'a red fox' } } });
    assert.equal(r.status, 201, r.text);
    const p = r.json;
    assert.deepEqual(Object.keys(p).sort(), PREDICTION_KEYS);
    assert.equal(p.status, 'starting');
    assert.equal(p.model, FLUX);
    assert.equal(p.version, versionId(FLUX));
    assert.match(p.version, /^[0-9a-f]{64}$/);
    assert.deepEqual(p.input, { prompt: 'a red fox' }, 'the input is echoed as sent');
    assert.deepEqual([p.output, p.error, p.logs, p.data_removed, p.started_at, p.completed_at], [null, null, '', false, null, null]);
    assert.match(p.created_at, ISO);
    assert.equal(p.urls.get, `${t.url}/v1/predictions/${p.id}`);
    assert.equal(p.urls.cancel, `${t.url}/v1/predictions/${p.id}/cancel`);
    assert.ok(p.urls.stream.startsWith(`${t.url}/v1/predictions/${p.id}/stream?key=`));
    const task = await t.gw.tasks.get(t.ownerId, p.id);
    assert.equal(task?.dialect, 'replicate');
    assert.equal(task?.service, 'flux/dev');
    assert.equal(task?.traceId, r.headers.get('x-trace-id'));
    assert.equal(task?.meta.model, FLUX);
  });

  test('POST /v1/models/{owner}/{name}/predictions, owner/name:version and a bare version id all create', async () => {
    const viaModel = await t.call('POST', `/v1/models/${FLUX}/predictions`, { body: { input: { prompt: 'model route' } } });
    assert.equal(viaModel.status, 201, viaModel.text);
    assert.equal(viaModel.json.model, FLUX);
    // Replicate's own hashes are accepted after owner/name (one version per model here) …
    const pinned = `${FLUX}:${'ab12'.repeat(16)}`;
    const viaPinned = await t.call('POST', '/v1/predictions', { body: { version: pinned, input: { prompt: 'pinned' } } });
    assert.equal(viaPinned.status, 201, viaPinned.text);
    assert.equal(viaPinned.json.model, FLUX);
    // … and a bare version id must be one of ours: the one every prediction shows.
    const viaHash = await t.call('POST', '/v1/predictions', { body: { version: viaModel.json.version, input: { prompt: 'hash' } } });
    assert.equal(viaHash.status, 201, viaHash.text);
    assert.equal(viaHash.json.model, FLUX);
    const slow = await t.call('POST', '/v1/predictions', { body: { version: versionId(SLOW), input: { prompt: 'slow by hash' } } });
    assert.equal(slow.json.model, SLOW);
    assert.equal((await t.gw.tasks.get(t.ownerId, slow.json.id))?.service, 'slow/image');

    const unknownHash = await t.call('POST', '/v1/predictions', { body: { version: 'f'.repeat(64), input: { prompt: 'x' } } });
    assertProblem(unknownHash, 422, 'Invalid version or not permitted');
    assert.equal(unknownHash.json.invalid_fields[0].field, 'version');
    const unknownName = await t.call('POST', '/v1/predictions', { body: { version: 'nobody/nothing', input: { prompt: 'x' } } });
    assertProblem(unknownName, 422, 'Invalid version or not permitted');
    const unknownRoute = await t.call('POST', '/v1/models/nobody/nothing/predictions', { body: { input: { prompt: 'x' } } });
    assertProblem(unknownRoute, 404, 'Not found');
    assert.match(unknownRoute.json.detail, /nobody\/nothing/);
  });

  test('status follows the lifecycle: starting → processing (with logs) → succeeded with a PNG, timestamps and metrics', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'lifecycle', width: 96, height: 80 } } });
    assert.equal(r.json.status, 'starting');
    const { last, seen } = await poll(t, r.json.id, (x) => x.json.status === 'succeeded');
    assert.ok(seen.includes('processing'), `seen ${seen.join(' → ')}`);
    assert.deepEqual(seen.filter((s) => s !== 'starting' && s !== 'processing'), ['succeeded'], 'no other status on the way');
    assert.ok(seen.indexOf('processing') < seen.indexOf('succeeded'));
    const p = last.json;
    assert.deepEqual(Object.keys(p).sort(), [...PREDICTION_KEYS, 'metrics'].sort());
    assert.equal(p.logs.split('\n').length, 4);
    assert.match(p.logs, /^rendering: step 1\/4\n/);
    assert.ok(Date.parse(p.created_at) <= Date.parse(p.started_at) && Date.parse(p.started_at) <= Date.parse(p.completed_at));
    assert.ok(p.metrics.predict_time >= 0.5 && p.metrics.predict_time < 5, `predict_time ${p.metrics.predict_time}`);
    assert.ok(p.metrics.total_time >= p.metrics.predict_time);
    assert.equal(p.error, null);
    assert.equal(p.output.length, 1, 'an image model answers an array of URLs');
    assert.match(p.output[0], new RegExp(`^${t.url}/files/[0-9a-f]{32}/image\\.png$`));
    const png = PNG.sync.read(Buffer.from(await (await fetch(p.output[0])).arrayBuffer()));
    assert.deepEqual([png.width, png.height], [96, 80]);
  });

  test('a single video file is answered as one URL string', async () => {
    const r = await t.call('POST', '/v1/models/taskgate/clip/predictions', { body: { input: { prompt: 'waves' } } });
    const { last } = await poll(t, r.json.id, (x) => x.json.status === 'succeeded');
    assert.equal(typeof last.json.output, 'string');
    const gif = Buffer.from(await (await fetch(last.json.output)).arrayBuffer());
    assert.equal(gif.subarray(0, 6).toString(), 'GIF89a');
  });

  test('Prefer: wait holds the create until the prediction succeeded (201, output inline)', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'waited' } }, headers: { prefer: 'wait=10' } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.status, 'succeeded');
    assert.equal(r.json.output.length, 1);
    assert.ok(r.json.logs.length > 0);
    const img = await fetch(r.json.output[0]);
    assert.equal(img.headers.get('content-type'), 'image/png');
    // Bare `wait` and other preferences in the same header work too; N above 60 is capped, not refused.
    for (const prefer of ['wait', 'respond-async, wait=120', 'wait=5; foo=bar']) {
      const again = await t.call('POST', `/v1/models/${FLUX}/predictions`, { body: { input: { prompt: prefer } }, headers: { prefer } });
      assert.equal(again.json.status, 'succeeded', prefer);
    }
  });

  test('Prefer: wait=N that runs out answers starting (202) — never processing — and keeps the prediction', async () => {
    const started = Date.now();
    const r = await t.call('POST', '/v1/models/taskgate/crawl-image/predictions', { body: { input: { prompt: 'too slow' } }, headers: { prefer: 'wait=1' } });
    const elapsed = Date.now() - started;
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.status, 'starting');
    assert.ok(elapsed >= 900 && elapsed < 2400, `held ${elapsed} ms for wait=1`);
    const task = await t.gw.tasks.get(t.ownerId, r.json.id);
    assert.equal(task?.state, 'running', 'it was running when the wait ended, yet the answer says starting');
    assert.equal((await t.call('GET', `/v1/predictions/${r.json.id}`)).json.status, 'processing');
    await t.call('POST', `/v1/predictions/${r.json.id}/cancel`);
  });

  test('the service’s wait limit caps Prefer: wait; an async service never holds the create', async () => {
    const capped = await t.call('POST', '/v1/models/taskgate/capped-image/predictions', { body: { input: { prompt: 'capped' } }, headers: { prefer: 'wait=60' } });
    assert.equal(capped.status, 202);
    assert.equal(capped.json.status, 'starting');
    const { last } = await poll(t, capped.json.id, (x) => x.json.status === 'succeeded');
    assert.equal(last.json.output.length, 1, 'the prediction went on after the answer');

    const started = Date.now();
    const clip = await t.call('POST', '/v1/models/taskgate/clip/predictions', { body: { input: { prompt: 'async' } }, headers: { prefer: 'wait' } });
    assert.equal(clip.status, 202);
    assert.equal(clip.json.status, 'starting');
    assert.ok(Date.now() - started < 1000);
  });

  test('a bad Prefer: wait value is a 422 naming the header, and nothing is created', async () => {
    const before = (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length;
    for (const prefer of ['wait=0', 'wait=soon', 'wait=-3', 'wait=']) {
      const r = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'x' } }, headers: { prefer } });
      assertProblem(r, 422, 'Input validation failed');
      assert.equal(r.json.invalid_fields[0].field, 'Prefer', prefer);
    }
    assert.equal((await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length, before);
  });

  test('cancel: a running prediction ends canceled and stays so; a queued one never starts; a finished one is returned unchanged', async () => {
    const running = (await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'cancel me' } } })).json;
    const queued = (await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'wait my turn' } } })).json;
    await waitForTask(t.gw, t.ownerId, running.id, (x) => x.state === 'running' && (x.progress ?? 0) > 0);
    assert.equal((await t.call('GET', `/v1/predictions/${queued.id}`)).json.status, 'starting', 'concurrency 1: the second waits');

    const q = await t.call('POST', `/v1/predictions/${queued.id}/cancel`);
    assert.equal(q.json.status, 'canceled');
    assert.equal(q.json.started_at, null);
    assert.equal(q.json.metrics.predict_time, 0);
    const c = await t.call('POST', `/v1/predictions/${running.id}/cancel`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.status, 'canceled');
    assert.deepEqual([c.json.output, c.json.error], [null, null]);
    assert.match(c.json.completed_at, ISO);
    assert.ok(c.json.logs.length > 0, 'the logs so far are kept');

    await new Promise((res) => setTimeout(res, 700)); // past the whole provider latency
    const later = await t.call('GET', `/v1/predictions/${running.id}`);
    assert.deepEqual([later.json.status, later.json.output], ['canceled', null], 'a late result never overwrites a cancel');
    assert.equal((await t.call('GET', `/v1/predictions/${queued.id}`)).json.started_at, null);
    const again = await t.call('POST', `/v1/predictions/${running.id}/cancel`);
    assert.deepEqual(again.json, later.json, 'cancelling a canceled prediction changes nothing');

    const done = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'finished' } }, headers: { prefer: 'wait' } });
    const seen = await t.call('GET', `/v1/predictions/${done.json.id}`);
    const late = await t.call('POST', `/v1/predictions/${done.json.id}/cancel`);
    assert.equal(late.status, 200);
    assert.deepEqual(late.json, seen.json, 'a finished prediction is returned unchanged');
    assert.equal(late.json.status, 'succeeded');
  });

  test('webhook becomes the task’s callback URL and webhook_events_filter is kept in its meta', async () => {
    const webhook = 'http://127.0.0.1:9/hooks/replicate?secret=1';
    const r = await t.call('POST', '/v1/predictions', {
      body: { version: FLUX, input: { prompt: 'hooked' }, webhook, webhook_events_filter: ['completed', 'start', 'start'] },
    });
    assert.equal(r.status, 201, r.text);
    const task = await t.gw.tasks.get(t.ownerId, r.json.id);
    assert.equal(task?.callbackUrl, webhook);
    assert.deepEqual(task?.meta.webhook_events_filter, ['start', 'completed']);
    assert.deepEqual(task?.input.webhook, undefined, 'webhook fields are not provider input');
    assert.deepEqual(r.json.input, { prompt: 'hooked' });

    const plain = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'no hook' } } });
    const untouched = await t.gw.tasks.get(t.ownerId, plain.json.id);
    assert.equal(untouched?.callbackUrl, null);
    assert.equal(untouched?.meta.webhook_events_filter, undefined, 'no filter given: the default (all events)');

    const before = (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length;
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ webhook: 'ftp://example.com/x' }, 'webhook'],
      [{ webhook: 'not a url' }, 'webhook'],
      [{ webhook: 42 }, 'webhook'],
      [{ webhook, webhook_events_filter: ['finished'] }, 'webhook_events_filter'],
      [{ webhook, webhook_events_filter: 'completed' }, 'webhook_events_filter'],
    ];
    for (const [extra, field] of bad) {
      const x = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'x' }, ...extra } });
      assertProblem(x, 422, 'Input validation failed');
      assert.deepEqual(x.json.invalid_fields.map((f: { field: string }) => f.field), [field], JSON.stringify(extra));
    }
    assert.equal((await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length, before, 'nothing stored');
  });

  test('stream: SSE logs, output and done, by capability URL (no token) or with the owner’s token', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'streamed' } } });
    const s = await readSse(r.json.urls.stream);
    assert.equal(s.status, 200);
    assert.match(s.type ?? '', /^text\/event-stream/);
    const names = s.events.map((e) => e.event);
    assert.deepEqual(names, ['logs', 'logs', 'logs', 'logs', 'output', 'done']);
    assert.equal(s.events[0]?.data, 'rendering: step 1/4');
    const done = await t.call('GET', `/v1/predictions/${r.json.id}`);
    assert.equal(s.events[4]?.data, done.json.output[0]);
    assert.equal(s.events[5]?.data, '{}');

    // Finished already: the whole story at once. The owner's token works without the key.
    const replay = await readSse(`${t.url}/v1/predictions/${r.json.id}/stream`, { authorization: `Bearer ${t.token}` });
    assert.deepEqual(replay.events, s.events);

    assert.ok(!r.json.urls.stream.includes(t.ownerId), 'the capability URL does not reveal the owner');
    const wrongKey = r.json.urls.stream.replace(/key=[^&]+$/, 'key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    const denied = await t.call('GET', new URL(wrongKey).pathname + new URL(wrongKey).search, { token: null });
    assertProblem(denied, 404, 'Not found');
    assertProblem(await t.call('GET', `/v1/predictions/${r.json.id}/stream`, { token: null }), 401, 'Unauthenticated');
    assertProblem(await t.call('GET', `/v1/predictions/${r.json.id}/stream`, { token: other }), 404, 'Not found');
  });

  test('stream and status of failed and canceled predictions', async () => {
    const failed = await t.call('POST', '/v1/predictions', {
      body: { version: FLUX, input: { prompt: 'a forbidden-demo-word' } }, headers: { prefer: 'wait' },
    });
    assert.equal(failed.status, 201);
    assert.equal(failed.json.status, 'failed');
    assert.equal(failed.json.error, 'The prompt was rejected by content moderation');
    assert.equal(failed.json.output, null);
    const fs = await readSse(failed.json.urls.stream);
    assert.deepEqual(fs.events.slice(-2), [
      { event: 'error', data: JSON.stringify({ detail: failed.json.error }) },
      { event: 'done', data: JSON.stringify({ reason: 'error' }) },
    ]);

    const live = await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'cancel while streaming' } } });
    const reading = readSse(live.json.urls.stream);
    await waitForTask(t.gw, t.ownerId, live.json.id, (x) => x.state === 'running');
    await t.call('POST', `/v1/predictions/${live.json.id}/cancel`);
    const cs = await reading;
    assert.deepEqual(cs.events.at(-1), { event: 'done', data: JSON.stringify({ reason: 'canceled' }) });
    assert.ok(!cs.events.some((e) => e.event === 'output'));
  });

  test('list: 100 per page newest first, cursor URLs, only this token’s predictions of exposed models', async () => {
    const q = await startGateway({ config: { dispatch: { enabled: false } } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 103; i++) {
        const r = await q.call('POST', `/v1/models/${FLUX}/predictions`, { body: { input: { prompt: `p${i}` } } });
        assert.equal(r.status, 201);
        ids.push(r.json.id);
      }
      // The same service through the task API is a prediction too; Midjourney (no Replicate model) is not.
      const viaTaskApi = (await q.call('POST', '/v1/flux/dev', { body: { prompt: 'task api', async: true } })).json.task_id;
      ids.push(viaTaskApi);
      await q.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'not a prediction', async: true } });
      const { token: stranger } = await q.gw.tokens.create('stranger');
      await q.call('POST', `/v1/models/${FLUX}/predictions`, { body: { input: { prompt: 'someone else' } }, token: stranger });

      const first = await q.call('GET', '/v1/predictions');
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(Object.keys(first.json).sort(), ['next', 'previous', 'results']);
      assert.equal(first.json.previous, null);
      assert.equal(first.json.results.length, 100);
      assert.match(first.json.next, new RegExp(`^${q.url}/v1/predictions\\?cursor=`));
      const p0 = first.json.results[0];
      assert.equal(p0.id, viaTaskApi);
      assert.deepEqual([p0.model, p0.status, p0.logs], [FLUX, 'starting', undefined], 'list items carry no logs, like Replicate’s');
      assert.deepEqual(p0.input, { prompt: 'task api', width: 64, height: 64 }, 'a task of another dialect shows its provider input');
      assert.equal(p0.urls.stream, undefined, 'no stream key: not created here');
      const second = await q.call('GET', new URL(first.json.next).pathname + new URL(first.json.next).search);
      assert.equal(second.json.results.length, 4);
      assert.equal(second.json.next, null);
      const listed = [...first.json.results, ...second.json.results].map((p: { id: string }) => p.id);
      assert.deepEqual(listed, [...ids].reverse(), 'every prediction once, newest first');

      const theirs = await q.call('GET', '/v1/predictions', { token: stranger });
      assert.equal(theirs.json.results.length, 1);
      assertProblem(await q.call('GET', '/v1/predictions?cursor=not%20an%20id'), 400, 'Bad request');
    } finally {
      await q.close();
    }
  });

  test('errors: 401 without or with a wrong token; unknown, foreign and non-prediction ids are the same 404', async () => {
    const mine = (await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'mine' } } })).json.id;
    const mj = (await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'not a prediction', async: true } })).json.task_id;
    for (const [method, path] of [['GET', '/v1/predictions'], ['GET', `/v1/predictions/${mine}`], ['POST', `/v1/predictions/${mine}/cancel`], ['POST', '/v1/predictions']]) {
      const none = await t.call(method!, path!, { token: null, body: method === 'POST' ? {} : undefined });
      assertProblem(none, 401, 'Unauthenticated');
      const wrong = await t.call(method!, path!, { token: 'tg_wrong', raw: method === 'POST' ? '{not json' : undefined });
      assertProblem(wrong, 401, 'Unauthenticated');
      assert.equal(wrong.json.detail, 'You did not pass a valid authentication token', 'auth is checked before the body is read');
    }
    const answers: Reply[] = [];
    for (const [id, token] of [['01890000-0000-7000-8000-000000000000', undefined], [mine, other], [mj, undefined]] as const) {
      answers.push(await t.call('GET', `/v1/predictions/${id}`, { token }));
      answers.push(await t.call('POST', `/v1/predictions/${id}/cancel`, { token }));
    }
    for (const a of answers) assertProblem(a, 404, 'Not found');
    assert.equal(new Set(answers.map((a) => a.text)).size, 1, 'all six 404 bodies are identical');
    assert.equal((await t.gw.tasks.get(t.ownerId, mine))?.state !== 'cancelled', true, 'the foreign cancel did nothing');
  });

  test('errors: malformed JSON 400, invalid input 422 naming the field, never a 500', async () => {
    assertProblem(await t.call('POST', '/v1/predictions', { raw: '{"version": ' }), 400, 'Bad request');
    assertProblem(await t.call('POST', '/v1/predictions', { raw: '' }), 400, 'Bad request');
    assertProblem(await t.call('POST', '/v1/predictions', { raw: '[1,2]' }), 400, 'Bad request');
    assertProblem(await t.call('POST', '/v1/predictions', { raw: 'x'.repeat(1_100_000) }), 400, 'Bad request');

    const cases: Array<[unknown, string[]]> = [
      [{ version: FLUX, input: { prompt: '' } }, ['input.prompt']],
      [{ version: FLUX, input: { prompt: 'x', width: 'wide' } }, ['input.width']],
      [{ version: FLUX }, ['input']],
      [{ version: FLUX, input: ['prompt'] }, ['input']],
      [{ input: { prompt: 'x' } }, ['version']],
      [{ version: 7, input: { prompt: 'x' } }, ['version']],
      [{ version: FLUX, inptu: { prompt: 'x' } }, ['inptu', 'input']],
      [{ version: FLUX, input: { prompt: 'x' }, stream: 'yes' }, ['stream']],
    ];
    for (const [body, fields] of cases) {
      const r = await t.call('POST', '/v1/predictions', { body });
      assertProblem(r, 422, 'Input validation failed');
      assert.deepEqual(r.json.invalid_fields.map((f: { field: string }) => f.field), fields, JSON.stringify(body));
      for (const f of fields) assert.ok(r.json.detail.includes(`- ${f}: `), r.json.detail);
    }
    const viaModel = await t.call('POST', `/v1/models/${FLUX}/predictions`, { body: { version: FLUX, input: { prompt: 'x' } } });
    assert.deepEqual(viaModel.json.invalid_fields.map((f: { field: string }) => f.field), ['version'], 'the model route takes no version');

    // Anything else odd: a problem body and a 4xx, never a 500.
    const odd: Array<[string, string, { raw?: string; headers?: Record<string, string> }]> = [
      ['POST', '/v1/predictions', { raw: 'null' }],
      ['POST', '/v1/predictions', { raw: '"text"' }],
      ['POST', '/v1/predictions', { raw: '{"version":"a/b/c","input":{}}' }],
      ['POST', '/v1/predictions', { raw: '{"version":"","input":{}}' }],
      ['POST', '/v1/predictions', { raw: '{"__proto__":{"x":1},"version":"a/b","input":{}}' }],
      ['POST', `/v1/models/${FLUX}/predictions`, { raw: '{"input":{"prompt":"x","seed":-1}}' }],
      ['POST', `/v1/models/${FLUX}/predictions`, { raw: '{"input":{"prompt":"x"}}', headers: { prefer: 'wait=abc' } }],
      ['GET', '/v1/predictions?cursor=%00', {}],
      ['GET', '/v1/predictions?cursor=a&cursor=b', {}],
      ['GET', `/v1/predictions/${'x'.repeat(100)}`, {}],
      ['POST', `/v1/predictions/${'%20'.repeat(10)}/cancel`, { raw: '{}' }],
      ['GET', '/v1/predictions/x/stream?key=.', {}],
    ];
    for (const [method, path, opts] of odd) {
      const r = await t.call(method, path, opts);
      assert.ok(r.status >= 400 && r.status < 500, `${method} ${path} ${opts.raw ?? ''} → ${r.status} ${r.text}`);
      assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/, `${method} ${path}`);
      assert.equal(r.json.status, r.status);
    }
    // text/plain JSON bodies are read like JSON (as everywhere in the gateway).
    const plain = await t.call('POST', '/v1/predictions', { raw: JSON.stringify({ version: FLUX, input: { prompt: 'plain' } }), headers: { 'content-type': 'text/plain' } });
    assert.equal(plain.status, 201);
  });
});
