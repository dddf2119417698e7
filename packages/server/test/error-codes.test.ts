/**
 * Every error code of seed 000's table, reached through real requests in each of the four
 * dialects and answered in that dialect's own envelope. Codes a request can hit are checked on
 * the create; `api_error` and `timeout` happen to a task, so they are checked where each dialect
 * reports a failed task (the task API's waiting create, APIXO's status, fal's result, Replicate's
 * prediction).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, startGateway, type CallOptions, type Reply, type TestGateway } from './helpers.js';

const SERVICES = {
  'paid/image': {
    provider: 'demo-image', mode: 'wait', price: 5, options: { latencyMs: 10, steps: 1, defaultWidth: 64, defaultHeight: 64 },
    aliases: { apixo: ['paid'], queue: ['acme/paid/image'], replicate: ['acme/paid'] },
  },
  'late/image': {
    provider: 'demo-image', mode: 'wait', timeoutMs: 100, options: { latencyMs: 2000 },
    aliases: { apixo: ['late'], queue: ['acme/late/image'], replicate: ['acme/late'] },
  },
};

type Target = 'flux' | 'paid' | 'late' | 'nope';
type Code =
  | 'bad_request' | 'no_token' | 'invalid_token' | 'token_expired' | 'token_mismatched' | 'disabled'
  | 'used_up' | 'forbidden' | 'no_api' | 'too_many_requests' | 'api_error' | 'timeout';

/** The seed 000 table, in its order. */
const SEED_CODES: Code[] = [
  'bad_request', 'no_token', 'invalid_token', 'token_expired', 'token_mismatched', 'disabled',
  'used_up', 'forbidden', 'no_api', 'too_many_requests', 'api_error', 'timeout',
];

/** [HTTP status, the body the dialect answers] for each request-level code. */
type Expected = Record<Exclude<Code, 'api_error' | 'timeout'>, [number, (body: Reply['json']) => void]>;

interface Dialect {
  name: string;
  create(t: TestGateway, target: Target, input: Record<string, unknown> | undefined, opts?: CallOptions): Promise<Reply>;
  expected: Expected;
  /** Waits for the created task's failure and checks how this dialect reports `code`. */
  failure(t: TestGateway, created: Reply, code: 'api_error' | 'timeout'): Promise<void>;
}

const MODERATION = 'The input was rejected by content moderation';
const RATE = 'Rate limit exceeded, please try again later';

/** Polls `get` (bounded) until `done` holds. */
async function until(get: () => Promise<Reply>, done: (r: Reply) => boolean): Promise<Reply> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await get();
    if (done(r) || Date.now() > deadline) return r;
    await sleep(20);
  }
}

const taskApiError = (code: string, message?: RegExp) => (b: Reply['json']): void => {
  assert.equal(b.error.code, code);
  if (message) assert.match(b.error.message, message);
  assert.equal(typeof b.trace_id, 'string');
};
const apixoError = (status: number, message: string, error: RegExp, failCode?: string) => (b: Reply['json']): void => {
  assert.deepEqual([b.code, b.message, b.data.failCode], [status, message, failCode]);
  assert.match(b.data.error, error);
};
const queueAuth = (message: RegExp) => (b: Reply['json']): void => {
  assert.equal(b.error.code, 'UNAUTHORIZED');
  assert.match(b.error.message, message);
  assert.equal(typeof b.request_id, 'string');
};
const detail = (text: RegExp) => (b: Reply['json']): void => {
  assert.deepEqual(Object.keys(b), ['detail']);
  assert.match(b.detail, text);
};
const problem = (status: number, title: string, text: RegExp) => (b: Reply['json']): void => {
  assert.deepEqual([b.status, b.title], [status, title]);
  assert.match(b.detail, text);
};

const DIALECTS: Dialect[] = [
  {
    name: 'task API',
    create: (t, target, input, opts = {}) =>
      t.call('POST', `/v1/${{ flux: 'flux/dev', paid: 'paid/image', late: 'late/image', nope: 'nope/x' }[target]}`, { body: input, ...opts }),
    expected: {
      bad_request: [400, taskApiError('bad_request', /Malformed JSON/)],
      no_token: [400, taskApiError('no_token')],
      invalid_token: [401, taskApiError('invalid_token')],
      token_expired: [401, taskApiError('token_expired')],
      token_mismatched: [401, taskApiError('token_mismatched', /flux\/dev/)],
      disabled: [403, taskApiError('disabled')],
      used_up: [403, taskApiError('used_up', /costs 5 credits/)],
      forbidden: [403, taskApiError('forbidden', /moderation/)],
      no_api: [404, taskApiError('no_api')],
      too_many_requests: [429, taskApiError('too_many_requests')],
    },
    // A `wait` service answers the create itself with the failure once the task fails.
    failure: async (_t, created, code) => {
      assert.equal(created.status, code === 'timeout' ? 504 : 500);
      taskApiError(code)(created.json);
      assert.equal(typeof created.json.task_id, 'string');
    },
  },
  {
    name: 'APIXO',
    create: (t, target, input, opts = {}) =>
      t.call('POST', `/api/v1/generateTask/${{ flux: 'flux-dev', paid: 'paid', late: 'late', nope: 'nope' }[target]}`, { body: input && { input }, ...opts }),
    expected: {
      bad_request: [400, apixoError(400, 'Invalid request', /Malformed JSON/)],
      no_token: [401, apixoError(401, 'Unauthorized', /Missing Authorization/)],
      invalid_token: [401, apixoError(401, 'Unauthorized', /invalid/)],
      token_expired: [401, apixoError(401, 'Unauthorized', /expired/)],
      token_mismatched: [401, apixoError(401, 'Unauthorized', /not allowed/)],
      disabled: [403, apixoError(403, 'Forbidden', /disabled/)],
      used_up: [403, apixoError(403, 'Forbidden', /Balance exhausted/, 'INSUFFICIENT_CREDITS')],
      forbidden: [403, apixoError(403, 'Forbidden', /moderation/, 'CONTENT_VIOLATION')],
      no_api: [404, apixoError(404, 'Not found', /not found/)],
      too_many_requests: [429, apixoError(429, 'Too many requests', /Rate limit/)],
    },
    failure: async (t, created, code) => {
      assert.equal(created.status, 200);
      const model = code === 'timeout' ? 'late' : 'flux-dev';
      const r = await until(() => t.call('GET', `/api/v1/statusTask/${model}?taskId=${created.json.data.taskId}`), (x) => x.json?.data?.state === 'failed');
      assert.equal(r.json.data.state, 'failed');
      assert.equal(r.json.data.failCode, code === 'timeout' ? 'PROCESSING_TIMEOUT' : 'GENERATION_FAILED');
      assert.equal(typeof r.json.data.failMsg, 'string');
    },
  },
  {
    name: 'queue',
    create: (t, target, input, opts = {}) =>
      t.call('POST', `/v1/queue/${{ flux: 'fal-ai/flux/dev', paid: 'acme/paid/image', late: 'acme/late/image', nope: 'nope/x' }[target]}`, { body: input, ...opts }),
    expected: {
      bad_request: [400, detail(/Malformed JSON/)],
      no_token: [401, queueAuth(/token is required/)],
      invalid_token: [401, queueAuth(/invalid/)],
      token_expired: [401, queueAuth(/expired/)],
      token_mismatched: [403, (b) => assert.deepEqual(b, { detail: 'Model not allowed for this user' })],
      disabled: [401, queueAuth(/disabled/)],
      used_up: [403, detail(/Balance exhausted/)],
      forbidden: [403, (b) => assert.deepEqual(b, { detail: MODERATION })],
      no_api: [404, detail(/App not found/)],
      too_many_requests: [429, (b) => assert.deepEqual(b.error, { code: 'RATE_LIMIT_EXCEEDED', message: RATE })],
    },
    failure: async (t, created, code) => {
      assert.equal(created.status, 200);
      const done = await until(() => t.call('GET', new URL(created.json.status_url).pathname), (x) => x.json?.status === 'COMPLETED');
      assert.equal(done.json.status, 'COMPLETED');
      const result = await t.call('GET', new URL(created.json.response_url).pathname);
      if (code === 'timeout') {
        assert.deepEqual([result.status, result.json.error_type], [504, 'request_timeout']);
      } else {
        assert.deepEqual([result.status, result.json], [500, { detail: 'The provider failed to generate a result', error_type: 'runtime_error' }]);
      }
    },
  },
  {
    name: 'Replicate',
    create: (t, target, input, opts = {}) =>
      t.call('POST', `/v1/models/${{ flux: 'black-forest-labs/flux-dev', paid: 'acme/paid', late: 'acme/late', nope: 'nope/x' }[target]}/predictions`, {
        body: input && { input }, ...opts,
      }),
    expected: {
      bad_request: [400, problem(400, 'Bad request', /Malformed JSON/)],
      no_token: [401, problem(401, 'Unauthenticated', /did not pass an authentication token/)],
      invalid_token: [401, problem(401, 'Unauthenticated', /valid authentication token/)],
      token_expired: [401, problem(401, 'Unauthenticated', /expired/)],
      token_mismatched: [401, problem(401, 'Unauthenticated', /not allowed to use service flux\/dev/)],
      disabled: [403, problem(403, 'Forbidden', /disabled/)],
      used_up: [403, problem(403, 'Forbidden', /Balance exhausted/)],
      forbidden: [403, problem(403, 'Forbidden', /moderation/)],
      no_api: [404, problem(404, 'Not found', /nope\/x not found/)],
      too_many_requests: [429, problem(429, 'Too many requests', /Rate limit/)],
    },
    failure: async (t, created, code) => {
      assert.equal(created.status, 201);
      const r = await until(() => t.call('GET', `/v1/predictions/${created.json.id}`), (x) => x.json?.status === 'failed');
      assert.equal(r.json.status, 'failed');
      assert.match(r.json.error, code === 'timeout' ? /timeout/ : /failed to generate/);
    },
  },
];

describe('every seed 000 error code in every dialect', () => {
  let t: TestGateway;
  const tokens = { expired: '', scoped: '', disabled: '', limited: '' };

  before(async () => {
    t = await startGateway({ services: SERVICES, config: { moderation: { words: ['badword'] } } });
    const make = async (body: Record<string, unknown>): Promise<{ id: string; token: string }> => {
      const r = await t.call('POST', '/admin/tokens', { token: ADMIN_TOKEN, body: { name: 'codes', ...body } });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    tokens.expired = (await make({ expires_at: '2020-01-01T00:00:00Z' })).token;
    tokens.scoped = (await make({ allowed_services: ['midjourney/*'] })).token;
    const off = await make({});
    assert.equal((await t.call('POST', `/admin/tokens/${off.id}/disable`, { token: ADMIN_TOKEN })).status, 200);
    tokens.disabled = off.token;
  });
  after(() => t.close());

  test('the table lists each code once, and the catalog has them all', () => {
    assert.equal(new Set(SEED_CODES).size, 12);
    for (const d of DIALECTS) assert.deepEqual([...Object.keys(d.expected), 'api_error', 'timeout'].sort(), [...SEED_CODES].sort(), d.name);
  });

  for (const d of DIALECTS) {
    test(`${d.name}: each request-level code in its own envelope`, async () => {
      // A fresh token limited to one request a second: its second request is over the limit.
      const limited = (await t.call('POST', '/admin/tokens', { token: ADMIN_TOKEN, body: { name: `rps-${d.name}`, rate_limit_rps: 1 } })).json.token;
      const triggers: Record<keyof Expected, () => Promise<Reply>> = {
        bad_request: () => d.create(t, 'flux', undefined, { raw: '{' }),
        no_token: () => d.create(t, 'flux', { prompt: 'x' }, { token: null }),
        invalid_token: () => d.create(t, 'flux', { prompt: 'x' }, { token: 'tg_not_a_token' }),
        token_expired: () => d.create(t, 'flux', { prompt: 'x' }, { token: tokens.expired }),
        token_mismatched: () => d.create(t, 'flux', { prompt: 'x' }, { token: tokens.scoped }),
        disabled: () => d.create(t, 'flux', { prompt: 'x' }, { token: tokens.disabled }),
        used_up: () => d.create(t, 'paid', { prompt: 'x' }),
        forbidden: () => d.create(t, 'flux', { prompt: 'a BadWord here' }),
        no_api: () => d.create(t, 'nope', { prompt: 'x' }),
        too_many_requests: async () => {
          const spent = await t.call('GET', '/v1/account/balance', { token: limited }); // the one request of this second
          assert.equal(spent.status, 200);
          return d.create(t, 'flux', { prompt: 'x' }, { token: limited });
        },
      };
      for (const [code, trigger] of Object.entries(triggers) as Array<[keyof Expected, () => Promise<Reply>]>) {
        const r = await trigger();
        const [status, check] = d.expected[code];
        assert.equal(r.status, status, `${d.name} ${code}: ${r.text}`);
        check(r.json);
        if (code === 'too_many_requests') assert.equal(r.headers.get('retry-after'), '1');
      }
    });

    test(`${d.name}: api_error and timeout as this dialect reports a failed task`, async () => {
      await d.failure(t, await d.create(t, 'flux', { prompt: 'fail-demo-word' }), 'api_error');
      await d.failure(t, await d.create(t, 'late', { prompt: 'too slow' }), 'timeout');
    });
  }
});
