/**
 * The OpenAI images upstream adapter against its fixture upstream (faults injected per test), the
 * OutputCopier's `data:` URLs (b64_json images), and a gateway relaying to the fixture end to end.
 * Everything on 127.0.0.1, every test bounded in time.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable, type ChannelSettings, type UpstreamRef,
} from '../src/core/upstream.js';
import { createOpenAIImagesAdapter } from '../src/providers/upstream/openai-images/adapter.js';
import { OutputCopier } from '../src/providers/upstream/outputs.js';
import { createFileSink } from '../src/store/files.js';
import { startOpenAIImagesUpstream, type OpenAIImagesUpstream } from './fixtures/openai-images-upstream.js';
import { closedPortUrl, download, newCall, thrown } from './fixtures/upstream-kit.js';
import { ADMIN_TOKEN, call, removeDir, startGateway, tempDir, until, type TestGateway } from './helpers.js';

const T = { timeout: 20_000 };
const settings = (base: string, over: Partial<ChannelSettings> = {}): ChannelSettings => ({
  name: 'main', baseUrl: base, apiKey: 'fixture-key', model: 'dall-e-3', requestTimeoutMs: 2000, ...over,
});
let k = 0;
const submitReq = (input: Record<string, unknown> = { prompt: 'a cat' }) => ({ idempotencyKey: `task-${++k}`, input: input as never, callbackUrl: null });

describe('OpenAI images adapter against the fixture upstream', () => {
  let up: OpenAIImagesUpstream;
  before(async () => {
    up = await startOpenAIImagesUpstream({ delayMs: 40 });
  });
  after(() => up.close());
  const reset = (): void => {
    up.faults = [];
    up.options.delayMs = 40;
    up.options.resultTtlMs = null;
  };

  test('DALL·E: the call holds until the images exist; the poll answers succeeded from the reference, with no request', T, async () => {
    reset();
    const adapter = createOpenAIImagesAdapter(settings(up.base));
    assert.deepEqual([adapter.protocol, adapter.recovery, adapter.batchSize, adapter.cancel, adapter.lookup], ['openai-images', 'none', 100, undefined, undefined]);
    const ref = await adapter.submit(submitReq({ prompt: 'a red fox', size: '1024x1024', quality: 'hd', model: 'ignored', stream: true, partial_images: 2 }), newCall());
    const sent = up.requests.at(-1)!;
    assert.deepEqual([sent.method, sent.path, sent.headers.authorization], ['POST', '/v1/images/generations', 'Bearer fixture-key']);
    assert.deepEqual(sent.body, { prompt: 'a red fox', size: '1024x1024', quality: 'hd', model: 'dall-e-3' }, 'input passes through; the channel model wins; no streaming');
    const task = [...up.tasks.values()].at(-1)!;
    assert.match(ref.id, /^img_[0-9a-f-]{36}$/);
    assert.deepEqual(ref.data, {
      model: 'dall-e-3', outputs: [{ url: `${up.url}/files/${task.id}/0.png` }], created: Math.floor(task.createdAt / 1000),
      request_id: `req_${task.id}`, revised_prompt: 'A detailed rendering of a red fox',
    });
    const requests = up.requests.length;
    const status = (await adapter.poll([ref], newCall())).get(ref.id);
    assert.deepEqual(status, { state: 'succeeded', raw: 'completed', outputs: [{ url: `${up.url}/files/${task.id}/0.png` }], data: { revised_prompt: 'A detailed rendering of a red fox' } });
    assert.equal(up.requests.length, requests, 'a poll sends nothing');
    assert.equal((await download(`${up.url}/files/${task.id}/0.png`)).status, 200);
  });

  test('gpt-image and response_format b64_json: the images travel as data: URLs with their content type', T, async () => {
    reset();
    const gpt = createOpenAIImagesAdapter(settings(up.base, { model: 'gpt-image-1' }));
    const ref = await gpt.submit(submitReq({ prompt: 'two boats', n: 2, output_format: 'webp' }), newCall());
    const task = [...up.tasks.values()].at(-1)!;
    const status = (await gpt.poll([ref], newCall())).get(ref.id);
    assert.ok(status?.state === 'succeeded');
    assert.deepEqual(status.outputs, [0, 1].map((i) => ({
      url: `data:image/webp;base64,${up.imageBytes(task, i).toString('base64')}`, contentType: 'image/webp', name: `image-${i + 1}.webp`,
    })));
    assert.equal(status.data, undefined, 'gpt-image revises no prompt');

    const dalle2 = createOpenAIImagesAdapter(settings(up.base, { model: 'dall-e-2' }));
    const ref2 = await dalle2.submit(submitReq({ prompt: 'a kite', response_format: 'b64_json' }), newCall());
    assert.equal(up.requests.at(-1)!.body && (up.requests.at(-1)!.body as { response_format?: string }).response_format, 'b64_json');
    const s2 = (await dalle2.poll([ref2], newCall())).get(ref2.id);
    assert.ok(s2?.state === 'succeeded' && s2.outputs[0]!.url.startsWith('data:image/png;base64,') && s2.outputs[0]!.name === 'image-1.png');
  });

  test('many references in one poll call: all answered, none requested; a reference without outputs fails', T, async () => {
    reset();
    const adapter = createOpenAIImagesAdapter(settings(up.base));
    const refs = await Promise.all(Array.from({ length: 20 }, () => adapter.submit(submitReq(), newCall())));
    const broken: UpstreamRef = { id: 'img_broken', urls: {}, data: { model: 'dall-e-3', outputs: 'nope' } };
    const requests = up.requests.length;
    const statuses = await adapter.poll([...refs, broken], newCall());
    assert.equal(up.requests.length, requests);
    assert.ok(refs.every((r) => statuses.get(r.id)?.state === 'succeeded'));
    assert.equal(new Set(refs.map((r) => r.id)).size, 20, 'every reference its own id');
    assert.deepEqual(statuses.get('img_broken'), { state: 'failed', raw: 'unreadable', error: { code: 'api_error', message: 'The stored upstream result cannot be read' } });
  });

  test('refusals and errors are classified: moderation → forbidden, the channel’s account → fail over, 429 keeps its wait', T, async () => {
    reset();
    const adapter = createOpenAIImagesAdapter(settings(up.base));
    for (const model of ['dall-e-3', 'gpt-image-1']) {
      const moderated = await thrown(() => createOpenAIImagesAdapter(settings(up.base, { model })).submit(submitReq({ prompt: 'a fixture-nsfw scene' }), newCall()));
      assert.ok(moderated instanceof UpstreamRejected && moderated.code === 'forbidden', `${model}: ${String(moderated)}`);
    }
    assert.match(String(await thrown(() => adapter.submit(submitReq({ prompt: 'a fixture-nsfw scene' }), newCall()))), /content_policy_violation/);
    const noPrompt = await thrown(() => adapter.submit(submitReq({ size: '1024x1024' }), newCall()));
    assert.ok(noPrompt instanceof UpstreamRejected && noPrompt.code === 'bad_request', String(noPrompt));
    const tooMany = await thrown(() => adapter.submit(submitReq({ prompt: 'x', n: 4 }), newCall()));
    assert.ok(tooMany instanceof UpstreamRejected && tooMany.code === 'bad_request', String(tooMany));
    const wrongKey = await thrown(() => createOpenAIImagesAdapter(settings(up.base, { apiKey: 'sk-wrong' })).submit(submitReq(), newCall()));
    assert.ok(wrongKey instanceof UpstreamUnavailable, String(wrongKey));

    const cases: Array<[string, object, (err: unknown) => boolean]> = [
      ['429 + retry-after', { status: 429, headers: { 'retry-after': '3' } }, (e) => e instanceof UpstreamRateLimited && e.retryAfterMs === 3000],
      ['429 + retry-after-ms', { status: 429, headers: { 'retry-after-ms': '750', 'retry-after': '9' } }, (e) => e instanceof UpstreamRateLimited && e.retryAfterMs === 750],
      ['429 insufficient_quota', { status: 429, body: { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } } }, (e) => e instanceof UpstreamUnavailable],
      ['400 billing limit', { status: 400, body: { error: { message: 'Billing hard limit has been reached', type: 'invalid_request_error', param: null, code: 'billing_hard_limit_reached' } } }, (e) => e instanceof UpstreamUnavailable],
      ['404 model', { status: 404, body: { error: { message: 'The model `dall-e-3` does not exist', type: 'invalid_request_error', param: null, code: 'model_not_found' } } }, (e) => e instanceof UpstreamUnavailable],
      ['403 unverified', { status: 403, body: { error: { message: 'Your organization must be verified', type: 'invalid_request_error', param: null, code: null } } }, (e) => e instanceof UpstreamUnavailable],
      ['400 safety, no code', { status: 400, body: { error: { message: 'Your request was rejected by the safety system.', type: 'image_generation_user_error', param: null, code: null } } }, (e) => e instanceof UpstreamRejected && e.code === 'forbidden'],
      ['500', { status: 500 }, (e) => e instanceof UpstreamUnavailable],
      ['502 html', { status: 502, body: '<html>bad gateway</html>' }, (e) => e instanceof UpstreamUnavailable],
      ['503', { status: 503 }, (e) => e instanceof UpstreamUnavailable],
      ['504: maybe made', { status: 504 }, (e) => e instanceof UpstreamAmbiguous],
    ];
    for (const [what, fault, ok] of cases) {
      up.inject({ kind: 'status', route: 'create', times: 1, ...fault } as never);
      const err = await thrown(() => adapter.submit(submitReq(), newCall()));
      assert.ok(ok(err), `${what}: ${String(err)}`);
    }
    up.options.outcome = () => ({ kind: 'fail', code: 'server_error', message: 'x' });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable, 'a failed generation (500 server_error) fails over');
    up.options.outcome = () => ({ kind: 'success' });
  });

  test('connection refused is unavailable (nothing was sent)', T, async () => {
    const adapter = createOpenAIImagesAdapter(settings(`${await closedPortUrl()}/v1`));
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable);
  });

  test('slow, dropped or junk answers are ambiguous (the images may have been made; OpenAI cannot be asked)', T, async () => {
    reset();
    const adapter = createOpenAIImagesAdapter(settings(up.base, { requestTimeoutMs: 300 }));
    const faults = [
      { kind: 'slow', route: 'create', delayMs: 1500, times: 1 },
      { kind: 'drop', route: 'create', times: 1 },
      { kind: 'junk', route: 'create', times: 1 },
      { kind: 'junk', route: 'create', text: '<html>oops</html>', times: 1 },
      { kind: 'status', route: 'create', status: 200, body: { created: 1, data: [] }, times: 1 },
      { kind: 'status', route: 'create', status: 200, body: { created: 1, data: [{ b64_json: 'not base64!' }] }, times: 1 },
      { kind: 'status', route: 'create', status: 200, body: { created: 1, data: [{ url: 'ftp://x/y.png' }] }, times: 1 },
    ] as const;
    for (const fault of faults) {
      const before = up.tasks.size;
      up.inject({ ...fault });
      const err = await thrown(() => adapter.submit(submitReq(), newCall()));
      assert.ok(err instanceof UpstreamAmbiguous, `${JSON.stringify(fault)}: ${String(err)}`);
      if (fault.kind !== 'status') assert.equal(up.tasks.size, before + 1, 'the upstream did make the images');
    }
  });

  test('an answer longer than taskgate reads fails the task (no other channel would do better)', T, async () => {
    reset();
    const adapter = createOpenAIImagesAdapter(settings(up.base));
    up.inject({ kind: 'status', route: 'create', status: 200, body: { created: 1, data: [{ b64_json: 'A'.repeat(9 * 1024 * 1024) }] }, times: 1 });
    const err = await thrown(() => adapter.submit(submitReq(), newCall()));
    assert.ok(err instanceof UpstreamRejected && err.code === 'api_error', String(err));
    assert.match(err.message, /fewer or smaller images/);
  });
});

describe('OutputCopier: data: URLs', () => {
  const dir = tempDir('taskgate-copier-');
  const files = createFileSink(join(dir, 'files'));
  const copier = new OutputCopier({ allowPrivate: false, trustedHosts: new Set(), maxBytes: 64, timeoutMs: 1000 });
  after(async () => {
    await copier.close();
    removeDir(dir);
  });
  const signal = new AbortController().signal;

  test('a base64 data: URL is decoded into the file store; name and type from the output or the URL', T, async () => {
    const bytes = Buffer.from('0123456789 png bytes');
    const [named, plain] = await copier.copy([
      { url: `data:image/png;base64,${bytes.toString('base64')}`, contentType: 'image/png', name: 'image-1.png' },
      { url: `data:image/jpeg;base64,${Buffer.from('jpeg!').toString('base64')}` },
    ], files, signal);
    assert.deepEqual([named?.contentType, named?.bytes, named?.kind], ['image/png', bytes.length, 'image']);
    assert.match(named!.path, /^\/files\/[0-9a-f]{32}\/image-1\.png$/);
    assert.deepEqual(readFileSync(join(dir, named!.path)), bytes);
    assert.match(plain!.path, /\/output-2\.jpg$/);
    assert.equal(plain?.contentType, 'image/jpeg');
  });

  test('refused: over maxBytes (before decoding), not base64, empty, not base64-encoded', T, async () => {
    const cases = [
      `data:image/png;base64,${Buffer.alloc(65).toString('base64')}`,
      'data:image/png;base64,@@@@',
      'data:image/png;base64,abc',
      'data:image/png;base64,',
      'data:text/plain,hello',
    ];
    for (const url of cases) assert.ok((await thrown(() => copier.copy([{ url }], files, signal))) instanceof UpstreamUnavailable, url);
    assert.equal((await copier.copy([{ url: `data:image/png;base64,${Buffer.alloc(64).toString('base64')}` }], files, signal))[0]?.bytes, 64, 'exactly maxBytes is fine');
  });
});

describe('relay end to end: a gateway in front of the OpenAI images fixture', () => {
  let up: OpenAIImagesUpstream;
  let a: TestGateway;
  const POLL = { initialMs: 20, maxMs: 100, factor: 1.5 };
  before(async () => {
    up = await startOpenAIImagesUpstream({ token: 'sk-fixture', delayMs: 50 });
    const channel = (name: string, model: string) => ({ name, provider: 'openai-images', baseUrl: up.base, apiKey: 'sk-fixture', model, requestTimeoutMs: 5000, poll: POLL });
    const service = (ch: object, extra: object = {}) => ({ mode: 'async', timeoutMs: 20_000, channels: [ch], ...extra });
    a = await startGateway({
      config: { relay: { pollTickMs: 20 } },
      services: {
        'relay/gpt-image': service(channel('openai-gpt', 'gpt-image-1')),
        'relay/dalle': service(channel('openai-dalle', 'dall-e-3')),
        'relay/priced': service(channel('openai-priced', 'gpt-image-1'), { price: 2 }),
      },
    });
  });
  after(async () => {
    await a.close();
    await up.close();
  });

  const finished = (id: string) => until(`task ${id} to finish`, async () => {
    const r = await a.call('POST', '/v1/relay/tasks', { body: { action: 'retrieve', id } });
    return r.json?.finished_at !== undefined ? r.json : undefined;
  }, 15_000);

  test('gpt-image (b64_json) and DALL·E (url): created over the task API, the images download from the gateway', T, async () => {
    for (const [service, model] of [['relay/gpt-image', 'gpt-image-1'], ['relay/dalle', 'dall-e-3']] as const) {
      const created = await a.call('POST', `/v1/${service}`, { body: { prompt: `a lighthouse by ${model}`, async: true } });
      assert.equal(created.status, 200, created.text);
      const done = await finished(created.json.task_id);
      assert.equal(done.response.success, true, JSON.stringify(done.response));
      const url: string = done.response.data[0].url;
      assert.ok(url.startsWith(`${a.url}/files/`), url);
      const task = [...up.tasks.values()].find((t) => t.input.prompt === `a lighthouse by ${model}`)!;
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      const body = Buffer.from(await res.arrayBuffer());
      const expected = model === 'gpt-image-1' ? up.imageBytes(task, 0) : Buffer.from(`fixture png of ${task.id}`);
      assert.deepEqual(body, expected, `${model}: the upstream's image, byte for byte`);
      assert.doesNotMatch(JSON.stringify(done), new RegExp(`${up.url}|openai-|base64|req_`), 'nothing of the upstream shows');
    }
  });

  test('a dropped answer ends the task with api_error, refunded, after exactly one upstream call', T, async () => {
    const topup = await call(a.url, 'POST', `/admin/accounts/${a.ownerId}/topup`, ADMIN_TOKEN, { body: { amount: 10, reason: 'test' } });
    assert.equal(topup.status, 200, topup.text);
    const creates = up.count('create');
    up.inject({ kind: 'drop', route: 'create', times: 1 });
    const created = await a.call('POST', '/v1/relay/priced', { body: { prompt: 'lost answer', async: true } });
    const done = await finished(created.json.task_id);
    assert.equal(done.response.error.code, 'api_error', JSON.stringify(done.response));
    assert.match(done.response.error.message, /did not answer/);
    assert.equal(up.count('create'), creates + 1, 'never sent again');
    const refused = await a.call('POST', '/v1/relay/priced', { body: { prompt: 'a fixture-nsfw scene', async: true } });
    assert.equal((await finished(refused.json.task_id)).response.error.code, 'forbidden');
    assert.deepEqual((await a.call('GET', '/v1/account/balance')).json, { balance: 10, held: 0, used: 0 });
  });
});
