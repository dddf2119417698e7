/**
 * The real `@fal-ai/client` against a gateway on 127.0.0.1: its only base-URL route is a
 * `requestMiddleware` rewriting `https://queue.fal.run` to the gateway's queue base. A guarding
 * `fetch` makes sure nothing leaves for fal.ai.
 */
import { ApiError, createFalClient, type QueueStatus } from '@fal-ai/client';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers.js';

const SERVICES = {
  'slow/image': { provider: 'demo-image', mode: 'async', concurrency: 1, options: { latencyMs: 400, steps: 4, defaultWidth: 64, defaultHeight: 64 }, aliases: { queue: ['test/slow'] } },
};
const FAL_QUEUE = 'https://queue.fal.run';
/** Typed as a plain string: the demo provider takes `width`/`height`, not fal flux's typed input. */
const FLUX: string = 'fal-ai/flux/dev';

type Fal = ReturnType<typeof createFalClient>;

function falFor(t: TestGateway, token = t.token): Fal {
  return createFalClient({
    credentials: token,
    requestMiddleware: async (req) => {
      assert.ok(req.url.startsWith(`${FAL_QUEUE}/`), `unexpected target ${req.url}`);
      return { ...req, url: `${t.url}/v1/queue${req.url.slice(FAL_QUEUE.length)}` };
    },
    fetch: (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      assert.ok(url.startsWith(`${t.url}/`), `the client tried to reach ${url}`);
      return fetch(input, init);
    },
  });
}

/** Rejects with the ApiError the promise failed with. */
async function apiError(p: Promise<unknown>): Promise<ApiError<Record<string, unknown>>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    return err as ApiError<Record<string, unknown>>;
  }
  assert.fail('expected the call to fail');
}

/** Polls `queue.status` (bounded) until `pred` holds. */
async function statusUntil(fal: Fal, endpoint: string, requestId: string, pred: (s: QueueStatus) => boolean): Promise<QueueStatus> {
  for (let i = 0; i < 400; i++) {
    const s = await fal.queue.status(endpoint, { requestId, logs: true });
    if (pred(s)) return s;
    await new Promise((res) => setTimeout(res, 15));
  }
  throw new Error(`request ${requestId} never reached the expected status`);
}

const messagesOf = (updates: QueueStatus[]): string[] =>
  updates.flatMap((u) => ('logs' in u && Array.isArray(u.logs) ? u.logs.map((l) => l.message) : []));

describe('@fal-ai/client against the queue dialect', () => {
  let t: TestGateway;
  let fal: Fal;
  before(async () => {
    t = await startGateway({ services: SERVICES });
    fal = falFor(t);
  });
  after(() => t.close());

  for (const mode of ['polling', 'streaming'] as const) {
    test(`subscribe (${mode}) with logs and onQueueUpdate sees IN_QUEUE, IN_PROGRESS, log lines and the result`, async () => {
      const blocker = await fal.queue.submit('test/slow', { input: { prompt: 'blocker' } }); // holds the single slot
      const updates: QueueStatus[] = [];
      let enqueued = '';
      const options = {
        input: { prompt: 'a lighthouse at dusk', seed: 11 },
        logs: true,
        onEnqueue: (id: string) => (enqueued = id),
        onQueueUpdate: (u: QueueStatus) => updates.push(u),
      };
      const result = await fal.subscribe('test/slow', mode === 'polling' ? { ...options, pollInterval: 20 } : { ...options, mode: 'streaming' });
      const statuses = updates.map((u) => u.status);
      assert.ok(statuses.includes('IN_QUEUE'), statuses.join());
      assert.ok(statuses.includes('IN_PROGRESS'), statuses.join());
      assert.equal(statuses.at(-1), 'COMPLETED');
      const queued = updates.find((u) => u.status === 'IN_QUEUE');
      assert.equal(queued?.status === 'IN_QUEUE' && queued.queue_position, 0);
      assert.ok(messagesOf(updates).includes('rendering: step 4/4'), messagesOf(updates).join('|'));
      assert.equal(result.requestId, enqueued);
      assert.equal(result.data.seed, 11);
      assert.equal(result.data.images[0].content_type, 'image/png');
      assert.equal((await fetch(result.data.images[0].url)).status, 200);
      assert.equal((await fal.queue.status('test/slow', { requestId: blocker.request_id })).status, 'COMPLETED');
    });
  }

  test('queue.submit + queue.status + queue.result (fal-ai/flux/dev, subpath rule)', async () => {
    const sub = await fal.queue.submit(FLUX, { input: { prompt: 'a blue whale', width: 128, height: 64 } });
    assert.equal(sub.status, 'IN_QUEUE');
    assert.equal(sub.status_url, `${t.url}/v1/queue/fal-ai/flux/requests/${sub.request_id}/status`);
    const done = await statusUntil(fal, FLUX, sub.request_id, (s) => s.status === 'COMPLETED');
    assert.equal(done.status === 'COMPLETED' && done.logs.length, 3);
    assert.ok(done.status === 'COMPLETED' && (done.metrics?.inference_time ?? 0) > 0);
    const res = await fal.queue.result(FLUX, { requestId: sub.request_id });
    assert.equal(res.requestId, sub.request_id);
    assert.deepEqual([res.data.images[0].width, res.data.images[0].height, res.data.prompt], [128, 64, 'a blue whale']);
  });

  test('queue.cancel of a queued and of a running request: COMPLETED with an error, result errors', async () => {
    const running = await fal.queue.submit('test/slow', { input: { prompt: 'running' } });
    const queued = await fal.queue.submit('test/slow', { input: { prompt: 'queued' } });
    await statusUntil(fal, 'test/slow', running.request_id, (s) => s.status === 'IN_PROGRESS');
    assert.equal((await fal.queue.status('test/slow', { requestId: queued.request_id })).status, 'IN_QUEUE');

    for (const requestId of [queued.request_id, running.request_id]) {
      await fal.queue.cancel('test/slow', { requestId }); // 202 resolves
      const s = (await fal.queue.status('test/slow', { requestId })) as QueueStatus & { error?: string; error_type?: string };
      assert.equal(s.status, 'COMPLETED');
      assert.equal(s.error_type, 'request_cancelled');
      assert.equal(typeof s.error, 'string');
      const err = await apiError(fal.queue.result('test/slow', { requestId }));
      assert.equal(err.status, 409);
      assert.equal(err.body.error_type, 'request_cancelled');
      assert.equal(err.requestId, requestId);
      const again = await apiError(fal.queue.cancel('test/slow', { requestId }));
      assert.deepEqual([again.status, again.body], [400, { status: 'ALREADY_COMPLETED' }]);
    }
    // The running one really stopped: it never turns into a success later.
    await new Promise((res) => setTimeout(res, 450));
    const task = await t.gw.tasks.get(t.ownerId, running.request_id);
    assert.deepEqual([task?.state, task?.output], ['cancelled', null]);
  });

  test('queue.streamStatus: SSE events until COMPLETED; done() resolves with the last status', async () => {
    const blocker = await fal.queue.submit('test/slow', { input: { prompt: 'ahead' } });
    const sub = await fal.queue.submit('test/slow', { input: { prompt: 'streamed' } });
    const stream = await fal.queue.streamStatus('test/slow', { requestId: sub.request_id, logs: true });
    const seen: QueueStatus[] = [];
    stream.on('data', (s: QueueStatus) => seen.push(s));
    const last = await stream.done();
    const statuses = seen.map((s) => s.status);
    assert.equal(statuses[0], 'IN_QUEUE');
    assert.ok(statuses.includes('IN_PROGRESS'), statuses.join());
    assert.equal(last.status, 'COMPLETED');
    assert.equal(statuses.filter((s) => s === 'COMPLETED').length, 1);
    assert.deepEqual(messagesOf(seen), ['rendering: step 1/4', 'rendering: step 2/4', 'rendering: step 3/4', 'rendering: step 4/4']);
    assert.equal((await fal.queue.status('test/slow', { requestId: blocker.request_id })).status, 'COMPLETED');
  });

  test('errors reach the client as ApiError with the seed bodies', async () => {
    const unauthorized = await apiError(falFor(t, 'wrong-key').queue.submit(FLUX, { input: { prompt: 'x' } }));
    assert.equal(unauthorized.status, 401);
    assert.equal((unauthorized.body.error as { code: string }).code, 'UNAUTHORIZED');
    const missing = await apiError(fal.queue.submit('fal-ai/flux/nope', { input: { prompt: 'x' } }));
    assert.deepEqual([missing.status, missing.body], [404, { detail: 'App not found: fal-ai/flux/nope' }]);
    const bad = await apiError(fal.queue.submit(FLUX, { input: { prompt: 'x', width: 'wide' } }));
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.detail), /width/);
    const unknown = await apiError(fal.queue.status(FLUX, { requestId: 'no-such-request' }));
    assert.deepEqual([unknown.status, unknown.body], [404, { detail: 'Request not found' }]);
    const failed = await apiError(fal.subscribe(FLUX, { input: { prompt: 'forbidden-demo-word' }, pollInterval: 20 }));
    assert.equal(failed.status, 422);
    assert.equal(failed.body.error_type, 'content_policy_violation');
  });
});
