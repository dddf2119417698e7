/**
 * The Replicate upstream adapter against its fixture upstream (faults injected per test), the
 * real `replicate` npm client against that fixture, and the adapter against a real taskgate (its
 * Replicate dialect) as the upstream. Everything on 127.0.0.1, every test bounded in time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Replicate, { type Prediction } from 'replicate';
import { UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable, type ChannelSettings, type UpstreamRef } from '../src/core/upstream.js';
import { createReplicateAdapter, MARKER } from '../src/providers/upstream/replicate/adapter.js';
import { startReplicateUpstream, type ReplicateUpstream } from './fixtures/replicate-upstream.js';
import { wait } from './fixtures/upstream-base.js';
import { closedPortUrl, download, newCall, pollUntilDone, thrown } from './fixtures/upstream-kit.js';
import { startGateway, until, type TestGateway } from './helpers.js';

const T = { timeout: 20_000 };
const FLUX = 'black-forest-labs/flux-dev';
const settings = (base: string, over: Partial<ChannelSettings> = {}): ChannelSettings => ({
  name: 'replicate-main', baseUrl: base, apiKey: 'fixture-key', model: FLUX, requestTimeoutMs: 2000, ...over,
});
let n = 0;
const submitReq = (prompt = 'a cat', callbackUrl: string | null = null) => ({ idempotencyKey: `task-${++n}-${Date.now()}`, input: { prompt }, callbackUrl });

describe('Replicate adapter against the fixture upstream', () => {
  let up: ReplicateUpstream;
  before(async () => {
    up = await startReplicateUpstream();
  });
  after(() => up.close());
  const reset = (): void => {
    up.faults = [];
    up.options.delayMs = 60;
    up.outputShape = 'array';
    up.pageSize = 100;
  };

  test('create by model → starting → processing (progress from logs) → succeeded with the output URLs', T, async () => {
    reset();
    up.options.delayMs = 2000; // queued for 1 s, then running until 2 s
    const adapter = createReplicateAdapter(settings(up.base));
    assert.deepEqual([adapter.protocol, adapter.recovery, adapter.batchSize], ['replicate', 'lookup', 1]);
    const req = submitReq('a red fox');
    const ref = await adapter.submit(req, newCall());
    const sent = up.requests.at(-1)!;
    assert.deepEqual([sent.method, sent.path, sent.headers.authorization], ['POST', `/v1/models/${FLUX}/predictions`, 'Bearer fixture-key']);
    assert.deepEqual(sent.body, { input: { prompt: 'a red fox', [MARKER]: req.idempotencyKey } });
    assert.deepEqual(ref.urls, { get: `${up.base}/predictions/${ref.id}`, cancel: `${up.base}/predictions/${ref.id}/cancel` });
    assert.deepEqual(ref.data, { model: FLUX });

    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'queued', raw: 'starting', progress: null });
    assert.deepEqual([up.requests.at(-1)!.method, up.requests.at(-1)!.path], ['GET', `/v1/predictions/${ref.id}`]);
    await wait(1400);
    const running = (await adapter.poll([ref], newCall())).get(ref.id);
    assert.ok(running?.state === 'running' && running.progress !== null && running.progress > 0 && running.progress < 1, JSON.stringify(running));
    const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
    assert.deepEqual(done, { state: 'succeeded', raw: 'succeeded', outputs: [{ url: `${up.url}/files/${ref.id}/0.png` }] });
    assert.equal((await download(`${up.url}/files/${ref.id}/0.png`)).status, 200);

    await adapter.submit(submitReq('called back', 'http://127.0.0.1:1/cb'), newCall());
    const hooked = up.requests.at(-1)!.body as Record<string, unknown>;
    assert.deepEqual([hooked.webhook, hooked.webhook_events_filter], ['http://127.0.0.1:1/cb', ['completed']]);
  });

  test('create by version (owner/name:version or a bare id) → POST /predictions {version}; string and object outputs', T, async () => {
    reset();
    const version = 'a'.repeat(64);
    for (const model of [`${FLUX}:${version}`, version]) {
      const ref = await createReplicateAdapter(settings(up.base, { model })).submit(submitReq(), newCall());
      const sent = up.requests.at(-1)!;
      assert.deepEqual([sent.path, (sent.body as Record<string, unknown>).version], ['/v1/predictions', version]);
      assert.ok(up.tasks.has(ref.id));
    }
    assert.throws(() => createReplicateAdapter(settings(up.base, { model: 'not a model' })), /not a Replicate model/);
    const adapter = createReplicateAdapter(settings(up.base));
    for (const shape of ['string', 'object'] as const) {
      up.outputShape = shape;
      const ref = await adapter.submit(submitReq(), newCall());
      const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
      assert.deepEqual(done?.state === 'succeeded' && done.outputs, [{ url: `${up.url}/files/${ref.id}/0.png` }], shape);
    }
  });

  test('failed predictions map by their error: NSFW / E005 → forbidden, timed out → timeout, else api_error', T, async () => {
    reset();
    const adapter = createReplicateAdapter(settings(up.base));
    const cases = [
      ['fixture-flagged', 'forbidden', 'NSFW content detected. Try running it again, or try a different prompt.'],
      ['fixture-sensitive', 'forbidden', 'The input or output was flagged as sensitive. Please try again with different inputs. (E005)'],
      ['fixture-timeout', 'timeout', 'Prediction timed out'],
      ['fixture-fail', 'api_error', 'RuntimeError: the fixture model crashed'],
    ] as const;
    for (const [prompt, code, message] of cases) {
      const ref = await adapter.submit(submitReq(prompt), newCall());
      assert.deepEqual((await pollUntilDone(adapter, [ref])).get(ref.id), { state: 'failed', raw: 'failed', error: { code, message } }, prompt);
    }
  });

  test('refusals at create: moderation → UpstreamRejected(forbidden), 422 → bad_request; key or credit refused → fail over', T, async () => {
    reset();
    const adapter = createReplicateAdapter(settings(up.base));
    const tasks = up.tasks.size;
    const refused = await thrown(() => adapter.submit(submitReq('a fixture-nsfw thing'), newCall()));
    assert.ok(refused instanceof UpstreamRejected && refused.code === 'forbidden', String(refused));
    up.inject({ kind: 'status', route: 'create', status: 422, body: { title: 'Input validation failed', detail: '- input.width: must be ≤ 1440', status: 422 }, times: 1 });
    const invalid = await thrown(() => adapter.submit(submitReq(), newCall()));
    assert.ok(invalid instanceof UpstreamRejected && invalid.code === 'bad_request', String(invalid));
    up.inject({ kind: 'status', route: 'create', status: 402, body: { title: 'Payment required', detail: 'You have insufficient credit', status: 402 }, times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable);
    const badKey = await thrown(() => createReplicateAdapter(settings(up.base, { apiKey: 'wrong' })).submit(submitReq(), newCall()));
    assert.ok(badKey instanceof UpstreamUnavailable, String(badKey));
    assert.equal(up.tasks.size, tasks, 'nothing was created');
  });

  test('429 + Retry-After → UpstreamRateLimited (ms); 5xx and connection refused → UpstreamUnavailable', T, async () => {
    reset();
    const adapter = createReplicateAdapter(settings(up.base));
    up.inject({ kind: 'status', route: 'create', status: 429, headers: { 'retry-after': '4' }, times: 1 });
    const limited = await thrown(() => adapter.submit(submitReq(), newCall()));
    assert.ok(limited instanceof UpstreamRateLimited && limited.retryAfterMs === 4000, String(limited));
    up.inject({ kind: 'status', route: 'create', status: 500, times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable);
    const closed = await closedPortUrl();
    assert.ok((await thrown(() => createReplicateAdapter(settings(`${closed}/v1`)).submit(submitReq(), newCall()))) instanceof UpstreamUnavailable);
    const ref = await adapter.submit(submitReq(), newCall());
    up.inject({ kind: 'status', route: 'poll', status: 429, headers: { 'retry-after': '1' }, times: 1 });
    const pollLimited = await thrown(() => adapter.poll([ref], newCall()));
    assert.ok(pollLimited instanceof UpstreamRateLimited && pollLimited.retryAfterMs === 1000);
    up.inject({ kind: 'status', route: 'poll', status: 503, times: 1 });
    assert.ok((await thrown(() => adapter.poll([ref], newCall()))) instanceof UpstreamUnavailable);
  });

  test('slow and dropped creates are UpstreamAmbiguous; lookup finds the prediction, so nothing is created twice', T, async () => {
    reset();
    const adapter = createReplicateAdapter(settings(up.base, { requestTimeoutMs: 300 }));
    for (const fault of [{ kind: 'slow', route: 'create', delayMs: 1000, times: 1 }, { kind: 'drop', route: 'create', times: 1 }] as const) {
      const creates = up.count('create');
      up.inject({ ...fault });
      const req = submitReq(`${fault.kind} one`);
      const err = await thrown(() => adapter.submit(req, newCall()));
      assert.ok(err instanceof UpstreamAmbiguous, `${fault.kind}: ${String(err)}`);
      const found = await until('the created prediction listed', () => adapter.lookup!(req.idempotencyKey, newCall()).then((r) => r ?? undefined), 3000);
      assert.equal(up.tasks.get(found.id)?.input[MARKER], req.idempotencyKey);
      assert.deepEqual(found.urls, { get: `${up.base}/predictions/${found.id}`, cancel: `${up.base}/predictions/${found.id}/cancel` });
      assert.equal(up.count('create'), creates + 1, `${fault.kind}: one create only`);
      assert.equal((await pollUntilDone(adapter, [found])).get(found.id)?.state, 'succeeded');
    }
    assert.equal(await adapter.lookup!('never-submitted', newCall()), null, 'the whole list was searched');
    up.inject({ kind: 'junk', route: 'create', times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamAmbiguous, 'an unreadable create answer');
  });

  test('lookup pages through the list (newest first) and finds an older prediction', T, async () => {
    reset();
    const adapter = createReplicateAdapter(settings(up.base));
    const first = submitReq('the one');
    const ref = await adapter.submit(first, newCall());
    for (let i = 0; i < 5; i++) await adapter.submit(submitReq(), newCall());
    up.pageSize = 2;
    const lists = up.requests.filter((r) => r.path === '/v1/predictions' && r.method === 'GET').length;
    assert.equal((await adapter.lookup!(first.idempotencyKey, newCall()))?.id, ref.id);
    assert.ok(up.requests.filter((r) => r.path === '/v1/predictions' && r.method === 'GET').length - lists >= 3, 'several pages read');
  });

  test('a junk get is transient; 404 ends the task; cancel reaches the fixture', T, async () => {
    reset();
    up.options.delayMs = 5000;
    const adapter = createReplicateAdapter(settings(up.base));
    const ref = await adapter.submit(submitReq(), newCall());
    up.inject({ kind: 'junk', route: 'poll', times: 1 });
    assert.ok((await thrown(() => adapter.poll([ref], newCall()))) instanceof UpstreamUnavailable);
    const gone: UpstreamRef = { id: 'nope', urls: { get: `${up.base}/predictions/nope` }, data: {} };
    assert.deepEqual((await adapter.poll([gone], newCall())).get('nope'), {
      state: 'failed', raw: 'not_found', error: { code: 'api_error', message: 'The upstream no longer knows the prediction (404)' },
    });
    await adapter.cancel!(ref, newCall());
    const sent = up.requests.at(-1)!;
    assert.deepEqual([sent.method, sent.path, sent.headers.authorization], ['POST', `/v1/predictions/${ref.id}/cancel`, 'Bearer fixture-key']);
    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'cancelled', raw: 'canceled' });
    await adapter.cancel!(ref, newCall()); // finished: returned unchanged

    const far = 'http://elsewhere.invalid:9/v1/predictions/p1';
    up.inject({ kind: 'status', route: 'create', status: 201, body: { id: 'p1', status: 'starting', input: {}, urls: { get: far, cancel: `${far}/cancel` } }, times: 1 });
    const moved = await adapter.submit(submitReq(), newCall());
    assert.deepEqual(moved.urls, { get: `${up.base}/predictions/p1`, cancel: `${up.base}/predictions/p1/cancel` }, 'the key goes nowhere else');
  });

  test('the real replicate client against the fixture: run, create + wait, cancel, paginate', T, async () => {
    reset();
    const client = new Replicate({ auth: 'fixture-key', baseUrl: up.base });
    const output = await client.run(FLUX, { input: { prompt: 'via the replicate client' }, wait: { mode: 'poll', interval: 20 } });
    assert.ok(Array.isArray(output) && typeof output[0] === 'string' && output[0].startsWith(`${up.url}/files/`), JSON.stringify(output));
    const created = await client.predictions.create({ model: FLUX, input: { prompt: 'create and wait' } });
    const waited: Prediction = await client.wait(created, { interval: 20 });
    assert.deepEqual([waited.status, waited.output], ['succeeded', [`${up.url}/files/${created.id}/0.png`]]);
    up.options.delayMs = 5000;
    const slow = await client.predictions.create({ version: 'b'.repeat(64), input: { prompt: 'cancel me' } });
    const cancelled = await client.predictions.cancel(slow.id);
    assert.equal(cancelled.status, 'canceled');
    up.pageSize = 3;
    const ids: string[] = [];
    for await (const page of client.paginate(client.predictions.list)) ids.push(...page.map((p) => p.id));
    assert.equal(ids.length, up.tasks.size);
    assert.equal(ids[0], slow.id, 'newest first');
  });
});

describe('Replicate adapter against a real taskgate (Replicate dialect) as the upstream', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({
      config: { moderation: { words: ['badword'] } },
      services: {
        'slow/image': { provider: 'demo-image', mode: 'async', options: { latencyMs: 4000, steps: 4, defaultWidth: 64, defaultHeight: 64 }, aliases: { replicate: ['taskgate/slow-image'] } },
        'tiny/image': { provider: 'demo-image', mode: 'async', timeoutMs: 300, options: { latencyMs: 3000, steps: 2, defaultWidth: 64, defaultHeight: 64 }, aliases: { replicate: ['taskgate/tiny-image'] } },
      },
    });
  });
  after(() => t.close());
  const channel = (model = FLUX): ChannelSettings => ({ name: 'chained', baseUrl: `${t.url}/v1`, apiKey: t.token, model, requestTimeoutMs: 5000 });

  test('create, poll until done: outputs are taskgate file URLs that download; lookup finds it by the key', T, async () => {
    const adapter = createReplicateAdapter(channel());
    const req = submitReq('a lighthouse');
    const ref = await adapter.submit(req, newCall());
    assert.equal(ref.urls.get, `${t.url}/v1/predictions/${ref.id}`);
    const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
    assert.ok(done?.state === 'succeeded' && done.outputs.length === 1, JSON.stringify(done));
    assert.ok(done.outputs[0]!.url.startsWith(`${t.url}/`));
    const file = await download(done.outputs[0]!.url);
    assert.deepEqual([file.status, file.contentType], [200, 'image/png']);
    assert.equal((await adapter.lookup!(req.idempotencyKey, newCall()))?.id, ref.id);
    assert.equal(await adapter.lookup!('never-submitted', newCall()), null);
  });

  test('error codes survive the chain: forbidden, api_error, timeout; moderation at create is rejected', T, async () => {
    const adapter = createReplicateAdapter(channel());
    const refusedAt = await thrown(() => adapter.submit(submitReq('a badword here'), newCall()));
    assert.ok(refusedAt instanceof UpstreamRejected && refusedAt.code === 'forbidden', String(refusedAt));
    for (const [prompt, code] of [['forbidden-demo-word', 'forbidden'], ['fail-demo-word', 'api_error']] as const) {
      const ref = await adapter.submit(submitReq(prompt), newCall());
      const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
      assert.equal(done?.state === 'failed' && done.error.code, code, `${prompt}: ${JSON.stringify(done)}`);
    }
    const tiny = createReplicateAdapter(channel('taskgate/tiny-image'));
    const ref = await tiny.submit(submitReq(), newCall());
    const done = (await pollUntilDone(tiny, [ref])).get(ref.id);
    assert.equal(done?.state === 'failed' && done.error.code, 'timeout', JSON.stringify(done));
  });

  test('cancel of a slow prediction reaches the upstream taskgate', T, async () => {
    const adapter = createReplicateAdapter(channel('taskgate/slow-image'));
    const ref = await adapter.submit(submitReq('slow one'), newCall());
    const running = await until('processing with progress', async () => {
      const s = (await adapter.poll([ref], newCall())).get(ref.id);
      return s?.state === 'running' && s.progress !== null ? s : undefined;
    }, 5000);
    assert.ok(running.state === 'running' && running.progress! > 0, 'progress survives the chain (from the logs)');
    await adapter.cancel!(ref, newCall());
    await until('cancelled upstream', async () => ((await t.gw.tasks.get(t.ownerId, ref.id))?.state === 'cancelled' ? true : undefined), 5000);
    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'cancelled', raw: 'canceled' });
  });
});
