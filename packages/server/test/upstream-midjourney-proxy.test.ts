/**
 * The midjourney-proxy upstream adapter against its fixture upstream (faults injected per test),
 * and a gateway relaying to the fixture end to end. Everything on 127.0.0.1, every test bounded
 * in time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable, type ChannelSettings, type UpstreamRef,
} from '../src/core/upstream.js';
import { createMidjourneyProxyAdapter } from '../src/providers/upstream/midjourney-proxy/adapter.js';
import { startMidjourneyProxyUpstream, type MidjourneyProxyUpstream } from './fixtures/midjourney-proxy-upstream.js';
import { wait } from './fixtures/upstream-base.js';
import { closedPortUrl, download, newCall, pollUntilDone, startReceiver, thrown } from './fixtures/upstream-kit.js';
import { ADMIN_TOKEN, call, startGateway, until, type TestGateway } from './helpers.js';

const T = { timeout: 20_000 };
const settings = (base: string, over: Partial<ChannelSettings> = {}): ChannelSettings => ({
  name: 'main', baseUrl: base, apiKey: 'fixture-key', model: 'midjourney', requestTimeoutMs: 2000, ...over,
});
let n = 0;
const submitReq = (prompt = 'a cat', callbackUrl: string | null = null, extra: Record<string, string> = {}) => ({ idempotencyKey: `task-${++n}`, input: { prompt, ...extra }, callbackUrl });
const ref = (id: string): UpstreamRef => ({ id, urls: {}, data: { code: 1 } });

describe('midjourney-proxy adapter against the fixture upstream', () => {
  let up: MidjourneyProxyUpstream;
  before(async () => {
    up = await startMidjourneyProxyUpstream();
  });
  after(() => up.close());
  const reset = (): void => {
    up.faults = [];
    up.options.delayMs = 60;
    up.options.loseCallbacks = false;
    up.listByCondition = true;
    up.submitCode = 1;
  };

  test('submit sends imagine with mj-api-secret; list-by-condition goes SUBMITTED → IN_PROGRESS (NN%) → SUCCESS', T, async () => {
    reset();
    up.options.delayMs = 1500; // queued for 750 ms, then running until 1500 ms
    const adapter = createMidjourneyProxyAdapter(settings(up.base));
    assert.deepEqual([adapter.protocol, adapter.recovery, adapter.batchSize, adapter.cancel, adapter.lookup], ['midjourney-proxy', 'none', 100, undefined, undefined]);
    const req = submitReq('a red fox --ar 16:9', 'http://127.0.0.1:1/cb/secret', { base64Array: 'ignored-type', notifyHook: 'http://evil.example/steal' });
    const r = await adapter.submit(req, newCall());
    const sent = up.requests.at(-1)!;
    assert.deepEqual([sent.method, sent.path, sent.headers['mj-api-secret'], sent.headers.authorization], ['POST', '/mj/submit/imagine', 'fixture-key', undefined]);
    assert.deepEqual(sent.body, { prompt: 'a red fox --ar 16:9', base64Array: 'ignored-type', state: req.idempotencyKey, notifyHook: 'http://127.0.0.1:1/cb/secret' }, 'our callback, never the client’s');
    assert.match(r.id, /^\d{16}$/);
    assert.ok(up.tasks.has(r.id));

    const queued = (await adapter.poll([r], newCall())).get(r.id);
    assert.ok(queued?.state === 'queued' && ['NOT_START', 'SUBMITTED'].includes(queued.raw ?? '') && queued.progress === 0, JSON.stringify(queued));
    const poll = up.requests.at(-1)!;
    assert.deepEqual([poll.method, poll.path, poll.body, poll.headers['mj-api-secret']], ['POST', '/mj/task/list-by-condition', { ids: [r.id] }, 'fixture-key']);
    await wait(1100);
    const running = (await adapter.poll([r], newCall())).get(r.id);
    assert.ok(running?.state === 'running' && running.raw === 'IN_PROGRESS' && running.progress !== null && running.progress > 0 && running.progress < 1, JSON.stringify(running));
    const done = (await pollUntilDone(adapter, [r])).get(r.id);
    assert.deepEqual(done, { state: 'succeeded', raw: 'SUCCESS', outputs: [{ url: `${up.url}/files/${r.id}/0.png` }] });
    assert.equal((await download(`${up.url}/files/${r.id}/0.png`)).status, 200);
  });

  test('notifyHook gets the finished task object (fire and forget)', T, async () => {
    reset();
    const receiver = await startReceiver();
    try {
      const r = await createMidjourneyProxyAdapter(settings(up.base)).submit(submitReq('called back', `${receiver.url}/cb`), newCall());
      const [body] = await until('the notifyHook', () => (receiver.bodies.length > 0 ? receiver.bodies : undefined), 5000);
      assert.deepEqual([body?.id, body?.status, body?.progress, body?.action], [r.id, 'SUCCESS', '100%', 'IMAGINE']);
    } finally {
      await receiver.close();
    }
  });

  test('150 tasks are polled in two list-by-condition requests (100 + 50); unknown ids are left out', T, async () => {
    reset();
    const adapter = createMidjourneyProxyAdapter(settings(up.base));
    const refs = await Promise.all(Array.from({ length: 150 }, () => adapter.submit(submitReq(), newCall())));
    assert.equal(new Set(refs.map((r) => r.id)).size, 150);
    await wait(100);
    const before = up.count('poll');
    const statuses = await adapter.poll([...refs, ref('9999999999999999')], newCall());
    const polls = up.requests.filter((r) => r.route === 'poll').slice(-2);
    assert.equal(up.count('poll') - before, 2);
    assert.deepEqual(polls.map((p) => (p.body as { ids: string[] }).ids.length).sort((x, y) => x - y), [51, 100]);
    assert.equal(statuses.size, 150);
    assert.ok([...statuses.values()].every((s) => s.state === 'succeeded'));
  });

  test('FAILURE wins over progress "100%" (new-api #163); failReasons map to forbidden, timeout, api_error; CANCEL is cancelled', T, async () => {
    reset();
    up.options.outcome = (input) => {
      const p = String(input.prompt);
      if (p === 'cancel') return { kind: 'cancel' };
      return p === 'ok' ? { kind: 'success' } : { kind: 'fail', code: 'x', message: p };
    };
    const adapter = createMidjourneyProxyAdapter(settings(up.base));
    const reasons = ['Something broke at Discord', 'Banned prompt detected: gore', '可能包含敏感词', 'Sorry! Our AI moderator thinks this prompt is probably against our community standards.', '任务超时', 'Job timed out', 'cancel'];
    const refs: UpstreamRef[] = [];
    for (const p of reasons) refs.push(await adapter.submit(submitReq(p), newCall()));
    const done = await pollUntilDone(adapter, refs);
    const raw = up.tasks.get(refs[0]!.id)!;
    assert.deepEqual([up.task(raw).status, up.task(raw).progress], ['FAILURE', '100%'], 'the fixture says 100 % and FAILURE');
    assert.deepEqual(refs.map((r) => done.get(r.id)), [
      { state: 'failed', raw: 'FAILURE', error: { code: 'api_error', message: 'Something broke at Discord' } },
      { state: 'failed', raw: 'FAILURE', error: { code: 'forbidden', message: 'Banned prompt detected: gore' } },
      { state: 'failed', raw: 'FAILURE', error: { code: 'forbidden', message: '可能包含敏感词' } },
      { state: 'failed', raw: 'FAILURE', error: { code: 'forbidden', message: reasons[3] } },
      { state: 'failed', raw: 'FAILURE', error: { code: 'timeout', message: '任务超时' } },
      { state: 'failed', raw: 'FAILURE', error: { code: 'timeout', message: 'Job timed out' } },
      { state: 'cancelled', raw: 'CANCEL' },
    ]);
    up.options.outcome = () => ({ kind: 'success' });
  });

  test('submit codes decide: 22/21 accepted, 23 rate limited, 24 forbidden, 4 bad_request, 3/9/other fail over', T, async () => {
    reset();
    const adapter = createMidjourneyProxyAdapter(settings(up.base));
    for (const code of [22, 21] as const) {
      up.submitCode = code;
      const r = await adapter.submit(submitReq(), newCall());
      assert.ok(up.tasks.has(r.id), `code ${code}`);
      assert.deepEqual(r.data, { code });
    }
    up.submitCode = 1;
    const banned = await thrown(() => adapter.submit(submitReq('a fixture-nsfw scene'), newCall()));
    assert.ok(banned instanceof UpstreamRejected && banned.code === 'forbidden', String(banned));
    const blank = await thrown(() => adapter.submit(submitReq('   '), newCall()));
    assert.ok(blank instanceof UpstreamRejected && blank.code === 'bad_request', String(blank));
    const noPrompt = await thrown(() => adapter.submit({ idempotencyKey: 'k', input: { width: 3 }, callbackUrl: null }, newCall()));
    assert.ok(noPrompt instanceof UpstreamRejected && noPrompt.code === 'bad_request', String(noPrompt));
    const wrong = await thrown(() => createMidjourneyProxyAdapter(settings(up.base, { apiKey: 'nope' })).submit(submitReq(), newCall()));
    assert.ok(wrong instanceof UpstreamUnavailable, `401: the channel’s secret: ${String(wrong)}`);
    const misplaced = await thrown(() => createMidjourneyProxyAdapter(settings(`${up.base}/nothing-here`)).submit(submitReq(), newCall()));
    assert.ok(misplaced instanceof UpstreamUnavailable, `404: the channel’s base URL: ${String(misplaced)}`);

    const answer = (code: number, description: string) => ({ kind: 'status', route: 'create', status: 200, body: { code, description, result: null, properties: {} }, times: 1 }) as const;
    up.inject(answer(23, '队列已满，请稍后尝试'));
    const full = await thrown(() => adapter.submit(submitReq(), newCall()));
    assert.ok(full instanceof UpstreamRateLimited && full.retryAfterMs === null, String(full));
    up.inject({ ...answer(23, 'queue full'), headers: { 'retry-after': '5' } });
    assert.equal(((await thrown(() => adapter.submit(submitReq(), newCall()))) as UpstreamRateLimited).retryAfterMs, 5000);
    for (const [code, what] of [[3, '无可用的账号实例'], [9, 'Discord error'], [42, 'something new']] as const) {
      up.inject(answer(code, what));
      const err = await thrown(() => adapter.submit(submitReq(), newCall()));
      assert.ok(err instanceof UpstreamUnavailable && err.message.includes(what), `code ${code}: ${String(err)}`);
    }
    up.inject({ kind: 'status', route: 'create', status: 429, headers: { 'retry-after': '2' }, times: 1 });
    assert.equal(((await thrown(() => adapter.submit(submitReq(), newCall()))) as UpstreamRateLimited).retryAfterMs, 2000);
    for (const status of [500, 502, 503]) {
      up.inject({ kind: 'status', route: 'create', status, times: 1 });
      assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable, `HTTP ${status}`);
    }
    up.inject({ kind: 'status', route: 'create', status: 504, times: 1 });
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamAmbiguous, 'a 504 may hide a created task');
  });

  test('connection refused is unavailable, for submit and poll', T, async () => {
    const adapter = createMidjourneyProxyAdapter(settings(await closedPortUrl()));
    assert.ok((await thrown(() => adapter.submit(submitReq(), newCall()))) instanceof UpstreamUnavailable);
    assert.ok((await thrown(() => adapter.poll([ref('1')], newCall()))) instanceof UpstreamUnavailable);
  });

  test('slow, dropped or junk submit answers are ambiguous (the task may exist upstream; the proxy cannot be asked)', T, async () => {
    reset();
    const adapter = createMidjourneyProxyAdapter(settings(up.base, { requestTimeoutMs: 200 }));
    const faults = [
      { kind: 'slow', route: 'create', delayMs: 1500, times: 1 },
      { kind: 'drop', route: 'create', times: 1 },
      { kind: 'junk', route: 'create', times: 1 },
      { kind: 'status', route: 'create', status: 200, body: { code: 1, description: '提交成功', result: null }, times: 1 },
      { kind: 'status', route: 'create', status: 200, body: { description: 'no code' }, times: 1 },
    ] as const;
    for (const fault of faults) {
      const before = up.tasks.size;
      up.inject({ ...fault });
      const err = await thrown(() => adapter.submit(submitReq(), newCall()));
      assert.ok(err instanceof UpstreamAmbiguous, `${JSON.stringify(fault)}: ${String(err)}`);
      if (fault.kind !== 'status') assert.equal(up.tasks.size, before + 1, 'the upstream did create the task');
    }
  });

  test('poll trouble is transient: junk, errors of the call, slow and cut answers; 429 keeps Retry-After', T, async () => {
    reset();
    const adapter = createMidjourneyProxyAdapter(settings(up.base, { requestTimeoutMs: 200 }));
    const r = await adapter.submit(submitReq(), newCall());
    const faults = [
      { kind: 'junk', route: 'poll', times: 1 },
      { kind: 'junk', route: 'poll', text: '<html>502 Bad Gateway</html>', times: 1 },
      { kind: 'status', route: 'poll', status: 200, body: { code: 1, result: [] }, times: 1 },
      { kind: 'status', route: 'poll', status: 500, times: 1 },
      { kind: 'status', route: 'poll', status: 400, times: 1 },
      { kind: 'status', route: 'poll', status: 401, times: 1 },
      { kind: 'slow', route: 'poll', delayMs: 1000, times: 1 },
      { kind: 'drop', route: 'poll', times: 1 },
    ] as const;
    for (const fault of faults) {
      up.inject({ ...fault });
      const err = await thrown(() => adapter.poll([r], newCall()));
      assert.ok(err instanceof UpstreamUnavailable, `${JSON.stringify(fault)}: ${String(err)}`);
    }
    up.inject({ kind: 'status', route: 'poll', status: 429, headers: { 'retry-after': '2' }, times: 1 });
    const limited = await thrown(() => adapter.poll([r], newCall()));
    assert.ok(limited instanceof UpstreamRateLimited && limited.retryAfterMs === 2000, String(limited));
    assert.equal((await pollUntilDone(adapter, [r])).get(r.id)?.state, 'succeeded', 'and then the task is read');
  });

  test('junk items are left out and the rest of the batch is read (SUCCESS without imageUrl, unknown status, no id)', T, async () => {
    reset();
    const adapter = createMidjourneyProxyAdapter(settings(up.base));
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => adapter.submit(submitReq(), newCall())));
    await wait(100);
    const good = up.task(up.tasks.get(a!.id)!);
    const items = [good, { ...good, id: b!.id, imageUrl: null }, { ...good, id: c!.id, status: 'EXPLODED' }, { status: 'SUCCESS' }, 'x', { ...good, id: 'not-asked' }];
    up.inject({ kind: 'status', route: 'poll', status: 200, body: items, times: 1 });
    const call = newCall();
    const statuses = await adapter.poll([a!, b!, c!], call);
    assert.deepEqual([...statuses.keys()], [a!.id]);
    assert.equal(call.warnings.length, 1, 'the operator hears of it');
  });

  test('a proxy without list-by-condition is asked /mj/task/{id}/fetch per task; an unknown id (empty body) is left out', T, async () => {
    reset();
    up.listByCondition = false;
    const adapter = createMidjourneyProxyAdapter(settings(up.base));
    const refs = await Promise.all([0, 1].map(() => adapter.submit(submitReq(), newCall())));
    await wait(100);
    const before = up.requests.length;
    const statuses = await adapter.poll([...refs, ref('1234567890123456')], newCall());
    const paths = up.requests.slice(before).map((r) => `${r.method} ${r.path}`).sort();
    assert.deepEqual(paths, ['GET /mj/task/1234567890123456/fetch', ...refs.map((r) => `GET /mj/task/${r.id}/fetch`).sort(), 'POST /mj/task/list-by-condition'].sort());
    assert.deepEqual([...statuses.keys()].sort(), refs.map((r) => r.id).sort());
    assert.ok([...statuses.values()].every((s) => s.state === 'succeeded'));
  });
});

describe('relay end to end: a gateway in front of the midjourney-proxy fixture', () => {
  let up: MidjourneyProxyUpstream;
  let a: TestGateway;
  before(async () => {
    up = await startMidjourneyProxyUpstream({ token: 'mj-secret', delayMs: 80 });
    const channel = { name: 'mj-main', provider: 'midjourney-proxy', baseUrl: up.base, apiKey: 'mj-secret', model: 'midjourney', poll: { initialMs: 20, maxMs: 100, factor: 1.5 } };
    a = await startGateway({
      config: { relay: { pollTickMs: 20 } },
      services: {
        'relay/mj': { mode: 'async', timeoutMs: 20_000, channels: [channel] },
        'relay/mj-priced': { mode: 'async', timeoutMs: 20_000, channels: [{ ...channel, name: 'mj-priced' }], price: 3 },
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

  test('created over the task API, polled in batches, the image downloads from the gateway', T, async () => {
    const polls = up.count('poll');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await a.call('POST', '/v1/relay/mj', { body: { prompt: `a castle ${i}`, async: true } })).json.task_id);
    for (const id of ids) {
      const done = await finished(id);
      assert.equal(done.response.success, true, JSON.stringify(done.response));
      const url: string = done.response.data[0].url;
      assert.ok(url.startsWith(`${a.url}/files/`), url);
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.match(Buffer.from(await res.arrayBuffer()).toString(), /^fixture png of \d{16}$/);
      const upstreamId = (await a.gw.tasks.upstream.get(id))?.ref?.id;
      assert.ok(upstreamId && up.tasks.has(upstreamId));
      assert.doesNotMatch(JSON.stringify(done), new RegExp(`${up.url}|mj-main|${upstreamId}`), 'nothing of the upstream shows');
    }
    assert.equal(up.count('create'), 10);
    assert.ok(up.count('poll') - polls < ids.length * 2, `${up.count('poll') - polls} poll requests for ${ids.length} tasks`);
  });

  test('"100 %" + FAILURE ends the task failed and refunded; a banned prompt is forbidden', T, async () => {
    const topup = await call(a.url, 'POST', `/admin/accounts/${a.ownerId}/topup`, ADMIN_TOKEN, { body: { amount: 10, reason: 'test' } });
    assert.equal(topup.status, 200, topup.text);
    const failed = await a.call('POST', '/v1/relay/mj-priced', { body: { prompt: 'please fixture-fail', async: true } });
    const done = await finished(failed.json.task_id);
    assert.deepEqual([done.response.success, done.response.error.code], [false, 'api_error'], JSON.stringify(done.response));
    const banned = await a.call('POST', '/v1/relay/mj-priced', { body: { prompt: 'a fixture-nsfw scene', async: true } });
    assert.equal((await finished(banned.json.task_id)).response.error.code, 'forbidden');
    const found = await a.call('POST', '/v1/relay/mj-priced', { body: { prompt: 'fixture-banned at Discord', async: true } });
    assert.equal((await finished(found.json.task_id)).response.error.code, 'forbidden');
    assert.deepEqual((await a.call('GET', '/v1/account/balance')).json, { balance: 10, held: 0, used: 0 });
  });
});
