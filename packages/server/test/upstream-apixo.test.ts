/**
 * The APIXO upstream adapter against its fixture upstream (faults injected per test, errors also
 * answered APIXO-style with HTTP 200 and the code in the body) and against a real taskgate as the
 * upstream. Everything on 127.0.0.1, every test bounded in time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable, type ChannelSettings, type UpstreamRef,
} from '../src/core/upstream.js';
import { createApixoAdapter } from '../src/providers/upstream/apixo/adapter.js';
import { startApixoUpstream, type ApixoUpstream } from './fixtures/apixo-upstream.js';
import { wait } from './fixtures/upstream-base.js';
import { closedPortUrl, download, newCall, pollUntilDone, startReceiver, thrown } from './fixtures/upstream-kit.js';
import { startGateway, until, type TestGateway } from './helpers.js';

const T = { timeout: 20_000 };
const settings = (base: string, over: Partial<ChannelSettings> = {}): ChannelSettings => ({
  name: 'main', baseUrl: base, apiKey: 'fixture-key', model: 'flux-dev', requestTimeoutMs: 2000, ...over,
});
let n = 0;
const submitReq = (prompt = 'a cat', callbackUrl: string | null = null) => ({ idempotencyKey: `task-${++n}`, input: { prompt }, callbackUrl });

describe('APIXO adapter against the fixture upstream', () => {
  let up: ApixoUpstream;
  before(async () => {
    up = await startApixoUpstream();
  });
  after(() => up.close());
  const reset = (): void => {
    up.faults = [];
    up.options.delayMs = 60;
    up.errorsAsHttp200 = false;
  };

  test('submit sends generateTask; statusTask goes pending → processing → success with resultUrls', T, async () => {
    reset();
    up.options.delayMs = 1500; // queued for 750 ms, then running until 1500 ms
    const adapter = createApixoAdapter(settings(up.base));
    assert.deepEqual([adapter.protocol, adapter.recovery, adapter.batchSize, typeof adapter.cancel, adapter.lookup], ['apixo', 'none', 1, 'function', undefined]);
    const ref = await adapter.submit(submitReq('a red fox'), newCall());
    const sent = up.requests.at(-1)!;
    assert.deepEqual([sent.method, sent.path, sent.headers.authorization], ['POST', '/api/v1/generateTask/flux-dev', 'Bearer fixture-key']);
    assert.deepEqual(sent.body, { request_type: 'async', input: { prompt: 'a red fox' } });
    assert.match(ref.id, /^task_[0-9a-f]+$/);
    assert.deepEqual(ref.data, { model: 'flux-dev' });

    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'queued', raw: 'pending', progress: null });
    const poll = up.requests.at(-1)!;
    assert.deepEqual([poll.method, poll.path, poll.query.get('taskId')], ['GET', '/api/v1/statusTask/flux-dev', ref.id]);
    await wait(900);
    assert.deepEqual((await adapter.poll([ref], newCall())).get(ref.id), { state: 'running', raw: 'processing', progress: null });
    const done = (await pollUntilDone(adapter, [ref])).get(ref.id);
    assert.deepEqual(done, { state: 'succeeded', raw: 'success', outputs: [{ url: `${up.url}/files/${ref.id}/0.png` }] });
    assert.equal((await download(`${up.url}/files/${ref.id}/0.png`)).status, 200);

    await adapter.submit(submitReq('called back', 'http://127.0.0.1:1/cb'), newCall());
    assert.deepEqual(up.requests.at(-1)!.body, { request_type: 'callback', callback_url: 'http://127.0.0.1:1/cb', input: { prompt: 'called back' } });
  });

  test('the fixture calls back with the status envelope when a task finishes', T, async () => {
    reset();
    const receiver = await startReceiver();
    try {
      const ref = await createApixoAdapter(settings(up.base)).submit(submitReq('called back', `${receiver.url}/cb`), newCall());
      const [body] = await until('the callback', () => (receiver.bodies.length > 0 ? receiver.bodies : undefined), 5000);
      assert.deepEqual([body?.code, (body?.data as { taskId?: string; state?: string }).taskId, (body?.data as { state?: string }).state], [200, ref.id, 'success']);
    } finally {
      await receiver.close();
    }
  });

  test('several tasks in one poll call: one statusTask each', T, async () => {
    reset();
    const adapter = createApixoAdapter(settings(up.base));
    const refs = await Promise.all(Array.from({ length: 5 }, () => adapter.submit(submitReq(), newCall())));
    await wait(100);
    const before = up.count('poll');
    const statuses = await adapter.poll(refs, newCall());
    assert.equal(up.count('poll') - before, 5);
    assert.ok(refs.every((r) => statuses.get(r.id)?.state === 'succeeded'));
  });

  test('failCodes map: CONTENT_VIOLATION → forbidden, PROCESSING_TIMEOUT → timeout, TASK_CANCELLED → cancelled, others → api_error', T, async () => {
    reset();
    up.options.outcome = (input) => {
      const p = String(input.prompt);
      return p === 'cancel' ? { kind: 'cancel' } : { kind: 'fail', code: p, message: `failed with ${p}` };
    };
    const adapter = createApixoAdapter(settings(up.base));
    const codes = ['CONTENT_VIOLATION', 'PROCESSING_TIMEOUT', 'GENERATION_FAILED', 'SOMETHING_NEW', 'cancel'];
    const refs: UpstreamRef[] = [];
    for (const p of codes) refs.push(await adapter.submit(submitReq(p), newCall()));
    const done = await pollUntilDone(adapter, refs);
    assert.deepEqual(refs.map((r) => done.get(r.id)), [
      { state: 'failed', raw: 'failed:CONTENT_VIOLATION', error: { code: 'forbidden', message: 'failed with CONTENT_VIOLATION' } },
      { state: 'failed', raw: 'failed:PROCESSING_TIMEOUT', error: { code: 'timeout', message: 'failed with PROCESSING_TIMEOUT' } },
      { state: 'failed', raw: 'failed:GENERATION_FAILED', error: { code: 'api_error', message: 'GENERATION_FAILED: failed with GENERATION_FAILED' } },
      { state: 'failed', raw: 'failed:SOMETHING_NEW', error: { code: 'api_error', message: 'SOMETHING_NEW: failed with SOMETHING_NEW' } },
      { state: 'cancelled', raw: 'failed:TASK_CANCELLED' },
    ]);
    up.options.outcome = () => ({ kind: 'success' });
  });

  for (const http200 of [false, true]) {
    test(`submit errors are classified by the body's code${http200 ? ' (all sent with HTTP 200)' : ''}`, T, async () => {
      reset();
      up.errorsAsHttp200 = http200;
      const adapter = createApixoAdapter(settings(up.base));
      const direct = await fetch(`${up.base}/api/v1/generateTask/flux-dev`, { method: 'POST', body: '{}' });
      assert.deepEqual([direct.status, ((await direct.json()) as { code: number }).code], [http200 ? 200 : 401, 401]);
      const moderated = await thrown(() => adapter.submit(submitReq('fixture-nsfw here'), newCall()));
      assert.ok(moderated instanceof UpstreamRejected && moderated.code === 'forbidden', String(moderated));
      const bad = await thrown(() => adapter.submit({ idempotencyKey: 'k', input: { width: 3 }, callbackUrl: null }, newCall()));
      assert.ok(bad instanceof UpstreamRejected && bad.code === 'bad_request', String(bad));
      const wrongKey = await thrown(() => createApixoAdapter(settings(up.base, { apiKey: 'nope' })).submit(submitReq(), newCall()));
      assert.ok(wrongKey instanceof UpstreamUnavailable, String(wrongKey));
      up.inject({ kind: 'status', route: 'create', status: 429, headers: { 'retry-after': '4' }, times: 1 });
      const limited = await thrown(() => adapter.submit(submitReq(), newCall()));
      assert.ok(limited instanceof UpstreamRateLimited && limited.retryAfterMs === 4000, String(limited));
      for (const status of [500, 503]) {
        up.inject({ kind: 'status', route: 'create', status, times: 1 });
        assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable, `code ${status}`);
      }
      up.inject({ kind: 'status', route: 'create', status: 403, times: 1 });
      assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable, '403 without a content refusal: the channel');
    });
  }

  test('connection refused is unavailable, for submit and poll', T, async () => {
    const adapter = createApixoAdapter(settings(await closedPortUrl()));
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable);
    assert.ok((await thrown(() => adapter.poll([{ id: 'task_x', urls: {}, data: { model: 'flux-dev' } }], newCall()))) instanceof UpstreamUnavailable);
  });

  test('slow, dropped or junk submit answers are ambiguous (the task may exist upstream; APIXO cannot be asked)', T, async () => {
    reset();
    const adapter = createApixoAdapter(settings(up.base, { requestTimeoutMs: 200 }));
    const faults = [
      { kind: 'slow', route: 'create', delayMs: 1500, times: 1 },
      { kind: 'drop', route: 'create', times: 1 },
      { kind: 'junk', route: 'create', times: 1 },
      { kind: 'status', route: 'create', status: 200, body: { code: 200, message: 'success', data: {} }, times: 1 },
      { kind: 'status', route: 'create', status: 504, times: 1 },
    ] as const;
    for (const fault of faults) {
      const before = up.tasks.size;
      up.inject({ ...fault });
      const err = await thrown(() => adapter.submit(submitReq(), newCall()));
      assert.ok(err instanceof UpstreamAmbiguous, `${JSON.stringify(fault)}: ${String(err)}`);
      if (fault.kind !== 'status') assert.equal(up.tasks.size, before + 1, 'the upstream did create the task');
    }
  });

  test('poll trouble is transient (junk, unreadable resultJson, errors of the call); 429 keeps Retry-After; a 404 task fails', T, async () => {
    reset();
    const adapter = createApixoAdapter(settings(up.base, { requestTimeoutMs: 200 }));
    const ref = await adapter.submit(submitReq(), newCall());
    const success = (data: object) => ({ code: 200, message: 'success', data: { taskId: ref.id, createTime: 1, ...data } });
    const faults = [
      { kind: 'junk', route: 'poll', times: 1 },
      { kind: 'junk', route: 'poll', text: '<html>oops</html>', times: 1 },
      { kind: 'status', route: 'poll', status: 200, body: success({ state: 'success', resultJson: '{"resultUrls": [' }), times: 1 },
      { kind: 'status', route: 'poll', status: 200, body: success({ state: 'success', resultJson: '{"urls": []}' }), times: 1 },
      { kind: 'status', route: 'poll', status: 200, body: success({ state: 'exploded' }), times: 1 },
      { kind: 'status', route: 'poll', status: 200, body: { code: 500, message: 'Server error', data: { error: 'busy' } }, times: 1 },
      { kind: 'status', route: 'poll', status: 200, body: { code: 400, message: 'Invalid request', data: { error: 'x' } }, times: 1 },
      { kind: 'status', route: 'poll', status: 502, body: '<html>bad gateway</html>', times: 1 },
      { kind: 'status', route: 'poll', status: 404, body: 'Not Found', times: 1 },
      { kind: 'slow', route: 'poll', delayMs: 1000, times: 1 },
      { kind: 'drop', route: 'poll', times: 1 },
    ] as const;
    for (const fault of faults) {
      up.inject({ ...fault });
      const err = await thrown(() => adapter.poll([ref], newCall()));
      assert.ok(err instanceof UpstreamUnavailable, `${JSON.stringify(fault)}: ${String(err)}`);
    }
    up.inject({ kind: 'status', route: 'poll', status: 200, body: { code: 429, message: 'Too many requests', data: {} }, headers: { 'retry-after': '2' }, times: 1 });
    const limited = await thrown(() => adapter.poll([ref], newCall()));
    assert.ok(limited instanceof UpstreamRateLimited && limited.retryAfterMs === 2000, String(limited));
    assert.equal((await pollUntilDone(adapter, [ref])).get(ref.id)?.state, 'succeeded', 'and then the task is read');

    const ghost = { id: 'task_ghost', urls: {}, data: { model: 'flux-dev' } };
    const lost = (await adapter.poll([ghost], newCall())).get('task_ghost');
    assert.ok(lost?.state === 'failed' && lost.error.code === 'api_error', JSON.stringify(lost));
  });

  test('in a multi-task poll, a failing request leaves only its task out', T, async () => {
    reset();
    const adapter = createApixoAdapter(settings(up.base));
    const refs = await Promise.all([adapter.submit(submitReq(), newCall()), adapter.submit(submitReq(), newCall())]);
    await wait(100);
    up.inject({ kind: 'status', route: 'poll', status: 500, times: 1 });
    const call = newCall();
    const statuses = await adapter.poll(refs, call);
    assert.equal(statuses.size, 1);
    assert.equal(call.warnings.length, 1);
  });
});

describe('APIXO adapter against a real taskgate upstream', () => {
  let t: TestGateway;
  before(async () => {
    // `slow/image` runs long enough to be cancelled while it runs.
    t = await startGateway({ config: { moderation: { words: ['refusedword'] } }, services: { 'slow/image': { provider: 'demo-image', mode: 'async', options: { latencyMs: 10_000, steps: 1, defaultWidth: 64, defaultHeight: 64 }, aliases: { apixo: ['slow-image'] } } } });
  });
  after(() => t.close());
  const adapterFor = (model: string, over: Partial<ChannelSettings> = {}) =>
    createApixoAdapter(settings(t.url, { apiKey: t.token, model, requestTimeoutMs: 5000, ...over }));

  test('submit, poll until done: outputs are taskgate file URLs that download', T, async () => {
    for (const [model, type] of [['flux-dev', 'image/png'], ['midjourney', 'image/png'], ['suno', 'audio/wav']] as const) {
      const adapter = adapterFor(model);
      const ref = await adapter.submit(submitReq('a lighthouse'), newCall());
      const status = (await pollUntilDone(adapter, [ref])).get(ref.id);
      assert.equal(status?.state, 'succeeded', `${model}: ${JSON.stringify(status)}`);
      const outputs = status?.state === 'succeeded' ? status.outputs : [];
      assert.ok(outputs.length >= 1);
      for (const output of outputs) {
        assert.ok(output.url.startsWith(`${t.url}/files/`), output.url);
        const file = await download(output.url);
        assert.equal(file.status, 200);
        assert.ok(file.contentType?.startsWith(type) && file.bytes > 0, `${model}: ${file.contentType}`);
      }
    }
  });

  test('taskgate failures, refusals and cancels map back to the same codes', T, async () => {
    const adapter = adapterFor('flux-dev');
    const failing = await adapter.submit(submitReq('please fail-demo-word'), newCall());
    const blocked = await adapter.submit(submitReq('a forbidden-demo-word'), newCall());
    const done = await pollUntilDone(adapter, [failing, blocked]);
    const codes = [failing, blocked].map((r) => { const s = done.get(r.id); return s?.state === 'failed' ? s.error.code : s?.state; });
    assert.deepEqual(codes, ['api_error', 'forbidden']);

    const refused = await thrown(() => adapter.submit(submitReq('a refusedword'), newCall()));
    assert.ok(refused instanceof UpstreamRejected && refused.code === 'forbidden', String(refused));
    const invalid = await thrown(() => adapter.submit({ idempotencyKey: 'k', input: { prompt: 7 }, callbackUrl: null }, newCall()));
    assert.ok(invalid instanceof UpstreamRejected && invalid.code === 'bad_request', String(invalid));
    const wrongKey = await thrown(() => adapterFor('flux-dev', { apiKey: 'tg_wrong' }).submit(submitReq(), newCall()));
    assert.ok(wrongKey instanceof UpstreamUnavailable, String(wrongKey));
    const unknownModel = await thrown(() => adapterFor('no-such-model').submit(submitReq(), newCall()));
    assert.ok(unknownModel instanceof UpstreamRejected, String(unknownModel));

    const slow = await adapterFor('slow-image').submit(submitReq('to be cancelled'), newCall());
    assert.equal((await t.gw.tasks.cancel(t.ownerId, slow.id)).outcome, 'cancelled');
    assert.deepEqual((await adapter.poll([slow], newCall())).get(slow.id), { state: 'cancelled', raw: 'failed:TASK_CANCELLED' });
  });
  test('cancel: the cancelTask extension of an upstream taskgate; a finished task is refused (the poller logs it)', T, async () => {
    const adapter = adapterFor('slow-image');
    const ref = await adapter.submit(submitReq('cancelled through the extension'), newCall());
    await adapter.cancel!(ref, newCall());
    assert.equal((await t.gw.tasks.get(t.ownerId, ref.id))?.state, 'cancelled');
    await assert.rejects(adapter.cancel!(ref, newCall()), /APIXO cancelTask: .*already finished/);
  });
});
