/**
 * The real `@fal-ai/client` and `replicate` npm clients against gateway A, whose services relay
 * to a plain taskgate B — over B's fal queue dialect and over B's Replicate dialect, both ways
 * round: a fal client over a Replicate upstream, a Replicate client over a fal upstream. The
 * clients are used unchanged (fal: `requestMiddleware` rewriting `https://queue.fal.run` to A's
 * queue base, as test/fal-client.test.ts does; Replicate: `baseUrl`), and a guarding `fetch`
 * makes sure they only ever talk to A. Everything on 127.0.0.1.
 */
import { ApiError, createFalClient, type QueueStatus } from '@fal-ai/client';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Replicate, { type Prediction } from 'replicate';
import type { Task } from '../src/core/types.js';
import { startGateway, until, type TestGateway } from './helpers.js';

const POLL = { initialMs: 30, maxMs: 120, factor: 1.5 };
const T = { timeout: 40_000 };
const FAL_QUEUE = 'https://queue.fal.run';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** B's services: long enough to be seen running; the slow one is there to be cancelled. */
const B_SERVICES = {
  'medium/image': { provider: 'demo-image', mode: 'wait', options: { latencyMs: 700, steps: 4, defaultWidth: 64, defaultHeight: 64 }, aliases: { queue: ['acme/medium/image'], replicate: ['acme/medium'] } },
  'slow/image': { provider: 'demo-image', mode: 'wait', options: { latencyMs: 15_000, steps: 8, defaultWidth: 64, defaultHeight: 64 }, aliases: { queue: ['acme/slow/image'], replicate: ['acme/slow'] } },
};

/** The two ways A reaches B, and the models B knows under them. */
const UPSTREAMS = [
  { via: 'replicate', base: (b: string) => `${b}/v1`, medium: 'acme/medium', slow: 'acme/slow' },
  { via: 'fal', base: (b: string) => `${b}/v1/queue`, medium: 'acme/medium/image', slow: 'acme/slow/image' },
] as const;
type Via = (typeof UPSTREAMS)[number]['via'];

/** A's endpoint (fal) and model (Replicate) names of the service relayed over `via`. */
const name = (via: Via, slow = false): string => `relay/over-${via}${slow ? '-slow' : ''}`;

type Fal = ReturnType<typeof createFalClient>;

/** Only A may be reached: a request elsewhere fails the test. */
function guarded(a: TestGateway): typeof fetch {
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    assert.ok(url.startsWith(`${a.url}/`), `the client tried to reach ${url}`);
    return fetch(input, init);
  };
}

function falFor(a: TestGateway): Fal {
  return createFalClient({
    credentials: a.token,
    requestMiddleware: async (req) => {
      assert.ok(req.url.startsWith(`${FAL_QUEUE}/`), `unexpected target ${req.url}`);
      return { ...req, url: `${a.url}/v1/queue${req.url.slice(FAL_QUEUE.length)}` };
    },
    fetch: guarded(a),
  });
}

async function apiError(p: Promise<unknown>): Promise<ApiError<Record<string, unknown>>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    return err as ApiError<Record<string, unknown>>;
  }
  assert.fail('expected the call to fail');
}

describe('real fal and Replicate clients against A, relaying to a taskgate B', () => {
  let b: TestGateway;
  let a: TestGateway;
  let fal: Fal;
  let replicate: Replicate;
  let n = 0;
  const prompt = (what: string): string => `${what} #${++n}`;

  before(async () => {
    b = await startGateway({ services: B_SERVICES });
    const services: Record<string, unknown> = {};
    for (const up of UPSTREAMS) {
      for (const slow of [false, true]) {
        const alias = name(up.via, slow);
        services[`over-${up.via}/${slow ? 'slow' : 'medium'}`] = {
          mode: 'wait', waitLimitMs: 20_000, timeoutMs: 30_000, aliases: { queue: [alias], replicate: [alias] },
          channels: [{ name: `b-${up.via}${slow ? '-slow' : ''}`, provider: up.via, baseUrl: up.base(b.url), apiKey: b.token, model: slow ? up.slow : up.medium, poll: POLL }],
        };
      }
    }
    a = await startGateway({ config: { relay: { pollTickMs: 20 } }, services });
    fal = falFor(a);
    replicate = new Replicate({ auth: a.token, baseUrl: `${a.url}/v1`, fetch: guarded(a) });
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  /** B's one task of this prompt (the relay submitted it once). */
  async function onB(text: string): Promise<Task> {
    const mine = (await b.gw.tasks.list({ ownerId: b.ownerId, limit: 1000 })).filter((t) => t.input.prompt === text);
    assert.equal(mine.length, 1, `exactly one task on B for "${text}"`);
    return mine[0]!;
  }

  /** A file URL on A: 200, a PNG. */
  async function assertPngOnA(url: unknown): Promise<void> {
    assert.equal(typeof url, 'string');
    assert.ok((url as string).startsWith(`${a.url}/files/`), `served by A: ${String(url)}`);
    const res = await fetch(url as string);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()).subarray(0, 8), PNG_SIGNATURE);
  }

  /** Until A has B's reference for the task (submitted), so a cancel has something to reach. */
  const submittedToB = (id: string) => until(`task ${id} to be submitted to B`, async () => ((await a.gw.tasks.upstream.get(id))?.ref ? true : undefined), 15_000);

  /** Until B's task of this prompt is cancelled. */
  const cancelledOnB = (text: string) => until(`B's task "${text}" to be cancelled`, async () => {
    const t = (await b.gw.tasks.list({ ownerId: b.ownerId, limit: 1000 })).find((x) => x.input.prompt === text);
    return t?.state === 'cancelled' ? t : undefined;
  }, 15_000);

  for (const up of UPSTREAMS) {
    describe(`@fal-ai/client on A, relayed over B's ${up.via} dialect`, () => {
      for (const mode of ['polling', 'streaming'] as const) {
        test(`subscribe (${mode}) sees the queue and the result, its image on A`, T, async () => {
          const text = prompt(`fal ${mode} over ${up.via}`);
          const updates: QueueStatus[] = [];
          let enqueued = '';
          const options = { input: { prompt: text }, logs: true, onEnqueue: (id: string) => (enqueued = id), onQueueUpdate: (u: QueueStatus) => updates.push(u) };
          const result = await fal.subscribe(name(up.via), mode === 'polling' ? { ...options, pollInterval: 25 } : { ...options, mode: 'streaming' });
          const statuses = updates.map((u) => u.status);
          assert.ok(statuses.includes('IN_PROGRESS'), statuses.join());
          assert.equal(statuses.at(-1), 'COMPLETED');
          // The client exposes logs on IN_PROGRESS / COMPLETED; the relay carries no upstream log lines.
          for (const u of updates) if (u.status !== 'IN_QUEUE') assert.ok(Array.isArray(u.logs), JSON.stringify(u));
          assert.equal(result.requestId, enqueued);
          assert.equal(result.data.images.length, 1);
          assert.equal(result.data.images[0].content_type, 'image/png');
          await assertPngOnA(result.data.images[0].url);
          assert.doesNotMatch(JSON.stringify([result, updates]), new RegExp(`${b.url}|b-${up.via}`), 'nothing of B shows');
          assert.equal((await onB(text)).state, 'succeeded');
        });
      }

      test('queue.submit + status + result: the URLs are A\'s, the result is the relayed image', T, async () => {
        const text = prompt(`fal queue over ${up.via}`);
        const sub = await fal.queue.submit(name(up.via), { input: { prompt: text } });
        assert.equal(sub.status, 'IN_QUEUE');
        assert.equal(sub.status_url, `${a.url}/v1/queue/${name(up.via)}/requests/${sub.request_id}/status`);
        const done = await until('COMPLETED', async () => {
          const s = await fal.queue.status(name(up.via), { requestId: sub.request_id, logs: true });
          return s.status === 'COMPLETED' ? s : undefined;
        }, 20_000);
        assert.ok(done.status === 'COMPLETED' && (done.metrics?.inference_time ?? 0) > 0, JSON.stringify(done));
        const res = await fal.queue.result(name(up.via), { requestId: sub.request_id });
        assert.equal(res.requestId, sub.request_id);
        await assertPngOnA(res.data.images[0].url);
        assert.equal((await onB(text)).state, 'succeeded');
      });

      test('queue.cancel reaches B: its task ends cancelled; on A the result is 409 request_cancelled', T, async () => {
        const text = prompt(`fal cancel over ${up.via}`);
        const endpoint = name(up.via, true);
        const sub = await fal.queue.submit(endpoint, { input: { prompt: text } });
        await submittedToB(sub.request_id);
        await fal.queue.cancel(endpoint, { requestId: sub.request_id });
        const s = (await fal.queue.status(endpoint, { requestId: sub.request_id })) as QueueStatus & { error_type?: string };
        assert.deepEqual([s.status, s.error_type], ['COMPLETED', 'request_cancelled']);
        const err = await apiError(fal.queue.result(endpoint, { requestId: sub.request_id }));
        assert.deepEqual([err.status, err.body.error_type], [409, 'request_cancelled']);
        const cancelled = await cancelledOnB(text);
        assert.equal(cancelled.output, null);
      });
    });

    describe(`replicate client on A, relayed over B's ${up.via} dialect`, () => {
      test('run blocks (Prefer: wait) and returns A\'s output URLs; the progress callback sees the prediction', T, async () => {
        const text = prompt(`replicate run over ${up.via}`);
        const updates: Prediction[] = [];
        const output = (await replicate.run(name(up.via) as `${string}/${string}`, { input: { prompt: text } }, (p) => updates.push(p))) as string[];
        assert.ok(Array.isArray(output) && output.length === 1, JSON.stringify(output));
        await assertPngOnA(output[0]);
        assert.equal(updates.at(-1)?.status, 'succeeded');
        assert.equal(updates.at(-1)?.model, name(up.via));
        assert.equal((await onB(text)).state, 'succeeded');
      });

      test('predictions.create + wait: starting → succeeded, logs a string, output on A', T, async () => {
        const text = prompt(`replicate wait over ${up.via}`);
        const created = await replicate.predictions.create({ model: name(up.via), input: { prompt: text } });
        assert.equal(created.status, 'starting');
        assert.equal(created.urls.get, `${a.url}/v1/predictions/${created.id}`);
        const seen: string[] = [];
        const done = await replicate.wait(created, { interval: 25 }, async (p) => {
          seen.push(p.status);
          return false; // keep polling: the callback only watches
        });
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        assert.equal(done.id, created.id);
        assert.equal(typeof done.logs, 'string');
        assert.ok(seen.includes('processing'), `A shows the task running while B works on it: ${seen.join()}`);
        await assertPngOnA((done.output as string[])[0]);
        const again = await replicate.predictions.get(created.id);
        assert.deepEqual([again.status, again.output], ['succeeded', done.output]);
        assert.doesNotMatch(JSON.stringify(done), new RegExp(`${b.url}|b-${up.via}`), 'nothing of B shows');
        assert.equal((await onB(text)).state, 'succeeded');
      });

      test('predictions.cancel reaches B: its task ends cancelled; A stays canceled', T, async () => {
        const text = prompt(`replicate cancel over ${up.via}`);
        const created = await replicate.predictions.create({ model: name(up.via, true), input: { prompt: text } });
        await submittedToB(created.id);
        const canceled = await replicate.predictions.cancel(created.id);
        assert.equal(canceled.status, 'canceled');
        await cancelledOnB(text);
        const later = await replicate.predictions.get(created.id);
        assert.deepEqual([later.status, later.output], ['canceled', null]);
        assert.equal((await replicate.wait(later)).status, 'canceled');
      });
    });
  }
});
