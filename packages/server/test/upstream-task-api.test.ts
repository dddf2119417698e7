/**
 * The task API upstream adapter against its fixture upstream (faults injected per test) and
 * against a real taskgate as the upstream. Everything on 127.0.0.1, every test bounded in time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable, type ChannelSettings, type UpstreamRef,
} from '../src/core/upstream.js';
import { createTaskApiAdapter } from '../src/providers/upstream/task-api/adapter.js';
import { startTaskApiUpstream, type TaskApiUpstream } from './fixtures/task-api-upstream.js';
import { wait } from './fixtures/upstream-base.js';
import { closedPortUrl, download, newCall, pollUntilDone, startReceiver, thrown } from './fixtures/upstream-kit.js';
import { startGateway, until, type TestGateway } from './helpers.js';

const T = { timeout: 20_000 };
const settings = (base: string, over: Partial<ChannelSettings> = {}): ChannelSettings => ({
  name: 'main', baseUrl: base, apiKey: 'fixture-key', model: 'flux/dev', requestTimeoutMs: 2000, ...over,
});
let n = 0;
const submitReq = (prompt = 'a cat', callbackUrl: string | null = null) => ({ idempotencyKey: `task-${++n}`, input: { prompt }, callbackUrl });

describe('task API adapter against the fixture upstream', () => {
  let up: TaskApiUpstream;
  before(async () => {
    up = await startTaskApiUpstream();
  });
  after(() => up.close());
  const reset = (): void => {
    up.faults = [];
    up.options.delayMs = 60;
    up.options.loseCallbacks = false;
    up.options.resultTtlMs = null;
  };

  test('submit sends the documented create; polls go queued → running (progress) → succeeded with the outputs', T, async () => {
    reset();
    up.options.delayMs = 1500; // queued for 750 ms, then running until 1500 ms
    const adapter = createTaskApiAdapter(settings(up.base));
    assert.deepEqual([adapter.protocol, adapter.recovery, adapter.batchSize, typeof adapter.cancel, adapter.lookup], ['task-api', 'idempotent', 100, 'function', undefined]);
    const req = submitReq('a red fox', 'http://127.0.0.1:1/cb/secret');
    const ref = await adapter.submit(req, newCall());
    const sent = up.requests.at(-1)!;
    assert.deepEqual([sent.method, sent.path, sent.headers.authorization, sent.headers['idempotency-key']], ['POST', '/v1/flux/dev', 'Bearer fixture-key', req.idempotencyKey]);
    assert.deepEqual(sent.body, { prompt: 'a red fox', async: true, callback_url: 'http://127.0.0.1:1/cb/secret' });
    assert.ok(up.tasks.has(ref.id));
    assert.equal(ref.data.model, 'flux/dev');
    assert.equal(ref.data.trace_id, up.tasks.get(ref.id)!.traceId);

    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'queued', raw: 'queued', progress: null });
    await wait(900);
    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'running', raw: 'running', progress: 0.5 });
    const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
    assert.deepEqual(done, {
      state: 'succeeded', raw: 'succeeded', outputs: [{ url: `${up.url}/files/${ref.id}/0.png`, contentType: 'image/png' }], data: { seed: 42 },
    });
    const poll = up.requests.filter((r) => r.route === 'poll').at(-1)!;
    assert.deepEqual([poll.path, poll.body], ['/v1/flux/tasks', { action: 'retrieve_batch', ids: [ref.id] }]);
    assert.equal((await download(`${up.url}/files/${ref.id}/0.png`)).status, 200);
  });

  test('the result URLs of every shape: Midjourney image_url, Suno audio (not its cover), Veo video, generic data[].url', T, async () => {
    reset();
    const cases = [['midjourney/imagine', 'png'], ['suno/audios', 'mp3'], ['veo/videos', 'mp4'], ['demo/image', 'png']] as const;
    for (const [model, ext] of cases) {
      const adapter = createTaskApiAdapter(settings(up.base, { model }));
      const ref = await adapter.submit(submitReq(), newCall());
      const status = (await pollUntilDone(adapter, [ref])).get(ref.id);
      assert.equal(status?.state, 'succeeded', model);
      const urls = status?.state === 'succeeded' ? status.outputs.map((o) => o.url) : [];
      assert.deepEqual(urls, [`${up.url}/files/${ref.id}/0.${ext}`], model);
    }
    up.options.outcome = () => ({ kind: 'success', files: 2 });
    const suno = createTaskApiAdapter(settings(up.base, { model: 'suno/audios' }));
    const ref = await suno.submit(submitReq(), newCall());
    const status = (await pollUntilDone(suno, [ref])).get(ref.id);
    assert.deepEqual(status?.state === 'succeeded' && status.outputs.map((o) => o.url), [0, 1].map((i) => `${up.url}/files/${ref.id}/${i}.mp3`));
    assert.deepEqual(status?.state === 'succeeded' && status.data, { title: 'Fixture song', prompt: 'a cat' });
    up.options.outcome = () => ({ kind: 'success' });
  });

  test('a batch of 150 is polled in two retrieve_batch calls; unknown ids are left out', T, async () => {
    reset();
    const adapter = createTaskApiAdapter(settings(up.base));
    const refs = await Promise.all(Array.from({ length: 150 }, () => adapter.submit(submitReq(), newCall())));
    await wait(100);
    const before = up.count('poll');
    const ghost: UpstreamRef = { id: 'no-such-task', urls: {}, data: { model: 'flux/dev' } };
    const statuses = await adapter.poll([...refs, ghost], newCall());
    assert.equal(up.count('poll') - before, 2);
    assert.equal(statuses.size, 150);
    assert.ok([...statuses.values()].every((s) => s.state === 'succeeded'));
    assert.equal(statuses.has('no-such-task'), false);
  });

  test('upstream failures: our codes pass through, others are api_error, cancelled is cancelled', T, async () => {
    reset();
    up.options.outcome = (input) => {
      const p = String(input.prompt);
      return p === 'cancel' ? { kind: 'cancel' } : { kind: 'fail', code: p, message: `failed with ${p}` };
    };
    const adapter = createTaskApiAdapter(settings(up.base));
    const refs = await Promise.all(['timeout', 'forbidden', 'api_error', 'task_failed', 'cancel'].map((p) => adapter.submit(submitReq(p), newCall())));
    const done = await pollUntilDone(adapter, refs);
    const got = refs.map((r) => done.get(r.id));
    assert.deepEqual(got, [
      { state: 'failed', raw: 'failed:timeout', error: { code: 'timeout', message: 'failed with timeout' } },
      { state: 'failed', raw: 'failed:forbidden', error: { code: 'forbidden', message: 'failed with forbidden' } },
      { state: 'failed', raw: 'failed:api_error', error: { code: 'api_error', message: 'failed with api_error' } },
      { state: 'failed', raw: 'failed:task_failed', error: { code: 'api_error', message: 'task_failed: failed with task_failed' } },
      { state: 'cancelled', raw: 'cancelled' },
    ]);
    up.options.outcome = () => ({ kind: 'success' });
  });

  test('submit refusals and errors are classified', T, async () => {
    reset();
    const adapter = createTaskApiAdapter(settings(up.base));
    const moderated = await thrown(() => adapter.submit(submitReq('fixture-nsfw here'), newCall()));
    assert.ok(moderated instanceof UpstreamRejected && moderated.code === 'forbidden', String(moderated));
    const bad = await thrown(() => adapter.submit({ idempotencyKey: 'k-bad', input: { width: 3 }, callbackUrl: null }, newCall()));
    assert.ok(bad instanceof UpstreamRejected && bad.code === 'bad_request', String(bad));
    const wrongKey = await thrown(() => createTaskApiAdapter(settings(up.base, { apiKey: 'nope' })).submit(submitReq(), newCall()));
    assert.ok(wrongKey instanceof UpstreamUnavailable, 'the channel’s key is refused: another channel may work');
    const noKey = await thrown(() => createTaskApiAdapter(settings(up.base, { apiKey: null })).submit(submitReq(), newCall()));
    assert.ok(noKey instanceof UpstreamUnavailable, 'no_token is about the channel, not the client');
    const noApi = await thrown(() => createTaskApiAdapter(settings(up.base, { model: 'flux' })).submit(submitReq(), newCall()));
    assert.ok(noApi instanceof UpstreamRejected && noApi.code === 'no_api', String(noApi));

    up.inject({ kind: 'status', route: 'create', status: 429, headers: { 'retry-after': '3' }, times: 1 });
    const limited = await thrown(() => adapter.submit(submitReq(), newCall()));
    assert.ok(limited instanceof UpstreamRateLimited && limited.retryAfterMs === 3000, String(limited));
    for (const status of [500, 502, 503]) {
      up.inject({ kind: 'status', route: 'create', status, times: 1 });
      assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable, `HTTP ${status}`);
    }
    up.inject({ kind: 'status', route: 'create', status: 403, body: { error: { code: 'used_up', message: 'Balance exhausted' }, trace_id: 'x' }, times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable, 'used_up: the channel’s balance');
    up.inject({ kind: 'status', route: 'create', status: 504, times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamAmbiguous, 'a 504 may hide a created task');
    up.inject({ kind: 'junk', route: 'create', times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamAmbiguous, 'junk after the create took effect');
  });

  test('the fixture calls back when a task finishes (or loses the callback), and its result URLs can expire', T, async () => {
    reset();
    const receiver = await startReceiver();
    try {
      const adapter = createTaskApiAdapter(settings(up.base));
      const ref = await adapter.submit(submitReq('called back', `${receiver.url}/cb/secret`), newCall());
      const [body] = await until('the callback', () => (receiver.bodies.length > 0 ? receiver.bodies : undefined), 5000);
      assert.deepEqual([body?.success, body?.task_id], [true, ref.id]);
      up.options.loseCallbacks = true;
      up.options.resultTtlMs = 100;
      const lost = await adapter.submit(submitReq('never called back', `${receiver.url}/cb/secret`), newCall());
      await until('the lost callback', () => (up.callbacks.some((c) => c.lost) ? true : undefined), 5000);
      const status = (await pollUntilDone(adapter, [lost])).get(lost.id);
      const url = status?.state === 'succeeded' ? status.outputs[0]!.url : '';
      assert.equal(receiver.bodies.length, 1);
      assert.equal((await download(url)).status, 200);
      await wait(150);
      assert.equal((await download(url)).status, 403, 'expired');
    } finally {
      await receiver.close();
    }
  });

  test('connection refused is unavailable, for submit and poll', T, async () => {
    const adapter = createTaskApiAdapter(settings(`${await closedPortUrl()}/v1`));
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable);
    assert.ok((await thrown(() => adapter.poll([{ id: 'x', urls: {}, data: {} }], newCall()))) instanceof UpstreamUnavailable);
  });

  for (const kind of ['slow', 'drop'] as const) {
    test(`a ${kind === 'slow' ? 'slow' : 'dropped'} submit answer is ambiguous; the retry with the same key creates nothing new`, T, async () => {
      reset();
      const adapter = createTaskApiAdapter(settings(up.base, { requestTimeoutMs: 200 }));
      const tasksBefore = up.tasks.size;
      const createsBefore = up.count('create');
      up.inject(kind === 'slow' ? { kind, route: 'create', delayMs: 1500, times: 1 } : { kind, route: 'create', times: 1 });
      const req = submitReq();
      const err = await thrown(() => adapter.submit(req, newCall()));
      assert.ok(err instanceof UpstreamAmbiguous, String(err));
      assert.equal(up.tasks.size, tasksBefore + 1, 'the upstream did create the task');
      const ref = await adapter.submit(req, newCall());
      assert.equal(up.tasks.size, tasksBefore + 1, 'exactly one upstream task');
      assert.equal(up.count('create') - createsBefore, 2);
      assert.equal(ref.id, up.keys.get(req.idempotencyKey));
      assert.equal((await pollUntilDone(adapter, [ref])).get(ref.id)?.state, 'succeeded');
    });
  }

  test('poll trouble is transient: junk, 5xx, 4xx of the call, slow and cut answers; 429 keeps Retry-After', T, async () => {
    reset();
    const adapter = createTaskApiAdapter(settings(up.base, { requestTimeoutMs: 200 }));
    const ref = await adapter.submit(submitReq(), newCall());
    const faults = [
      { kind: 'junk', route: 'poll', times: 1 },
      { kind: 'junk', route: 'poll', text: '<html>502 Bad Gateway</html>', times: 1 },
      { kind: 'status', route: 'poll', status: 200, body: { success: true }, times: 1 },
      { kind: 'status', route: 'poll', status: 500, times: 1 },
      { kind: 'status', route: 'poll', status: 400, times: 1 },
      { kind: 'status', route: 'poll', status: 404, times: 1 },
      { kind: 'slow', route: 'poll', delayMs: 1000, times: 1 },
      { kind: 'drop', route: 'poll', times: 1 },
    ] as const;
    for (const fault of faults) {
      up.inject({ ...fault });
      const err = await thrown(() => adapter.poll([ref], newCall()));
      assert.ok(err instanceof UpstreamUnavailable, `${JSON.stringify(fault)}: ${String(err)}`);
    }
    up.inject({ kind: 'status', route: 'poll', status: 429, headers: { 'retry-after': '2' }, times: 1 });
    const limited = await thrown(() => adapter.poll([ref], newCall()));
    assert.ok(limited instanceof UpstreamRateLimited && limited.retryAfterMs === 2000);
    assert.equal((await pollUntilDone(adapter, [ref])).get(ref.id)?.state, 'succeeded', 'and then the task is read');
  });

  test('a junk item is left out and the rest of the batch is read', T, async () => {
    reset();
    const adapter = createTaskApiAdapter(settings(up.base));
    const [a, b] = await Promise.all([adapter.submit(submitReq(), newCall()), adapter.submit(submitReq(), newCall())]);
    await wait(100);
    const good = up.item(up.tasks.get(a!.id)!);
    const junk = { id: b!.id, finished_at: 1, response: { nonsense: true } };
    up.inject({ kind: 'status', route: 'poll', status: 200, body: { items: [good, junk, 'x', { id: 'not-asked', started_at: 1 }], count: 4 }, times: 1 });
    const call = newCall();
    const statuses = await adapter.poll([a!, b!], call);
    assert.deepEqual([...statuses.keys()], [a!.id]);
    assert.equal(call.warnings.length, 1, 'the operator hears of it');
  });
});

describe('task API adapter against a real taskgate upstream', () => {
  let t: TestGateway;
  before(async () => {
    // `slow/image` runs long enough to be cancelled while it runs.
    t = await startGateway({ config: { moderation: { words: ['refusedword'] } }, services: { 'slow/image': { provider: 'demo-image', mode: 'async', options: { latencyMs: 10_000, steps: 1, defaultWidth: 64, defaultHeight: 64 } } } });
  });
  after(() => t.close());
  const adapterFor = (model: string, over: Partial<ChannelSettings> = {}) =>
    createTaskApiAdapter(settings(`${t.url}/v1`, { apiKey: t.token, model, requestTimeoutMs: 5000, ...over }));

  test('submit, poll until done: outputs are taskgate file URLs that download, for every shape', T, async () => {
    for (const [model, type] of [['flux/dev', 'image/png'], ['midjourney/imagine', 'image/png'], ['suno/audios', 'audio/wav'], ['veo/videos', 'image/gif']] as const) {
      const adapter = adapterFor(model);
      const ref = await adapter.submit(submitReq('a lighthouse'), newCall());
      const status = (await pollUntilDone(adapter, [ref])).get(ref.id);
      assert.equal(status?.state, 'succeeded', `${model}: ${JSON.stringify(status)}`);
      const outputs = status?.state === 'succeeded' ? status.outputs : [];
      assert.ok(outputs.length >= 1, model);
      for (const output of outputs) {
        assert.ok(output.url.startsWith(`${t.url}/files/`), output.url);
        const file = await download(output.url);
        assert.equal(file.status, 200, output.url);
        assert.ok(file.contentType?.startsWith(type) && file.bytes > 0, `${model}: ${file.contentType}`);
      }
    }
  });

  test('the same idempotency key returns the first task; taskgate codes pass through', T, async () => {
    const adapter = adapterFor('flux/dev');
    const req = submitReq('a boat');
    const [first, second] = [await adapter.submit(req, newCall()), await adapter.submit(req, newCall())];
    assert.equal(first.id, second.id);
    assert.equal((await t.gw.tasks.list({ ownerId: t.ownerId, limit: 500 })).filter((x) => x.id === first.id).length, 1);

    const failing = await adapter.submit(submitReq('please fail-demo-word'), newCall());
    const blocked = await adapter.submit(submitReq('a forbidden-demo-word'), newCall());
    const done = await pollUntilDone(adapter, [failing, blocked]);
    assert.deepEqual([done.get(failing.id)?.state, done.get(blocked.id)?.state], ['failed', 'failed']);
    const codes = [failing, blocked].map((r) => { const s = done.get(r.id); return s?.state === 'failed' ? s.error.code : null; });
    assert.deepEqual(codes, ['api_error', 'forbidden']);

    const refused = await thrown(() => adapter.submit(submitReq('a refusedword'), newCall()));
    assert.ok(refused instanceof UpstreamRejected && refused.code === 'forbidden', String(refused));
    const invalid = await thrown(() => adapter.submit({ idempotencyKey: 'k-invalid', input: { prompt: 7 }, callbackUrl: null }, newCall()));
    assert.ok(invalid instanceof UpstreamRejected && invalid.code === 'bad_request', String(invalid));
    const wrongKey = await thrown(() => adapterFor('flux/dev', { apiKey: 'tg_wrong' }).submit(submitReq(), newCall()));
    assert.ok(wrongKey instanceof UpstreamUnavailable, String(wrongKey));
  });

  test('a task cancelled on the upstream taskgate reads as cancelled', T, async () => {
    const adapter = adapterFor('slow/image');
    const ref = await adapter.submit(submitReq('a long job'), newCall());
    const outcome = await t.gw.tasks.cancel(t.ownerId, ref.id);
    assert.equal(outcome.outcome, 'cancelled');
    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'cancelled', raw: 'cancelled' });
  });
  test('cancel: the cancel extension of an upstream taskgate; a finished task is no failure', T, async () => {
    const adapter = adapterFor('slow/image');
    const ref = await adapter.submit(submitReq('cancelled through the extension'), newCall());
    await adapter.cancel!(ref, newCall());
    assert.equal((await t.gw.tasks.get(t.ownerId, ref.id))?.state, 'cancelled');
    await adapter.cancel!(ref, newCall()); // 409 already_completed
  });
});
