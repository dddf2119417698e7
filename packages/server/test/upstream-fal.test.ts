/**
 * The fal queue upstream adapter against its fixture upstream (faults injected per test), the
 * real `@fal-ai/client` against that fixture, and the adapter against a real taskgate (its queue
 * dialect) as the upstream. Everything on 127.0.0.1, every test bounded in time.
 */
import { createFalClient } from '@fal-ai/client';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable, type ChannelSettings, type UpstreamRef } from '../src/core/upstream.js';
import { createFalAdapter } from '../src/providers/upstream/fal/adapter.js';
import { startFalUpstream, type FalUpstream } from './fixtures/fal-upstream.js';
import { wait } from './fixtures/upstream-base.js';
import { closedPortUrl, download, newCall, pollUntilDone, thrown } from './fixtures/upstream-kit.js';
import { startGateway, until, type TestGateway } from './helpers.js';

const T = { timeout: 20_000 };
const FLUX = 'fal-ai/flux/dev';
const settings = (base: string, over: Partial<ChannelSettings> = {}): ChannelSettings => ({
  name: 'fal-main', baseUrl: base, apiKey: 'fixture-key', model: FLUX, requestTimeoutMs: 2000, ...over,
});
let n = 0;
const submitReq = (prompt = 'a cat', callbackUrl: string | null = null) => ({ idempotencyKey: `task-${++n}`, input: { prompt }, callbackUrl });

describe('fal adapter against the fixture upstream', () => {
  let up: FalUpstream;
  before(async () => {
    up = await startFalUpstream();
  });
  after(() => up.close());
  const reset = (): void => {
    up.faults = [];
    up.options.delayMs = 60;
    up.options.resultTtlMs = null;
    up.resultShape = 'images';
    up.statusErrorTypes = true;
  };

  test('submit → IN_QUEUE → IN_PROGRESS (progress from logs) → COMPLETED: outputs from the result', T, async () => {
    reset();
    up.options.delayMs = 2000; // queued for 1 s, then running until 2 s
    const adapter = createFalAdapter(settings(up.base));
    assert.deepEqual([adapter.protocol, adapter.recovery, adapter.batchSize, adapter.lookup], ['fal', 'none', 1, undefined]);
    const ref = await adapter.submit(submitReq('a red fox'), newCall());
    const sent = up.requests.at(-1)!;
    assert.deepEqual([sent.method, sent.path, sent.headers.authorization, sent.body], ['POST', `/${FLUX}`, 'Key fixture-key', { prompt: 'a red fox' }]);
    assert.equal(sent.query.get('fal_webhook'), null);
    const app = `${up.url}/fal-ai/flux/requests/${ref.id}`; // the subpath is dropped
    assert.deepEqual(ref.urls, { status: `${app}/status`, response: app, cancel: `${app}/cancel` });
    assert.deepEqual(ref.data, { endpoint: FLUX });

    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'queued', raw: 'IN_QUEUE', progress: null });
    assert.deepEqual([up.requests.at(-1)!.path, up.requests.at(-1)!.query.get('logs')], [`/fal-ai/flux/requests/${ref.id}/status`, '1']);
    await wait(1400);
    const running = (await adapter.poll([ref], newCall())).get(ref.id);
    assert.equal(running?.state, 'running');
    assert.ok(running?.state === 'running' && running.progress !== null && running.progress > 0 && running.progress < 1, JSON.stringify(running));
    const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
    assert.deepEqual(done, {
      state: 'succeeded', raw: 'COMPLETED', outputs: [{ url: `${up.url}/files/${ref.id}/0.png`, contentType: 'image/png' }], data: { seed: 42, prompt: 'a red fox' },
    });
    assert.equal(up.requests.at(-1)!.path, `/fal-ai/flux/requests/${ref.id}`, 'the result was fetched');
    assert.equal((await download(`${up.url}/files/${ref.id}/0.png`)).status, 200);

    await adapter.submit(submitReq('called back', 'http://127.0.0.1:1/cb?t=1'), newCall());
    assert.equal(up.requests.at(-1)!.query.get('fal_webhook'), 'http://127.0.0.1:1/cb?t=1');
  });

  test('video and audio_file results: their File URLs, names and types', T, async () => {
    reset();
    const adapter = createFalAdapter(settings(up.base, { model: 'fal-ai/some-video/v2/text-to-video' }));
    for (const [shape, ext, type] of [['video', 'mp4', 'video/mp4'], ['audio_file', 'mp3', 'audio/mpeg']] as const) {
      up.resultShape = shape;
      const ref = await adapter.submit(submitReq(), newCall());
      assert.ok(ref.urls.status?.startsWith(`${up.url}/fal-ai/some-video/requests/`));
      const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
      assert.deepEqual(done?.state === 'succeeded' && done.outputs, [{ url: `${up.url}/files/${ref.id}/0.${ext}`, contentType: type, name: `output.${ext}` }]);
    }
  });

  test('failed requests map by error type, from the status or (without one) from the result', T, async () => {
    reset();
    const adapter = createFalAdapter(settings(up.base));
    const cases = [
      ['fixture-fail', 'api_error', 'The fixture failed the request'],
      ['fixture-timeout', 'timeout', 'Request timed out'],
      ['fixture-flagged', 'forbidden', 'The content was flagged by a content checker.'],
    ] as const;
    for (const typed of [true, false]) {
      up.statusErrorTypes = typed;
      for (const [prompt, code, message] of cases) {
        const ref = await adapter.submit(submitReq(prompt), newCall());
        const before = up.requests.length;
        const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
        assert.deepEqual(done, { state: 'failed', raw: 'COMPLETED', error: { code, message } }, `${prompt} (status error types: ${typed})`);
        const fetched = up.requests.slice(before).some((r) => r.path === `/fal-ai/flux/requests/${ref.id}`);
        assert.equal(fetched, !typed, 'the result is fetched only when the status does not tell the type');
      }
    }
  });

  test('a refusal at submit is UpstreamRejected(forbidden); a refused key or a missing app fail over', T, async () => {
    reset();
    const adapter = createFalAdapter(settings(up.base));
    const tasks = up.tasks.size;
    const refused = await thrown(() => adapter.submit(submitReq('a fixture-nsfw thing'), newCall()));
    assert.ok(refused instanceof UpstreamRejected && refused.code === 'forbidden', String(refused));
    const badKey = await thrown(() => createFalAdapter(settings(up.base, { apiKey: 'wrong' })).submit(submitReq(), newCall()));
    assert.ok(badKey instanceof UpstreamUnavailable, String(badKey));
    const noApp = await thrown(() => createFalAdapter(settings(up.base, { model: 'nobody' })).submit(submitReq(), newCall()));
    assert.ok(noApp instanceof UpstreamUnavailable, String(noApp));
    assert.equal(up.tasks.size, tasks, 'nothing was created');
  });

  test('429 + Retry-After → UpstreamRateLimited (ms); 5xx and connection refused → UpstreamUnavailable; nothing created', T, async () => {
    reset();
    const adapter = createFalAdapter(settings(up.base));
    const tasks = up.tasks.size;
    up.inject({ kind: 'status', route: 'create', status: 429, headers: { 'retry-after': '3' }, times: 1 });
    const limited = await thrown(() => adapter.submit(submitReq(), newCall()));
    assert.ok(limited instanceof UpstreamRateLimited && limited.retryAfterMs === 3000, String(limited));
    up.inject({ kind: 'status', route: 'create', status: 503, times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable);
    assert.equal(up.tasks.size, tasks);
    const closed = await closedPortUrl();
    const refused = await thrown(() => createFalAdapter(settings(closed)).submit(submitReq(), newCall()));
    assert.ok(refused instanceof UpstreamUnavailable, String(refused));

    const ref = await adapter.submit(submitReq(), newCall());
    up.inject({ kind: 'status', route: 'poll', status: 429, headers: { 'retry-after': '2' }, times: 1 });
    const pollLimited = await thrown(() => adapter.poll([ref], newCall()));
    assert.ok(pollLimited instanceof UpstreamRateLimited && pollLimited.retryAfterMs === 2000, String(pollLimited));
    up.inject({ kind: 'status', route: 'poll', status: 502, times: 1 });
    assert.ok((await thrown(() => adapter.poll([ref], newCall()))) instanceof UpstreamUnavailable);
  });

  test('a slow submit and a dropped submit are UpstreamAmbiguous — and the fixture did create the request', T, async () => {
    reset();
    const adapter = createFalAdapter(settings(up.base, { requestTimeoutMs: 300 }));
    for (const fault of [{ kind: 'slow', route: 'create', delayMs: 1000, times: 1 }, { kind: 'drop', route: 'create', times: 1 }] as const) {
      const tasks = up.tasks.size;
      up.inject({ ...fault });
      const err = await thrown(() => adapter.submit(submitReq(), newCall()));
      assert.ok(err instanceof UpstreamAmbiguous, `${fault.kind}: ${String(err)}`);
      assert.equal(up.tasks.size, tasks + 1, `${fault.kind}: created upstream`);
    }
    up.inject({ kind: 'junk', route: 'create', times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamAmbiguous, 'an unreadable submit answer');
  });

  test('a junk status or result is transient; 404 Request not found ends the task (never polled forever)', T, async () => {
    reset();
    const adapter = createFalAdapter(settings(up.base));
    const ref = await adapter.submit(submitReq(), newCall());
    up.inject({ kind: 'junk', route: 'poll', text: '<html>oops', times: 1 });
    assert.ok((await thrown(() => adapter.poll([ref], newCall()))) instanceof UpstreamUnavailable);
    await wait(100);
    up.inject({ kind: 'status', route: 'poll', status: 200, body: { status: 'COMPLETED', request_id: ref.id }, times: 1 });
    up.inject({ kind: 'junk', route: 'poll', times: 1 }); // the result request
    assert.ok((await thrown(() => adapter.poll([ref], newCall()))) instanceof UpstreamUnavailable);
    up.inject({ kind: 'status', route: 'poll', status: 200, body: { status: 'COMPLETED', request_id: ref.id }, times: 1 });
    up.inject({ kind: 'status', route: 'poll', status: 401, times: 1 }); // a refused key on the result: not the task's failure
    assert.ok((await thrown(() => adapter.poll([ref], newCall()))) instanceof UpstreamUnavailable);
    assert.equal((await pollUntilDone(adapter, [ref])).get(ref.id)?.state, 'succeeded', 'later polls still see it');

    const gone: UpstreamRef = { id: 'no-such-request', urls: { status: `${up.url}/fal-ai/flux/requests/no-such-request/status` }, data: {} };
    assert.deepEqual((await adapter.poll([gone], newCall())).get(gone.id), {
      state: 'failed', raw: 'NOT_FOUND', error: { code: 'api_error', message: 'The upstream no longer knows the request (status: 404 Request not found)' },
    });
  });

  test('cancel: PUT cancel_url reaches the fixture; the request ends cancelled; a finished one is fine', T, async () => {
    reset();
    up.options.delayMs = 5000;
    const adapter = createFalAdapter(settings(up.base));
    const ref = await adapter.submit(submitReq(), newCall());
    await adapter.cancel!(ref, newCall());
    const sent = up.requests.at(-1)!;
    assert.deepEqual([sent.method, sent.path, sent.headers.authorization], ['PUT', `/fal-ai/flux/requests/${ref.id}/cancel`, 'Key fixture-key']);
    assert.equal(up.tasks.get(ref.id)?.outcome.kind, 'cancel');
    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'cancelled', raw: 'COMPLETED' });
    await adapter.cancel!(ref, newCall()); // 400 ALREADY_COMPLETED: nothing left to stop
  });

  test('an upstream that takes no webhook (seed 004: 400 "webhook not supported") gets the submit again without it', T, async () => {
    reset();
    const adapter = createFalAdapter(settings(up.base));
    up.inject({ kind: 'status', route: 'create', status: 400, body: { detail: 'webhook not supported' }, times: 1 });
    const before = up.requests.length;
    const ref = await adapter.submit(submitReq('x', 'http://127.0.0.1:1/cb'), newCall());
    const creates = up.requests.slice(before).filter((r) => r.route === 'create');
    assert.deepEqual(creates.map((r) => r.query.get('fal_webhook')), ['http://127.0.0.1:1/cb', null]);
    assert.ok(up.tasks.has(ref.id));
  });

  test('URLs naming another host are moved onto the channel origin: the key goes nowhere else', T, async () => {
    reset();
    const adapter = createFalAdapter(settings(up.base));
    const elsewhere = 'http://elsewhere.invalid:9/fal-ai/flux/requests/r1';
    up.inject({ kind: 'status', route: 'create', status: 200, body: { request_id: 'r1', status_url: `${elsewhere}/status?x=1`, response_url: elsewhere, cancel_url: `${elsewhere}/cancel` }, times: 1 });
    const ref = await adapter.submit(submitReq(), newCall());
    const own = `${up.url}/fal-ai/flux/requests/r1`;
    assert.deepEqual(ref.urls, { status: `${own}/status?x=1`, response: own, cancel: `${own}/cancel` });
  });

  test('the real @fal-ai/client against the fixture: subscribe with logs, result, cancel', T, async () => {
    reset();
    up.options.delayMs = 300;
    const client = createFalClient({
      credentials: 'fixture-key',
      requestMiddleware: async (req) => ({ ...req, url: req.url.replace('https://queue.fal.run', up.url) }),
      fetch: (input, init) => {
        const url = input instanceof Request ? input.url : String(input);
        assert.ok(url.startsWith(`${up.url}/`), `the client tried to reach ${url}`);
        return fetch(input, init);
      },
    });
    const endpoint: string = FLUX;
    const statuses: string[] = [];
    const result = await client.subscribe(endpoint, { input: { prompt: 'via the fal client' }, logs: true, pollInterval: 20, onQueueUpdate: (u) => statuses.push(u.status) });
    const data = result.data as { images: Array<{ url: string; content_type: string }>; seed: number };
    assert.equal(data.images[0]?.url, `${up.url}/files/${result.requestId}/0.png`);
    assert.equal(data.seed, 42);
    assert.ok(statuses.includes('IN_QUEUE') && statuses.includes('IN_PROGRESS') && statuses.at(-1) === 'COMPLETED', statuses.join());
    up.options.delayMs = 5000;
    const { request_id: id } = await client.queue.submit(endpoint, { input: { prompt: 'to cancel' } });
    await client.queue.cancel(endpoint, { requestId: id });
    assert.equal(up.tasks.get(id)?.outcome.kind, 'cancel');
    const status = await client.queue.status(endpoint, { requestId: id });
    assert.equal(status.status, 'COMPLETED');
  });
});

describe('fal adapter against a real taskgate (queue dialect) as the upstream', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({
      config: { moderation: { words: ['badword'] } },
      services: {
        'slow/image': { provider: 'demo-image', mode: 'async', options: { latencyMs: 4000, steps: 4, defaultWidth: 64, defaultHeight: 64 }, aliases: { queue: ['test/slow'] } },
        'tiny/image': { provider: 'demo-image', mode: 'async', timeoutMs: 300, options: { latencyMs: 3000, steps: 2, defaultWidth: 64, defaultHeight: 64 }, aliases: { queue: ['test/tiny'] } },
      },
    });
  });
  after(() => t.close());
  const channel = (model = FLUX): ChannelSettings => ({ name: 'chained', baseUrl: `${t.url}/v1/queue`, apiKey: t.token, model, requestTimeoutMs: 5000 });

  test('submit, poll until done: outputs are taskgate file URLs that download', T, async () => {
    const adapter = createFalAdapter(channel());
    const ref = await adapter.submit(submitReq('a lighthouse'), newCall());
    assert.ok(ref.urls.status?.startsWith(`${t.url}/v1/queue/fal-ai/flux/requests/${ref.id}`), ref.urls.status);
    const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
    assert.ok(done?.state === 'succeeded', JSON.stringify(done));
    assert.equal(done.outputs.length, 1);
    assert.ok(done.outputs[0]!.url.startsWith(`${t.url}/`));
    const file = await download(done.outputs[0]!.url);
    assert.deepEqual([file.status, file.contentType], [200, 'image/png']);
    assert.ok(file.bytes > 0);
    assert.equal(typeof done.data?.seed, 'number');
  });

  test('error codes survive the chain: forbidden, api_error, timeout; moderation at submit is rejected', T, async () => {
    const adapter = createFalAdapter(channel());
    const refusedAt = await thrown(() => adapter.submit(submitReq('a badword here'), newCall()));
    assert.ok(refusedAt instanceof UpstreamRejected && refusedAt.code === 'forbidden', String(refusedAt));
    for (const [prompt, code] of [['forbidden-demo-word', 'forbidden'], ['fail-demo-word', 'api_error']] as const) {
      const ref = await adapter.submit(submitReq(prompt), newCall());
      const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
      assert.equal(done?.state === 'failed' && done.error.code, code, `${prompt}: ${JSON.stringify(done)}`);
    }
    const tiny = createFalAdapter(channel('test/tiny'));
    const ref = await tiny.submit(submitReq(), newCall());
    const done = (await pollUntilDone(tiny, [ref])).get(ref.id);
    assert.deepEqual(done?.state === 'failed' && done.error.code, 'timeout', JSON.stringify(done));
  });

  test('cancel of a slow task reaches the upstream taskgate', T, async () => {
    const adapter = createFalAdapter(channel('test/slow'));
    const ref = await adapter.submit(submitReq('slow one'), newCall());
    const running = await until('running with progress', async () => {
      const s = (await adapter.poll([ref], newCall())).get(ref.id);
      return s?.state === 'running' && s.progress !== null ? s : undefined;
    }, 5000);
    assert.ok(running.state === 'running' && running.progress! > 0, 'progress survives the chain (from the log lines)');
    await adapter.cancel!(ref, newCall());
    const task = await until('cancelled upstream', async () => {
      const got = await t.gw.tasks.get(t.ownerId, ref.id);
      return got?.state === 'cancelled' ? got : undefined;
    }, 5000);
    assert.equal(task.state, 'cancelled');
    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'cancelled', raw: 'COMPLETED' });
  });
});
