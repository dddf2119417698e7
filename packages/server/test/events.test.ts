/** Typed task events are emitted after each transition has committed, in order, once each. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LocalTaskEvent as TaskEventName } from '../src/core/events.js';
import { startGateway } from './helpers.js';

test('a task emits queued → started → progress… → succeeded / failed, each after its commit', async () => {
  const t = await startGateway();
  try {
    const seen: Array<{ event: TaskEventName; id: string; state: string; storedState: Promise<string | undefined> }> = [];
    const names: TaskEventName[] = ['task:queued', 'task:started', 'task:progress', 'task:succeeded', 'task:failed'];
    for (const event of names) {
      t.gw.tasks.events.on(event, ({ task }) => {
        // Read back what is stored at emit time: the event must describe committed state.
        seen.push({ event, id: task.id, state: task.state, storedState: t.gw.tasks.get(task.ownerId, task.id).then((s) => s?.state) });
      });
    }
    const ok = (await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'events' } })).json.task_id as string;
    const bad = (await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'forbidden-demo-word' } })).json.task_id as string;

    const of = (id: string) => seen.filter((e) => e.id === id);
    const collapse = (list: TaskEventName[]) => list.filter((e, i) => e !== 'task:progress' || list[i - 1] !== 'task:progress');
    assert.deepEqual(collapse(of(ok).map((e) => e.event)), ['task:queued', 'task:started', 'task:progress', 'task:succeeded']);
    assert.deepEqual(of(bad).map((e) => e.event), ['task:queued', 'task:started', 'task:failed']);
    for (const e of seen) assert.equal(await e.storedState, e.state, `${e.event} describes the stored state`);
    assert.deepEqual(of(ok).map((e) => e.state).filter((s, i, a) => s !== a[i - 1]), ['queued', 'running', 'succeeded']);
  } finally {
    await t.close();
  }
});
