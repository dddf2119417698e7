/**
 * The read cache over a store shared by several nodes: finished tasks are kept whatever happens
 * (they never change again); live tasks only while every node's changes are announced, dropped
 * when a change is announced (also one announced while the store read was on its way), and never
 * trusted longer than their TTL.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskEvents } from '../src/core/events.js';
import { TaskReadCache } from '../src/core/read-cache.js';
import type { Task } from '../src/core/types.js';
import { newTaskToTask } from '../src/store/task-row.js';
import { newTask } from './store-contract.js';

function setup() {
  const events = new TaskEvents();
  const state = { coherent: true, now: 1_000 };
  const cache = new TaskReadCache(events, { size: 100, liveTtlMs: 2_000, coherent: () => state.coherent, now: () => state.now });
  return { events, state, cache };
}

const queued = (): Task => newTaskToTask(newTask());
const done = (t: Task): Task => ({ ...t, state: 'succeeded', finishedAt: 5, output: { files: [] } });

test('finished tasks are kept even without a complete feed; live ones only with it', () => {
  const { cache, state } = setup();
  state.coherent = false;
  const live = queued();
  const finished = done(queued());
  cache.fill(live, cache.mark());
  cache.fill(finished, cache.mark());
  assert.equal(cache.get(live.id), undefined, 'no live task without a complete feed');
  assert.equal(cache.get(finished.id), finished);
  state.coherent = true;
  cache.fill(live, cache.mark());
  assert.equal(cache.get(live.id), live);
  state.coherent = false;
  assert.equal(cache.get(live.id), undefined, 'the feed went down: live entries are no longer trusted');
});

test("another node's announced change drops the task; a change announced during the read keeps the stale read out", () => {
  const { cache, events } = setup();
  const t = queued();
  cache.fill(t, cache.mark());
  events.emit('task:remote', { id: t.id, event: 'task:started' });
  assert.equal(cache.get(t.id), undefined);
  const mark = cache.mark(); // a store read begins …
  events.emit('task:remote', { id: t.id, event: 'task:cancelled' }); // … another node changes the task meanwhile
  cache.fill(t, mark); // … and the read returns the state from before that change
  assert.equal(cache.get(t.id), undefined, 'the possibly stale read is not cached');
  cache.fill(t, cache.mark());
  assert.equal(cache.get(t.id), t, 'a read begun after the announcement is cached');
});

test("this node's own transitions put the committed task in; live entries expire after their TTL", () => {
  const { cache, events, state } = setup();
  const t = queued();
  events.emit('task:queued', { task: t });
  assert.equal(cache.get(t.id), t);
  const running: Task = { ...t, state: 'running', startedAt: 2 };
  events.emit('task:started', { task: running, workerId: 'w' });
  assert.equal(cache.get(t.id), running);
  state.now += 2_001;
  assert.equal(cache.get(t.id), undefined, 'trusted for liveTtlMs at most');
  const finished = done(t);
  events.emit('task:succeeded', { task: finished });
  state.now += 3_600_000;
  assert.equal(cache.get(t.id), finished, 'a finished task never expires');
});
