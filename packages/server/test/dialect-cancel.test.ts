/**
 * Cancel in the task API (`{"action":"cancel","id"}` on `POST /v1/{vendor}/tasks`) and in APIXO
 * (`POST /api/v1/cancelTask/{model}` `{taskId}`), both taskgate extensions over the core cancel
 * the queue and Replicate dialects use: queued → cancelled at once and refunded; running →
 * stopped (locally, and upstream for a relayed task); finished → left as it is and answered so;
 * another token's id like an unknown one; bad input in each dialect's envelope. Also `progress`
 * in the task API's retrieve / retrieve_batch and APIXO's status while a task runs.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { Task } from '../src/core/types.js';
import { ADMIN_TOKEN, call, startGateway, until, waitForTask, type Reply, type TestGateway } from './helpers.js';

const PRICE = 2;
const SLOW = {
  // One slot, so a second task stays queued; long enough to be seen running with progress.
  'slow/image': {
    provider: 'demo-image', mode: 'async', concurrency: 1, price: PRICE, aliases: { apixo: ['slow-image'] },
    options: { latencyMs: 600, steps: 4, defaultWidth: 64, defaultHeight: 64 },
  },
};

/** A token of its own (so balances do not mix), topped up with `credits`. */
interface User {
  token: string;
  tokenId: string;
  ownerId: string;
  call(method: string, path: string, body?: unknown): Promise<Reply>;
}

function assertTaskApiError(r: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ['error', 'trace_id'], r.text);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message']);
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(r.json.trace_id, r.headers.get('x-trace-id'));
  if (message) assert.match(r.json.error.message, message);
}

function assertApixoError(r: Reply, status: number, message?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ['code', 'data', 'message'], r.text);
  assert.equal(r.json.code, status);
  assert.deepEqual(Object.keys(r.json.data), ['error'], r.text);
  if (message) assert.match(r.json.data.error, message);
}

describe('cancel in the task API and APIXO dialects', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ services: SLOW });
  });
  after(() => t.close());

  async function user(credits: number): Promise<User> {
    const { token, record } = await t.gw.tokens.create(`user ${credits}`);
    if (credits > 0) {
      const r = await t.call('POST', `/admin/accounts/${record.accountId}/topup`, { token: ADMIN_TOKEN, body: { amount: credits, reason: 'test' } });
      assert.equal(r.status, 200, r.text);
    }
    return { token, tokenId: record.id, ownerId: record.accountId, call: (method, path, body) => call(t.url, method, path, token, body === undefined ? {} : { body }) };
  }
  const balance = async (u: User) => (await u.call('GET', '/v1/account/balance')).json;
  const createTaskApi = async (u: User, prompt: string): Promise<string> => {
    const r = await u.call('POST', '/v1/slow/image', { prompt });
    assert.equal(r.status, 200, r.text);
    return r.json.task_id as string;
  };
  const createApixo = async (u: User, prompt: string): Promise<string> => {
    const r = await u.call('POST', '/api/v1/generateTask/slow-image', { input: { prompt } });
    assert.equal(r.status, 200, r.text);
    return r.json.data.taskId as string;
  };
  const cancelTaskApi = (u: User, id: unknown, vendor = 'slow') => u.call('POST', `/v1/${vendor}/tasks`, { action: 'cancel', id });
  const cancelApixo = (u: User, taskId: unknown, model = 'slow-image') => u.call('POST', `/api/v1/cancelTask/${model}`, { taskId });
  const retrieve = (u: User, id: string, vendor = 'slow') => u.call('POST', `/v1/${vendor}/tasks`, { action: 'retrieve', id });
  const status = (u: User, id: string, model = 'slow-image') => u.call('GET', `/api/v1/statusTask/${model}?taskId=${encodeURIComponent(id)}`);
  const running = (u: User, id: string) => waitForTask(t.gw, u.ownerId, id, (x: Task) => x.state === 'running' && (x.progress ?? 0) > 0);

  /** After a running task's cancel: the provider is stopped, and nothing later overwrites it. */
  async function assertStopped(u: User, id: string): Promise<void> {
    await sleep(50);
    assert.equal(t.gw.dispatcher!.activeCount, 0, 'the worker stopped the provider at once');
    await sleep(650); // past the provider's whole latency
    const after = await t.gw.tasks.get(u.ownerId, id);
    assert.deepEqual([after?.state, after?.output, after?.error?.code], ['cancelled', null, 'cancelled']);
  }

  test('task API: a queued task is cancelled at once and refunded; a running one is stopped and refunded', async () => {
    const u = await user(2 * PRICE);
    const first = await createTaskApi(u, 'runs');
    const second = await createTaskApi(u, 'waits');
    await running(u, first);
    assert.deepEqual(await balance(u), { balance: 0, held: 2 * PRICE, used: 0 });

    const q = await cancelTaskApi(u, second);
    assert.equal(q.status, 200, q.text);
    const stored = (await t.gw.tasks.get(u.ownerId, second))!;
    assert.deepEqual(q.json, {
      id: second, request: { prompt: 'waits' }, trace_id: stored.traceId, created_at: stored.createdAt / 1000,
      response: { success: false, task_id: second, trace_id: stored.traceId, error: { code: 'cancelled', message: 'The task was cancelled' } },
      finished_at: stored.finishedAt! / 1000,
    });
    assert.deepEqual([stored.state, stored.startedAt, stored.attempts], ['cancelled', null, 0]);
    assert.deepEqual(await balance(u), { balance: PRICE, held: PRICE, used: 0 }, 'the queued task’s hold is back');

    const r = await cancelTaskApi(u, first);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.response.error.code, 'cancelled');
    assert.equal(typeof r.json.started_at, 'number');
    assert.equal(typeof r.json.finished_at, 'number');
    assert.equal(r.json.progress, undefined, 'a finished task carries no progress');
    await assertStopped(u, first);
    assert.deepEqual(await balance(u), { balance: 2 * PRICE, held: 0, used: 0 });
    assert.deepEqual((await retrieve(u, first)).json, r.json, 'retrieve shows what cancel answered');
    assert.equal((await t.gw.tasks.get(u.ownerId, second))?.startedAt, null, 'the cancelled queued task never ran');
  });

  test('APIXO: cancelTask cancels a queued task at once (refunded) and stops a running one', async () => {
    const u = await user(2 * PRICE);
    const first = await createApixo(u, 'runs');
    const second = await createApixo(u, 'waits');
    await running(u, first);

    const q = await cancelApixo(u, second);
    assert.equal(q.status, 200, q.text);
    const stored = (await t.gw.tasks.get(u.ownerId, second))!;
    assert.deepEqual(q.json, {
      code: 200, message: 'success',
      data: { taskId: second, state: 'failed', failCode: 'TASK_CANCELLED', failMsg: 'The task was cancelled', createTime: stored.createdAt, completeTime: stored.finishedAt },
    });
    assert.deepEqual(await balance(u), { balance: PRICE, held: PRICE, used: 0 });

    const r = await cancelApixo(u, first);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.data.state, r.json.data.failCode, r.json.data.progress], ['failed', 'TASK_CANCELLED', undefined]);
    await assertStopped(u, first);
    assert.deepEqual(await balance(u), { balance: 2 * PRICE, held: 0, used: 0 });
    assert.deepEqual((await status(u, first)).json, r.json, 'statusTask shows what cancelTask answered');
  });

  test('a finished task is left as it is, and both dialects say it had already finished', async () => {
    const u = await user(0);
    const done = await u.call('POST', '/v1/midjourney/imagine', { prompt: 'done' });
    assert.equal(done.json.success, true, done.text);
    const id = done.json.task_id as string;
    const before = await t.gw.tasks.get(u.ownerId, id);
    assert.equal(before?.state, 'succeeded');

    assertTaskApiError(await cancelTaskApi(u, id, 'midjourney'), 409, 'already_completed', new RegExp(`Task ${id} had already finished`));
    assertApixoError(await cancelApixo(u, id, 'midjourney'), 400, new RegExp(`Task ${id} had already finished`));
    assert.deepEqual(await t.gw.tasks.get(u.ownerId, id), before, 'the task is unchanged');
    assert.equal((await retrieve(u, id, 'midjourney')).json.response.success, true);
    assert.equal((await status(u, id, 'midjourney')).json.data.state, 'success');

    // A cancelled task is finished too: a second cancel changes nothing.
    const v = await u.call('POST', '/v1/veo/videos', { prompt: 'later' });
    const cancelled = await cancelTaskApi(u, v.json.task_id, 'veo');
    assert.equal(cancelled.status, 200, cancelled.text);
    assertTaskApiError(await cancelTaskApi(u, v.json.task_id, 'veo'), 409, 'already_completed');
  });

  test("another token's task, another vendor's or model's task and an unknown id all answer the same 404", async () => {
    const owner = await user(PRICE);
    const stranger = await user(0);
    const id = await createTaskApi(owner, 'not yours');
    const unknown = '00000000-0000-7000-8000-000000000000';
    const same = (r: Reply, which: string) => JSON.stringify({ status: r.status, body: { ...r.json, trace_id: 'T' } }).replaceAll(which, 'ID');

    const taskApi = [await cancelTaskApi(stranger, id), await cancelTaskApi(stranger, unknown), await cancelTaskApi(owner, id, 'midjourney')];
    for (const r of taskApi) assertTaskApiError(r, 404, 'not_found', /^Task .+ not found$/);
    assert.equal(same(taskApi[0]!, id), same(taskApi[1]!, unknown));
    assert.equal(same(taskApi[2]!, id), same(taskApi[0]!, id));
    assert.equal(same(await retrieve(stranger, id), id), same(taskApi[0]!, id), 'cancel answers a stranger as retrieve does');

    const apixo = [await cancelApixo(stranger, id), await cancelApixo(stranger, unknown), await cancelApixo(owner, id, 'midjourney')];
    for (const r of apixo) assertApixoError(r, 404, /^Task .+ not found$/);
    assert.equal(apixo[0]!.text.replace(id, 'ID'), apixo[1]!.text.replace(unknown, 'ID'));
    assert.equal(apixo[2]!.text, apixo[0]!.text);
    assert.equal((await status(stranger, id)).text, apixo[0]!.text, 'cancelTask answers a stranger as statusTask does');

    const kept = await t.gw.tasks.get(owner.ownerId, id);
    assert.notEqual(kept?.state, 'cancelled', 'nobody but the owner cancelled it');
    assert.equal((await cancelTaskApi(owner, id)).status, 200);
  });

  test('bad input answers in each dialect’s own 400 envelope; auth comes first', async () => {
    const u = await user(0);
    for (const body of [{ action: 'cancel' }, { action: 'cancel', id: 42 }, { action: 'cancel', id: '' }, { action: 'cancel', id: ['x'] }, { action: 'cancel', task_id: null }]) {
      assertTaskApiError(await u.call('POST', '/v1/slow/tasks', body), 400, 'bad_request', /Field id/);
    }
    assertTaskApiError(await cancelTaskApi(u, 'x'.repeat(201)), 400, 'bad_request', /longer than 200/);
    assertTaskApiError(await call(t.url, 'POST', '/v1/slow/tasks', u.token, { raw: '{"action":"cancel",' }), 400, 'bad_request', /JSON/);
    assertTaskApiError(await call(t.url, 'POST', '/v1/slow/tasks', u.token, { token: null, body: { action: 'cancel', id: 'x' } }), 400, 'no_token');
    assertTaskApiError(await call(t.url, 'POST', '/v1/slow/tasks', 'tg_wrong', { body: { action: 'cancel', id: 'x' } }), 401, 'invalid_token');
    assertTaskApiError(await u.call('POST', '/v1/nobody/tasks', { action: 'cancel', id: 'x' }), 404, 'no_api');
    assertTaskApiError(await u.call('POST', '/v1/slow/tasks', { id: 'x' }), 400, 'bad_request', /retrieve, retrieve_batch or cancel/);

    assertApixoError(await u.call('POST', '/api/v1/cancelTask/slow-image', {}), 400, /Missing required field: taskId/);
    assertApixoError(await cancelApixo(u, ''), 400, /Missing required field: taskId/);
    assertApixoError(await cancelApixo(u, 7), 400, /Field taskId must be a string/);
    assertApixoError(await cancelApixo(u, 'x'.repeat(201)), 400, /longer than 200/);
    assertApixoError(await call(t.url, 'POST', '/api/v1/cancelTask/slow-image', u.token, { raw: '[1]' }), 400, /JSON object/);
    assertApixoError(await call(t.url, 'POST', '/api/v1/cancelTask/slow-image', u.token, { raw: '{bad' }), 400, /JSON/);
    assertApixoError(await call(t.url, 'POST', '/api/v1/cancelTask/slow-image', u.token, { token: null, body: { taskId: 'x' } }), 401);
    assertApixoError(await cancelApixo(u, 'x', 'nope'), 404, /Model "nope" not found/);
    assertApixoError(await u.call('GET', '/api/v1/cancelTask/slow-image'), 404, /No API at GET/);
  });

  test('cancel checks the token as retrieve does: a disabled token can do neither; a narrowed scope both', async () => {
    const u = await user(2 * PRICE);
    const id = await createTaskApi(u, 'guarded');
    const second = await createApixo(u, 'guarded too');
    await t.gw.tokens.update(u.tokenId, { disabled: true });
    assertTaskApiError(await retrieve(u, id), 403, 'disabled');
    assertTaskApiError(await cancelTaskApi(u, id), 403, 'disabled');
    assertApixoError(await cancelApixo(u, id), 403);
    assert.notEqual((await t.gw.tasks.get(u.ownerId, id))?.state, 'cancelled');
    // A token's service patterns govern creates; its own tasks stay readable, and so cancellable.
    await t.gw.tokens.update(u.tokenId, { disabled: false, allowedServices: ['midjourney/*'] });
    assertTaskApiError(await u.call('POST', '/v1/slow/image', { prompt: 'refused' }), 401, 'token_mismatched');
    assert.equal((await retrieve(u, id)).status, 200);
    assert.equal((await cancelTaskApi(u, id)).status, 200);
    assert.equal((await status(u, second)).status, 200);
    assert.equal((await cancelApixo(u, second)).status, 200);
  });

  test('progress: retrieve, retrieve_batch and statusTask carry it while the task runs, not before or after', async () => {
    const u = await user(2 * PRICE);
    const first = await createTaskApi(u, 'progressing');
    const second = await createApixo(u, 'queued behind');
    const seen = await running(u, first);
    const item = (await retrieve(u, first)).json;
    assert.ok(item.progress > 0 && item.progress < 1, `progress ${item.progress}`);
    assert.ok(item.progress >= seen.progress!);
    assert.equal(item.finished_at, undefined);
    const batch = (await u.call('POST', '/v1/slow/tasks', { action: 'retrieve_batch', ids: [first, second] })).json;
    assert.equal(typeof batch.items[0].progress, 'number');
    assert.equal(batch.items[1].progress, undefined, 'a queued task has no progress yet');
    const data = (await status(u, first)).json.data;
    assert.deepEqual(Object.keys(data), ['taskId', 'state', 'createTime', 'progress']);
    assert.equal(data.state, 'processing');
    assert.ok(data.progress > 0 && data.progress < 1, `progress ${data.progress}`);
    assert.deepEqual(Object.keys((await status(u, second)).json.data), ['taskId', 'state', 'createTime'], 'pending: no progress');

    await waitForTask(t.gw, u.ownerId, first, (x) => x.state === 'succeeded');
    assert.equal((await retrieve(u, first)).json.progress, undefined);
    assert.equal((await status(u, first)).json.data.progress, undefined);
    assert.equal((await status(u, first)).json.data.state, 'success');
    assert.equal((await cancelApixo(u, second)).status, 200);
  });
});

describe('cancel of a relayed task reaches the upstream', () => {
  let b: TestGateway;
  let a: TestGateway;
  before(async () => {
    b = await startGateway({
      services: { 'slow/image': { provider: 'demo-image', mode: 'wait', options: { latencyMs: 15_000, steps: 8 }, aliases: { replicate: ['acme/slow'] } } },
    });
    a = await startGateway({
      config: { relay: { pollTickMs: 20 } },
      services: {
        'relay/slow': {
          mode: 'async', timeoutMs: 30_000, aliases: { apixo: ['relay-slow'] },
          channels: [{ name: 'b', provider: 'replicate', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'acme/slow', poll: { initialMs: 30, maxMs: 120, factor: 1.5 } }],
        },
      },
    });
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  const onB = (prompt: string, state: string) => until(`B's task "${prompt}" to be ${state}`, async () => {
    const found = (await b.gw.tasks.list({ ownerId: b.ownerId, limit: 100 })).find((x) => x.input.prompt === prompt);
    return found?.state === state ? found : undefined;
  }, 15_000);

  test('task API and APIXO cancels on A stop the task on B', { timeout: 40_000 }, async () => {
    const viaTaskApi = (await a.call('POST', '/v1/relay/slow', { body: { prompt: 'relayed task api' } })).json.task_id as string;
    const viaApixo = (await a.call('POST', '/api/v1/generateTask/relay-slow', { body: { input: { prompt: 'relayed apixo' } } })).json.data.taskId as string;
    await onB('relayed task api', 'running');
    await onB('relayed apixo', 'running');

    const r = await a.call('POST', '/v1/relay/tasks', { body: { action: 'cancel', id: viaTaskApi } });
    assert.deepEqual([r.status, r.json.response?.error?.code], [200, 'cancelled'], r.text);
    const s = await a.call('POST', '/api/v1/cancelTask/relay-slow', { body: { taskId: viaApixo } });
    assert.deepEqual([s.status, s.json.data?.failCode], [200, 'TASK_CANCELLED'], s.text);

    assert.equal((await onB('relayed task api', 'cancelled')).output, null);
    assert.equal((await onB('relayed apixo', 'cancelled')).output, null);
    assert.equal((await a.gw.tasks.get(a.ownerId, viaTaskApi))?.state, 'cancelled');
  });
});
