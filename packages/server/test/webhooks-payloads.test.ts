/**
 * Webhook payloads per dialect, from real tasks of a real gateway: each renderer's body is what
 * the dialect's own polling endpoint answers for the same finished task (task API `retrieve`
 * response, APIXO statusTask, fal result inside the fal webhook envelope, Replicate prediction),
 * for successes, failures and cancellations; plus the create-time wiring (origin, event filters).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Task } from '../src/core/types.js';
import { isTerminal } from '../src/core/types.js';
import { createWebhookRenderers } from '../src/dialects/webhook-renderers.js';
import type { WebhookRenderer } from '../src/webhooks/types.js';
import { SIGNED_QUERY, startGateway, unsigned, waitForTask, type TestGateway } from './helpers.js';

const SLOW = {
  'slow/image': {
    provider: 'demo-image', mode: 'async', shape: 'midjourney', options: { latencyMs: 5000, steps: 2, defaultWidth: 64, defaultHeight: 64 },
    aliases: { apixo: ['slow-image'], queue: ['taskgate/slow'], replicate: ['taskgate/slow-image'] },
  },
};
const BLOCKED = 'forbidden-demo-word';

describe('webhook payloads', () => {
  let t: TestGateway;
  let receiver: Server;
  let hook: string;
  let render: Readonly<Record<string, WebhookRenderer>>;

  before(async () => {
    // A receiver that accepts everything, in case the delivery engine sends these callbacks.
    receiver = createServer((req, res) => req.resume().on('end', () => res.end('ok')));
    await new Promise<void>((res) => receiver.listen(0, '127.0.0.1', res));
    hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    t = await startGateway({ services: SLOW });
    render = createWebhookRenderers(t.gw.config, t.gw.tasks.services);
  });
  after(async () => {
    await t.close();
    receiver.closeAllConnections();
    await new Promise((res) => receiver.close(res));
  });

  const finished = (id: string): Promise<Task> => waitForTask(t.gw, t.ownerId, id, (x) => isTerminal(x.state));
  const body = async (task: Task, event: 'start' | 'progress' | 'completed' = 'completed') => {
    const renderer = render[task.dialect];
    assert.ok(renderer, `no renderer for ${task.dialect}`);
    assert.equal(task.origin, t.url, 'the task keeps the base URL the client used');
    return unsigned(await renderer(task, event, task.origin, { logs: () => t.gw.tasks.logs(task), links: t.gw.fileLinks(task.origin) }));
  };

  describe('task API', () => {
    for (const [service, key] of [['midjourney/imagine', 'image_url'], ['suno/audios', 'data'], ['veo/videos', 'data'], ['demo/image', 'data']] as const) {
      test(`${service}: the success callback is the synchronous success body (seed 000)`, async () => {
        const created = await t.call('POST', `/v1/${service}`, { body: { prompt: 'a cat', callback_url: hook } });
        assert.equal(created.status, 200, created.text);
        const task = await finished(created.json.task_id);
        const [vendor] = service.split('/');
        const retrieved = await t.call('POST', `/v1/${vendor}/tasks`, { body: { action: 'retrieve', id: task.id } });
        const payload = (await body(task));
        assert.deepEqual(payload, unsigned(retrieved.json.response));
        assert.equal(payload.success, true);
        assert.equal(payload.task_id, task.id);
        assert.equal(payload.trace_id, created.headers.get('x-trace-id'));
        assert.ok(key in payload, `${service} has its business field ${key}`);
        assert.match(JSON.stringify(payload), new RegExp(`"${t.url}/files/`));
        assert.match(JSON.stringify(retrieved.json), new RegExp(`"${t.url}/files/[^"?]+${SIGNED_QUERY.source}"`), 'retrieve hands out signed links');
      });
    }

    test('a failed task calls back the failure envelope with its error code', async () => {
      const created = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: BLOCKED, callback_url: hook } });
      const task = await finished(created.json.task_id);
      assert.deepEqual((await body(task)), {
        success: false, task_id: task.id, trace_id: task.traceId,
        error: { code: 'forbidden', message: 'The prompt was rejected by content moderation' },
      });
    });

    test('a cancelled task calls back error code cancelled', async () => {
      const created = await t.call('POST', '/v1/slow/image', { body: { prompt: 'a cat', callback_url: hook } });
      const outcome = await t.gw.tasks.cancel(t.ownerId, created.json.task_id);
      assert.equal(outcome.outcome, 'cancelled');
      const task = await finished(created.json.task_id);
      assert.deepEqual((await body(task)), {
        success: false, task_id: task.id, trace_id: task.traceId, error: { code: 'cancelled', message: 'The task was cancelled' },
      });
    });
  });

  describe('APIXO', () => {
    const submit = (model: string, prompt: string) =>
      t.call('POST', `/api/v1/generateTask/${model}`, { body: { callback_url: hook, input: { prompt } } });

    test('the callback is the statusTask envelope of the finished task (success and failure)', async () => {
      for (const prompt of ['a cat', BLOCKED]) {
        const created = await submit('flux-dev', prompt);
        assert.equal(created.status, 200, created.text);
        const task = await finished(created.json.data.taskId);
        const status = await t.call('GET', `/api/v1/statusTask/flux-dev?taskId=${task.id}`);
        assert.equal(status.status, 200, status.text);
        assert.deepEqual((await body(task)), unsigned(status.json));
        assert.equal(status.json.data.state, prompt === BLOCKED ? 'failed' : 'success');
      }
    });

    test('a cancelled task calls back failed / TASK_CANCELLED', async () => {
      const created = await submit('slow-image', 'a cat');
      await t.gw.tasks.cancel(t.ownerId, created.json.data.taskId);
      const task = await finished(created.json.data.taskId);
      const payload = (await body(task));
      assert.deepEqual(payload, unsigned((await t.call('GET', `/api/v1/statusTask/slow-image?taskId=${task.id}`)).json));
      assert.deepEqual({ code: payload.code, message: payload.message }, { code: 200, message: 'success' });
      assert.equal((payload.data as { failCode: string }).failCode, 'TASK_CANCELLED');
    });
  });

  describe('queue (fal)', () => {
    const submit = (endpoint: string, prompt: string) =>
      t.call('POST', `/v1/queue/${endpoint}?fal_webhook=${encodeURIComponent(hook)}`, { body: { prompt } });

    test('success: status OK, payload = the result body, error null', async () => {
      const created = await submit('fal-ai/flux/dev', 'a cat');
      const task = await finished(created.json.request_id);
      const result = await t.call('GET', `/v1/queue/fal-ai/flux/requests/${task.id}`);
      assert.equal(result.status, 200, result.text);
      assert.deepEqual((await body(task)), { request_id: task.id, gateway_request_id: task.id, status: 'OK', payload: unsigned(result.json), error: null });
      assert.ok(Array.isArray(result.json.images) && result.json.images.length > 0);
    });

    test('failure and cancellation: status ERROR, error = the message, payload = the error detail', async () => {
      const failed = await finished((await submit('fal-ai/flux/dev', BLOCKED)).json.request_id);
      const slow = await submit('taskgate/slow', 'a cat');
      const cancel = await t.call('PUT', `/v1/queue/taskgate/slow/requests/${slow.json.request_id}/cancel`);
      assert.equal(cancel.status, 202, cancel.text);
      const cancelled = await finished(slow.json.request_id);
      for (const [task, app, type] of [[failed, 'fal-ai/flux', 'content_policy_violation'], [cancelled, 'taskgate/slow', 'request_cancelled']] as const) {
        const result = await t.call('GET', `/v1/queue/${app}/requests/${task.id}`);
        assert.equal(result.json.error_type, type);
        assert.deepEqual((await body(task)), {
          request_id: task.id, gateway_request_id: task.id, status: 'ERROR', payload: unsigned(result.json), error: result.json.detail,
        });
      }
    });
  });

  describe('Replicate', () => {
    const create = (model: string, extra: Record<string, unknown> = {}, prompt = 'a cat') =>
      t.call('POST', `/v1/models/${model}/predictions`, { body: { input: { prompt }, webhook: hook, ...extra } });
    const get = async (id: string) => {
      const r = await t.call('GET', `/v1/predictions/${id}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(typeof r.json.logs, 'string');
      return r.json;
    };

    test('every terminal state: the prediction exactly as GET renders it (logs included), URLs under {base}/v1', async () => {
      const ok = await finished((await create('black-forest-labs/flux-dev')).json.id);
      const failed = await finished((await create('black-forest-labs/flux-dev', {}, BLOCKED)).json.id);
      const slow = await create('taskgate/slow-image');
      assert.equal((await t.call('POST', `/v1/predictions/${slow.json.id}/cancel`)).status, 200);
      const canceled = await finished(slow.json.id);
      for (const [task, status] of [[ok, 'succeeded'], [failed, 'failed'], [canceled, 'canceled']] as const) {
        const payload = (await body(task));
        assert.deepEqual(payload, unsigned(await get(task.id)));
        assert.equal(payload.status, status);
        assert.equal((payload.urls as { get: string }).get, `${t.url}/v1/predictions/${task.id}`);
      }
      assert.ok(Array.isArray((await body(ok)).output));
      assert.equal((await body(failed)).error, 'The prompt was rejected by content moderation');
    });

    test('start and logs events render the current state of the prediction', async () => {
      const created = await create('taskgate/slow-image');
      const running = await waitForTask(t.gw, t.ownerId, created.json.id, (x) => x.state === 'running');
      for (const event of ['start', 'progress'] as const) {
        const payload = await body(running, event);
        assert.equal(payload.status, 'processing');
        assert.equal(payload.output, null);
        assert.equal(payload.id, running.id);
      }
      await t.gw.tasks.cancel(t.ownerId, running.id);
    });

    test('webhook_events_filter maps onto the task events (output → completed, logs → progress)', async () => {
      const cases: Array<[unknown, string[]]> = [
        [undefined, ['start', 'progress', 'completed']],
        [['completed'], ['completed']],
        [['output'], ['completed']],
        [['output', 'completed'], ['completed']],
        [['logs'], ['progress']],
        [['completed', 'start'], ['start', 'completed']],
      ];
      for (const [filter, events] of cases) {
        const r = await create('black-forest-labs/flux-dev', filter === undefined ? {} : { webhook_events_filter: filter });
        assert.equal(r.status, 201, r.text);
        assert.deepEqual((await t.gw.tasks.get(t.ownerId, r.json.id))?.webhookEvents, events, JSON.stringify(filter));
      }
    });
  });

  test('the other dialects ask for the completed event only', async () => {
    const ids = [
      (await t.call('POST', '/v1/demo/image', { body: { prompt: 'a', callback_url: hook } })).json.task_id,
      (await t.call('POST', '/api/v1/generateTask/flux-dev', { body: { callback_url: hook, input: { prompt: 'a' } } })).json.data.taskId,
      (await t.call('POST', `/v1/queue/fal-ai/flux/dev?fal_webhook=${encodeURIComponent(hook)}`, { body: { prompt: 'a' } })).json.request_id,
    ];
    for (const id of ids) assert.deepEqual((await t.gw.tasks.get(t.ownerId, id))?.webhookEvents, ['completed']);
  });

  test('file URLs use the base the client reached the gateway at (X-Forwarded-Host from a trusted proxy)', async () => {
    const created = await t.call('POST', '/v1/demo/image', {
      body: { prompt: 'a cat', callback_url: hook }, headers: { 'x-forwarded-host': 'gw.example:8443', 'x-forwarded-proto': 'https' },
    });
    const task = await finished(created.json.task_id);
    assert.equal(task.origin, 'https://gw.example:8443');
    const payload = await render['task-api']!(task, 'completed', task.origin!, { logs: () => t.gw.tasks.logs(task), links: t.gw.fileLinks(task.origin!) });
    assert.match((payload.data as Array<{ url: string }>)[0]!.url, /^https:\/\/gw\.example:8443\/files\//);
  });
});
