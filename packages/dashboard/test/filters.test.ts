/** The task list's pure logic: filters ⇄ query strings, and how a live change updates the list. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyChange, filtersFromQuery, filtersToQuery, matches, NO_FILTERS, type TaskFilters } from '../src/lib/filters';
import type { TaskSummary } from '../src/lib/types';

const task = (id: string, over: Partial<TaskSummary> = {}): TaskSummary => ({
  id, account_id: 'acc_a', service: 'demo/image', dialect: 'task-api', state: 'queued', channel: null, progress: null, price: 0,
  attempts: 0, error: null, created_at: '2026-01-01T00:00:00.000Z', started_at: null, finished_at: null, duration_ms: null, ...over,
});

test('filters go to a query and come back unchanged; unknown states are dropped', () => {
  const f: TaskFilters = { service: ['demo/image', 'flux/dev'], state: ['failed', 'succeeded'], account: 'acc_a', channel: 'main', since: '2026-01-01T00:00:00.000Z', until: '' };
  const q = filtersToQuery(f, { limit: 50, before: null });
  assert.equal(q, 'service=demo%2Fimage%2Cflux%2Fdev&state=failed%2Csucceeded&account=acc_a&channel=main&since=2026-01-01T00%3A00%3A00.000Z&limit=50');
  assert.deepEqual(filtersFromQuery(new URLSearchParams(q)), f);
  assert.deepEqual(filtersFromQuery(new URLSearchParams('state=running,bogus')).state, ['running']);
  assert.equal(filtersToQuery(NO_FILTERS), '');
});

test('a task matches on every filter, creation time half-open [since, until)', () => {
  const t = task('a', { state: 'running', channel: 'main' });
  assert.ok(matches(NO_FILTERS, t));
  assert.ok(matches({ ...NO_FILTERS, state: ['running'], service: ['demo/image'], channel: 'main', account: 'acc_a' }, t));
  assert.ok(!matches({ ...NO_FILTERS, state: ['succeeded'] }, t));
  assert.ok(!matches({ ...NO_FILTERS, account: 'acc_b' }, t));
  assert.ok(matches({ ...NO_FILTERS, since: t.created_at }, t));
  assert.ok(!matches({ ...NO_FILTERS, until: t.created_at }, t));
});

test('a live change replaces its row, drops it when it stops matching, adds a new one in creation order', () => {
  const old = task('old', { created_at: '2026-01-01T00:00:00.000Z' });
  const mid = task('mid', { created_at: '2026-01-01T00:01:00.000Z' });
  const queued: TaskFilters = { ...NO_FILTERS, state: ['queued', 'running'] };
  let list = applyChange([mid, old], queued, task('new', { created_at: '2026-01-01T00:02:00.000Z' }));
  assert.deepEqual(list.map((t) => t.id), ['new', 'mid', 'old']);
  list = applyChange(list, queued, { ...mid, state: 'running' });
  assert.equal(list[1]!.state, 'running');
  list = applyChange(list, queued, { ...mid, state: 'succeeded' });
  assert.deepEqual(list.map((t) => t.id), ['new', 'old']);
  assert.deepEqual(applyChange(list, queued, task('done', { state: 'failed' })).map((t) => t.id), ['new', 'old']);
});
