/**
 * The SDK's waits (Retry-After, backoff) last at least what they say by the monotonic clock. Node's
 * timers count whole milliseconds of the event loop's clock, so `setTimeout(fn, 1000)` may fire
 * up to a millisecond early (seen: a Retry-After: 1 honoured after 999.95 ms), and a retry sent
 * before a server's Retry-After has passed is refused again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sleep } from '../../client/src/sdk/transport.js';

/** Busy-waits `ms` (the event loop's cached time falls behind). */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('sleep(ms) never returns before ms have passed', async () => {
  const early: string[] = [];
  for (let i = 0; i < 300; i++) {
    const started = performance.now();
    await sleep(3);
    const waited = performance.now() - started;
    if (waited < 3) early.push(waited.toFixed(3));
  }
  assert.deepEqual(early, [], 'waits shorter than asked');
});

test('sleep(ms) waits at least ms when set late in a long event-loop turn', async () => {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setImmediate(r)); // a fresh turn: the loop's time is cached now
    block(40); // … and is 40 ms behind when the wait starts
    const started = performance.now();
    await sleep(60);
    const waited = performance.now() - started;
    assert.ok(waited >= 60, `waited ${waited.toFixed(2)} ms for 60`);
  }
});

test('sleep rejects at once when its signal aborts', async () => {
  const ac = new AbortController();
  const started = performance.now();
  const pending = sleep(10_000, ac.signal);
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(pending, { code: 'aborted' });
  assert.ok(performance.now() - started < 5_000);
});
