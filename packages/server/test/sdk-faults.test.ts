/**
 * The SDK's retry rules and error mapping, in every dialect, through a fault-injecting proxy in
 * front of a live gateway (test/fixtures/fault-proxy.ts): 429 with `Retry-After` (injected, and a
 * real token rate limit) honoured; a 500 then success on a status read; retries that stop; a create
 * whose answer is lost after the gateway stored the task (retried under the same Idempotency-Key:
 * one task; without a key: not retried); bad input and a wrong token mapped and not retried; a
 * failed event stream falls back to polling.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Dialect } from '@taskgate/client';
import { startGateway, type TestGateway } from './helpers.js';
import { startFaultProxy, type FaultProxy, type Seen } from './fixtures/fault-proxy.js';
import { FAST_POLL, SDK_SERVICES, SETUPS, clientFor, rejection, tasksWithPrompt, uniquePrompt } from './fixtures/sdk-kit.js';

const T = { timeout: 60_000 };

/** An error body in the dialect's own envelope. */
function envelope(dialect: Dialect, status: number, code: string, message: string): unknown {
  switch (dialect) {
    case 'task-api':
      return { error: { code, message }, trace_id: 'injected-trace' };
    case 'apixo':
      return { code: status, message: 'Error', data: { error: message } };
    case 'queue':
      return status === 429 ? { error: { code: 'RATE_LIMIT_EXCEEDED', message }, request_id: 'injected-request' } : { detail: message };
    case 'replicate':
      return { title: 'Error', detail: message, status };
  }
}

/** Milliseconds between consecutive requests. */
const gaps = (seen: readonly Seen[]): number[] => seen.slice(1).map((s, i) => s.at - seen[i]!.at);

describe('SDK retries and errors through a fault-injecting proxy', () => {
  let gw: TestGateway;
  let proxy: FaultProxy;
  before(async () => {
    gw = await startGateway({ services: SDK_SERVICES });
    proxy = await startFaultProxy(gw.url);
  });
  after(async () => {
    await proxy.close();
    await gw.close();
  });
  beforeEach(() => proxy.reset());

  for (const setup of SETUPS) {
    describe(setup.dialect, () => {
      const client = (extra = {}) => clientFor(setup, proxy.url, gw.token, extra);
      const statusReads = () => proxy.matching(setup.status.method, setup.status.path);
      const creates = () => proxy.matching(setup.create.method, setup.create.path);

      /** A finished task, and the proxy's log cleared. */
      async function finished(c = client()) {
        const task = await c.submit(setup.image, { prompt: uniquePrompt('fault base') });
        await c.wait(task.id, { ...FAST_POLL, timeoutMs: 20_000 });
        proxy.reset();
        return { c, id: task.id };
      }

      test('429 with Retry-After on a status read: retried no sooner than it says, then succeeds', T, async () => {
        const { c, id } = await finished();
        proxy.inject(setup.status.method, setup.status.path, {
          kind: 'respond', status: 429, headers: { 'retry-after': '1' }, body: envelope(setup.dialect, 429, 'too_many_requests', 'slow down'),
        });
        const got = await c.get(id);
        assert.equal(got.status, 'succeeded');
        const reads = statusReads();
        assert.deepEqual(reads.map((r) => [r.outcome, r.status]), [['injected', 429], ['forwarded', 200]]);
        assert.ok(gaps(reads)[0]! >= 1000, `retried after ${gaps(reads)[0]} ms`);
      });

      test('a real token rate limit (1 request/s): the gateway\'s 429 and Retry-After are honoured', T, async () => {
        const { token } = await gw.gw.tokens.create(`limited ${setup.dialect}`, { rateLimitRps: 1 });
        const c = clientFor(setup, proxy.url, token);
        const task = await c.submit(setup.image, { prompt: uniquePrompt('rate limited') });
        // One read at a time, so the first answered read after a 429 is that request's own retry
        // (two at once made the other request's retry look like an early one).
        const a = await c.get(task.id);
        const b = await c.get(task.id);
        assert.equal(a.id, task.id);
        assert.equal(b.id, task.id);
        const limited = proxy.seen.filter((s) => s.status === 429);
        assert.ok(limited.length >= 1, 'the gateway answered 429');
        for (const l of limited) {
          assert.match(l.retryAfter ?? '', /^\d+$/, 'with Retry-After in seconds');
          const retry = proxy.seen.find((s) => s.at > l.at && s.method === l.method && s.path === l.path && s.status !== 429);
          assert.ok(retry, 'the request was sent again and answered');
          assert.ok(retry.at - l.at >= Number(l.retryAfter) * 1000, `waited ${retry.at - l.at} ms for Retry-After ${l.retryAfter}`);
        }
      });

      test('a 500 then success on a status read', T, async () => {
        const { c, id } = await finished();
        proxy.inject(setup.status.method, setup.status.path, { kind: 'respond', status: 500, body: envelope(setup.dialect, 500, 'api_error', 'boom') });
        assert.equal((await c.get(id)).status, 'succeeded');
        assert.deepEqual(statusReads().map((r) => r.status), [500, 200]);
      });

      test('5xx retries are limited: after maxRetries the error is returned, retryable', T, async () => {
        const { id } = await finished();
        const c = client({ retry: { maxRetries: 2, baseDelayMs: 20, maxDelayMs: 1000 } });
        proxy.inject(setup.status.method, setup.status.path, { kind: 'respond', status: 503, body: envelope(setup.dialect, 503, 'api_error', 'down') }, 10);
        const err = await rejection(c.get(id, { service: setup.image }));
        assert.equal(err.status, 503);
        assert.equal(err.code, 'api_error');
        assert.equal(err.retryable, true);
        assert.equal(statusReads().length, 3, 'the first attempt and two retries');
      });

      test('a Retry-After beyond maxDelayMs is not waited for: the 429 is returned with retryAfterMs', T, async () => {
        const { c, id } = await finished();
        proxy.inject(setup.status.method, setup.status.path, {
          kind: 'respond', status: 429, headers: { 'retry-after': '120' }, body: envelope(setup.dialect, 429, 'too_many_requests', 'later'),
        });
        const started = Date.now();
        const err = await rejection(c.get(id));
        assert.equal(err.code, 'too_many_requests');
        assert.equal(err.status, 429);
        assert.equal(err.retryAfterMs, 120_000);
        assert.equal(err.retryable, true);
        assert.ok(Date.now() - started < 1000);
        assert.equal(statusReads().length, 1);
      });

      test('a read whose answer is lost is retried', T, async () => {
        const { c, id } = await finished();
        proxy.inject(setup.status.method, setup.status.path, { kind: 'drop-after-answer' });
        assert.equal((await c.get(id)).status, 'succeeded');
        assert.deepEqual(statusReads().map((r) => r.outcome), ['dropped', 'forwarded']);
      });

      test('a create whose answer is lost after the gateway stored it: retried under the same Idempotency-Key, one task', T, async () => {
        const c = client();
        const prompt = uniquePrompt('dropped create');
        proxy.inject(setup.create.method, setup.create.path, { kind: 'drop-after-answer' });
        const task = await c.submit(setup.image, { prompt });
        const sent = creates();
        assert.deepEqual(sent.map((s) => s.outcome), ['dropped', 'forwarded']);
        const [first, second] = sent.map((s) => s.headers['idempotency-key']);
        assert.match(String(first), /^[0-9a-f-]{36}$/, 'a random key by default');
        assert.equal(second, first, 'the retry carries the same key');
        const stored = await tasksWithPrompt(gw, prompt);
        assert.equal(stored.length, 1, 'exactly one task on the gateway');
        assert.equal(stored[0]!.id, task.id, 'the retry returned the first task');
        assert.equal((await c.wait(task.id, { ...FAST_POLL, timeoutMs: 20_000 })).status, 'succeeded');
      });

      test('the same with a key of the caller\'s', T, async () => {
        const c = client();
        const prompt = uniquePrompt('dropped create, own key');
        proxy.inject(setup.create.method, setup.create.path, { kind: 'drop-after-answer' });
        const task = await c.submit(setup.image, { prompt }, { idempotencyKey: `order-${prompt.replace(/\W+/g, '-')}` });
        assert.deepEqual(creates().map((s) => s.headers['idempotency-key']), Array(2).fill(`order-${prompt.replace(/\W+/g, '-')}`));
        assert.deepEqual((await tasksWithPrompt(gw, prompt)).map((t) => t.id), [task.id]);
      });

      test('without an Idempotency-Key an ambiguous create is not retried (network_error), nor is a 500', T, async () => {
        const c = client();
        const prompt = uniquePrompt('dropped create, no key');
        proxy.inject(setup.create.method, setup.create.path, { kind: 'drop-after-answer' });
        const err = await rejection(c.submit(setup.image, { prompt }, { idempotencyKey: false }));
        assert.equal(err.code, 'network_error');
        assert.equal(err.status, 0);
        assert.equal(creates().length, 1, 'sent once');
        assert.equal(creates()[0]!.headers['idempotency-key'], undefined);
        assert.equal((await tasksWithPrompt(gw, prompt)).length, 1, 'the gateway did create it: that is why it is not resent');

        proxy.reset();
        proxy.inject(setup.create.method, setup.create.path, { kind: 'respond', status: 500, body: envelope(setup.dialect, 500, 'api_error', 'boom') });
        const err500 = await rejection(c.submit(setup.image, { prompt: uniquePrompt('500 no key') }, { idempotencyKey: false }));
        assert.equal(err500.status, 500);
        assert.equal(creates().length, 1);

        proxy.reset();
        proxy.inject(setup.create.method, setup.create.path, { kind: 'respond', status: 500, body: envelope(setup.dialect, 500, 'api_error', 'boom') });
        await c.submit(setup.image, { prompt: uniquePrompt('500 with key') });
        assert.deepEqual(creates().map((s) => s.status), [500, setup.dialect === 'replicate' ? 201 : 200], 'with a key a 500 is retried');

        proxy.reset();
        proxy.inject(setup.create.method, setup.create.path, {
          kind: 'respond', status: 429, headers: { 'retry-after': '0' }, body: envelope(setup.dialect, 429, 'too_many_requests', 'later'),
        });
        await c.submit(setup.image, { prompt: uniquePrompt('429 no key') }, { idempotencyKey: false });
        assert.equal(creates().length, 2, 'a 429 means not taken: retried even without a key');
      });

      test('bad input: TaskgateError with the dialect\'s status, code bad_request, trace id, not retried', T, async () => {
        const c = client();
        const err = await rejection(c.submit(setup.image, { prompt: '' }));
        assert.equal(err.status, setup.badInputStatus);
        assert.equal(err.code, 'bad_request');
        assert.equal(err.retryable, false);
        assert.equal(err.dialect, setup.dialect);
        assert.match(err.message, /prompt/);
        assert.match(err.traceId ?? '', /^[0-9a-f-]{36}$/);
        assert.ok(err.body !== null && typeof err.body === 'object');
        assert.equal(creates().length, 1, 'not retried');
        if (setup.dialect === 'task-api') assert.equal(err.wireCode, 'bad_request');
        if (setup.dialect === 'replicate') assert.equal(err.wireCode, 'Input validation failed');
      });

      test('a wrong token: 401 mapped to invalid_token, not retried', T, async () => {
        const c = clientFor(setup, proxy.url, 'tg_this_is_not_a_token');
        const err = await rejection(c.submit(setup.image, { prompt: 'x' }));
        assert.equal(err.status, 401);
        assert.equal(err.code, 'invalid_token');
        assert.equal(err.retryable, false);
        assert.ok(err.message.length > 0);
        assert.equal(proxy.seen.length, 1);
        const wire: Record<Dialect, string> = { 'task-api': 'invalid_token', apixo: '401', queue: 'UNAUTHORIZED', replicate: 'Unauthenticated' };
        assert.equal(err.wireCode, wire[setup.dialect]);
        if (setup.dialect === 'queue') assert.match(err.requestId ?? '', /\S/, 'the fal envelope\'s request_id');
        assert.match(err.traceId ?? '', /\S/);
      });

      if (setup.sse) {
        test('a failed event stream falls back to polling', T, async () => {
          const c = client();
          const task = await c.submit(setup.medium, { prompt: uniquePrompt('stream fails') });
          proxy.inject('GET', /\/stream(\?|$)/, { kind: 'respond', status: 500, body: { detail: 'no stream today' } });
          const done = await c.wait(task.id, { ...FAST_POLL, timeoutMs: 20_000 });
          assert.equal(done.status, 'succeeded');
          assert.deepEqual(proxy.matching('GET', /\/stream(\?|$)/).map((s) => s.status), [500]);
          assert.ok(statusReads().length >= 1, 'polled instead');
        });

        test('a stream whose connection dies without an answer falls back to polling', T, async () => {
          const c = client();
          const task = await c.submit(setup.medium, { prompt: uniquePrompt('stream cut') });
          proxy.inject('GET', /\/stream(\?|$)/, { kind: 'drop-after-answer' });
          const done = await c.wait(task.id, { ...FAST_POLL, timeoutMs: 20_000 });
          assert.equal(done.status, 'succeeded');
          assert.ok(done.outputs.length >= 1);
        });
      }
    });
  }

  test('Retry-After as an HTTP date is honoured', T, async () => {
    const setup = SETUPS[0]!;
    const c = clientFor(setup, proxy.url, gw.token);
    const task = await c.submit(setup.image, { prompt: uniquePrompt('http date') });
    proxy.reset();
    proxy.inject(setup.status.method, setup.status.path, {
      kind: 'respond', status: 429, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() }, body: envelope('task-api', 429, 'too_many_requests', 'x'),
    });
    await c.get(task.id);
    const reads = proxy.matching(setup.status.method, setup.status.path);
    assert.equal(reads.length, 2);
    assert.ok(gaps(reads)[0]! >= 900, `waited ${gaps(reads)[0]} ms`);
  });

  test('a request timeout is a retryable request_timeout; reads are retried after it', T, async () => {
    const setup = SETUPS[0]!;
    // A proxy that never answers: every attempt times out.
    const { createServer } = await import('node:http');
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const c = clientFor(setup, `http://127.0.0.1:${port}`, gw.token, { requestTimeoutMs: 150, retry: { maxRetries: 1, baseDelayMs: 10, maxDelayMs: 100 } });
      const started = Date.now();
      const err = await rejection(c.get('some-id', { service: 'flux/dev' }));
      assert.equal(err.code, 'request_timeout');
      assert.equal(err.status, 0);
      assert.equal(err.retryable, true);
      assert.ok(Date.now() - started >= 300, 'two attempts of 150 ms');
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
