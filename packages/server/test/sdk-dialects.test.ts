/**
 * `@taskgate/client` (the built package) against a live gateway, in every dialect: submit → wait
 * (outputs that download), get, getMany, cancel (running, queued, finished), stream (in order,
 * server-sent events where the dialect has them), abort by AbortSignal, `timeoutMs`, a failed
 * task, and reads of ids this client did not submit (`service_required`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isTerminal, type Task } from '@taskgate/client';
import { startGateway, until, type TestGateway } from './helpers.js';
import {
  FAST_POLL, SDK_SERVICES, SETUPS, assertInOrder, assertPng, clientFor, collect, recordingFetch, rejection, uniquePrompt,
} from './fixtures/sdk-kit.js';

const T = { timeout: 60_000 };

describe('the SDK in every dialect against a live gateway', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ services: SDK_SERVICES });
  });
  after(() => gw.close());

  for (const setup of SETUPS) {
    describe(setup.dialect, () => {
      const client = () => clientFor(setup, gw.url, gw.token);

      test('submit → wait: succeeded with outputs that download; onUpdate saw every change', T, async () => {
        const c = client();
        const prompt = uniquePrompt('a red fox');
        const submitted = await c.submit(setup.image, { prompt });
        assert.equal(submitted.status, 'queued');
        assert.equal(typeof submitted.id, 'string');
        assert.ok(submitted.raw !== null && typeof submitted.raw === 'object', 'raw is the wire body');
        const seen: Task[] = [];
        const done = await c.wait(submitted.id, { ...FAST_POLL, timeoutMs: 20_000, onUpdate: (t) => seen.push(t) });
        assert.equal(done.status, 'succeeded', JSON.stringify(done.raw));
        assert.equal(done.id, submitted.id);
        assert.equal(done.progress, 1);
        assert.equal(done.error, null);
        assert.ok(done.outputs.length >= 1, 'at least one output');
        for (const o of done.outputs) await assertPng(o.url, o.contentType);
        if (setup.dialect === 'task-api' || setup.dialect === 'queue') assert.equal(done.outputs[0]!.contentType, 'image/png');
        assert.equal(seen.at(-1), done, 'the last update is the result');
        assertInOrder(seen, submitted.id);

        const got = await c.get(submitted.id);
        assert.equal(got.status, 'succeeded');
        assert.deepEqual(got.outputs, done.outputs);
        if (setup.dialect === 'replicate') assert.equal(got.service, setup.image);
      });

      test('getMany: the tasks asked for, in order; unknown ids left out', T, async () => {
        const c = client();
        const a = await c.submit(setup.image, { prompt: uniquePrompt('many a') });
        const b = await c.submit(setup.image, { prompt: uniquePrompt('many b') });
        await c.wait(a.id, { ...FAST_POLL, timeoutMs: 20_000 });
        await c.wait(b.id, { ...FAST_POLL, timeoutMs: 20_000 });
        const many = await c.getMany([b.id, 'no-such-task-id', a.id], { service: setup.image });
        assert.deepEqual(many.map((t) => [t.id, t.status]), [[b.id, 'succeeded'], [a.id, 'succeeded']]);
        assert.deepEqual(await c.getMany([]), []);
      });

      test('a failed task: wait resolves with status failed and the dialect\'s error', T, async () => {
        const c = client();
        const task = await c.submit(setup.image, { prompt: uniquePrompt('fail-demo-word here') });
        const done = await c.wait(task.id, { ...FAST_POLL, timeoutMs: 20_000 });
        assert.equal(done.status, 'failed');
        assert.equal(done.error?.code, setup.failCode);
        assert.ok((done.error?.message ?? '').length > 0);
        assert.deepEqual(done.outputs, []);
      });

      test('stream: updates in order, progress while running, the last one terminal', T, async () => {
        const rec = recordingFetch();
        const c = clientFor(setup, gw.url, gw.token, { fetch: rec.fetch });
        const task = await c.submit(setup.medium, { prompt: uniquePrompt('streamed') });
        const updates = await collect(c.stream(task.id, FAST_POLL));
        assertInOrder(updates, task.id);
        const last = updates.at(-1)!;
        assert.equal(last.status, 'succeeded');
        assert.ok(last.outputs.length >= 1);
        assert.ok(updates.some((u) => u.status === 'running' && u.progress !== null && u.progress > 0 && u.progress < 1), 'a running update with progress');
        assert.ok(updates.length >= 3, `several updates, got ${updates.map((u) => `${u.status}:${u.progress}`).join(' ')}`);
        const streams = rec.urls.filter((u) => /\/stream(\?|$)/.test(u));
        if (setup.sse) {
          assert.equal(streams.length, 1, 'one server-sent event stream');
          const polls = rec.urls.filter((u) => setup.status.path.test(new URL(u).pathname) && !/stream/.test(u));
          assert.ok(polls.length <= 2, `no polling while streaming (${polls.length} status reads)`);
        } else {
          assert.equal(streams.length, 0);
        }
      });

      test('a consumer that stops early ends the stream (and its connection)', T, async () => {
        const c = client();
        const task = await c.submit(setup.medium, { prompt: uniquePrompt('stop early') });
        let n = 0;
        for await (const update of c.stream(task.id, FAST_POLL)) {
          assert.equal(update.id, task.id);
          if (++n === 1) break;
        }
        assert.equal(n, 1);
        assert.equal((await c.wait(task.id, { ...FAST_POLL, timeoutMs: 20_000 })).status, 'succeeded');
      });

      test('cancel: a running task and a queued one end cancelled; a finished one is returned as it is', T, async () => {
        const c = client();
        const running = await c.submit(setup.slow, { prompt: uniquePrompt('cancel me running') });
        await until('the slow task to run', async () => ((await c.get(running.id)).status === 'running' ? true : undefined), 10_000);
        const queued = await c.submit(setup.slow, { prompt: uniquePrompt('cancel me queued') });
        assert.equal((await c.get(queued.id)).status, 'queued', 'one at a time: the second waits');

        const q = await c.cancel(queued.id);
        assert.equal(q.id, queued.id);
        assert.equal(q.status, 'cancelled');
        const r = await c.cancel(running.id);
        assert.equal(r.status, 'cancelled');
        assert.equal((await c.get(running.id)).status, 'cancelled');
        assert.deepEqual((await gw.gw.tasks.get(gw.ownerId, running.id))?.state, 'cancelled', 'cancelled on the gateway');
        assert.equal((await c.wait(queued.id, FAST_POLL)).status, 'cancelled', 'wait resolves with a cancelled task');

        const finished = await c.submit(setup.image, { prompt: uniquePrompt('finished first') });
        await c.wait(finished.id, { ...FAST_POLL, timeoutMs: 20_000 });
        const again = await c.cancel(finished.id);
        assert.equal(again.status, 'succeeded', 'a finished task is left as it is');
        assert.ok(again.outputs.length >= 1);
      });

      test('abort via AbortSignal: wait and stream reject with code aborted at once; the task keeps running', T, async () => {
        const c = client();
        const task = await c.submit(setup.slow, { prompt: uniquePrompt('abort my wait') });
        const ac = new AbortController();
        const started = Date.now();
        setTimeout(() => ac.abort(new Error('user pressed stop')), 200);
        const err = await rejection(c.wait(task.id, { ...FAST_POLL, signal: ac.signal }));
        assert.equal(err.code, 'aborted');
        assert.equal(err.status, 0);
        assert.equal(err.retryable, false);
        assert.match(err.message, /user pressed stop/);
        assert.ok(Date.now() - started < 2000, 'rejected promptly');

        const ac2 = new AbortController();
        const items: Task[] = [];
        const streamErr = await rejection((async () => {
          for await (const u of c.stream(task.id, { ...FAST_POLL, signal: ac2.signal })) {
            items.push(u);
            ac2.abort();
          }
        })());
        assert.equal(streamErr.code, 'aborted');
        assert.equal(items.length, 1);

        const pre = new AbortController();
        pre.abort();
        assert.equal((await rejection(c.get(task.id, { signal: pre.signal }))).code, 'aborted', 'an aborted signal sends nothing');

        const now = await c.get(task.id);
        assert.ok(!isTerminal(now.status), `still ${now.status}`);
        assert.equal((await c.cancel(task.id)).status, 'cancelled');
      });

      test('timeoutMs: wait rejects with code timeout and leaves the task running', T, async () => {
        const c = client();
        const task = await c.submit(setup.slow, { prompt: uniquePrompt('too slow') });
        const started = Date.now();
        const err = await rejection(c.wait(task.id, { ...FAST_POLL, timeoutMs: 300 }));
        assert.equal(err.code, 'timeout');
        assert.equal(err.status, 0);
        const took = Date.now() - started;
        assert.ok(took >= 280 && took < 2000, `took ${took} ms`);
        assert.ok(!isTerminal((await c.get(task.id)).status));
        await c.cancel(task.id);
      });

      test(setup.needsService ? 'a client that did not submit the id needs { service }' : 'a client that did not submit the id reads it by id alone', T, async () => {
        const task = await client().submit(setup.image, { prompt: uniquePrompt('someone else submitted') });
        const other = client();
        if (setup.needsService) {
          const err = await rejection(other.get(task.id));
          assert.equal(err.code, 'service_required');
          assert.match(err.message, /service/);
          assert.equal((await rejection(other.wait(task.id, FAST_POLL))).code, 'service_required');
        }
        const done = await other.wait(task.id, { ...FAST_POLL, service: setup.image, timeoutMs: 20_000 });
        assert.equal(done.status, 'succeeded');
        assert.equal((await other.get(task.id, { service: setup.image })).id, task.id);
      });

      test('an unknown id: get rejects with not_found (not retried)', T, async () => {
        const rec = recordingFetch();
        const c = clientFor(setup, gw.url, gw.token, { fetch: rec.fetch });
        const err = await rejection(c.get('no-such-task-id', { service: setup.image }));
        assert.equal(err.code, 'not_found');
        assert.equal(err.status, 404);
        assert.equal(err.retryable, false);
        assert.equal(err.dialect, setup.dialect);
        assert.equal(rec.urls.length, 1);
      });
    });
  }

  test('bad arguments are refused before anything is sent', async () => {
    const setup = SETUPS[0]!;
    assert.throws(() => clientFor(setup, gw.url, gw.token, { dialect: 'nope' as never }), /dialect must be one of/);
    assert.throws(() => clientFor(setup, 'ftp://x', gw.token, { baseUrl: 'ftp://x' }), /baseUrl/);
    const c = clientFor(setup, gw.url, gw.token);
    assert.equal((await rejection(c.get(''))).code, 'invalid_argument');
    assert.equal((await rejection(c.submit('flux/dev', [] as never))).code, 'invalid_argument');
    const replicate = clientFor(SETUPS[3]!, gw.url, gw.token);
    assert.equal((await rejection(replicate.submit('not a model ref', { prompt: 'x' }))).code, 'invalid_argument');
  });
});
