/** Every request gets a trace_id (header + body), stored on the task and in every log line about it. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { startGateway } from './helpers.js';

test('the trace_id is sent as x-trace-id, stored on the task and in every log line about it', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const t = await startGateway({ logger: pino({ level: 'info' }, sink) });
  try {
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'traced' } });
    const trace = r.headers.get('x-trace-id');
    assert.match(trace ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(r.json.trace_id, trace);
    assert.equal((await t.gw.tasks.get(t.ownerId, r.json.task_id))?.traceId, trace);
    const about = lines.filter((l) => l.task_id === r.json.task_id);
    assert.ok(about.length >= 3, `log lines about the task: ${JSON.stringify(about)}`);
    for (const l of about) assert.equal(l.trace_id, trace, JSON.stringify(l));
    assert.deepEqual(about.map((l) => l.msg), ['task created', 'task started', 'task succeeded']);

    const other = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', id: r.json.task_id } });
    assert.notEqual(other.headers.get('x-trace-id'), trace, 'each request gets its own trace id');
    assert.equal(other.json.trace_id, trace, 'retrieve reports the task’s trace id');
  } finally {
    await t.close();
  }
});
