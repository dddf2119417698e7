/**
 * The dashboard's views of a relayed task: gateway A relays to a real taskgate B over the task
 * API. A's task list shows and filters by the channel, the task page shows its upstream side
 * (channel, polls, last status) and when it was sent there, the services view shows the channel's
 * health and caps, and the live stream names the channel.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isTerminal } from '../src/core/types.js';
import { ADMIN_TOKEN, call, startGateway, until, waitForTask, type TestGateway } from './helpers.js';

let a: TestGateway;
let b: TestGateway;
const admin = (method: string, path: string) => call(a.url, method, path, ADMIN_TOKEN);

before(async () => {
  b = await startGateway();
  a = await startGateway({
    config: { relay: { pollTickMs: 20 } },
    services: {
      'relay/flux': {
        mode: 'async', timeoutMs: 20_000, aliases: {},
        channels: [{ name: 'b-task-api', provider: 'task-api', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'flux/dev', maxConcurrency: 7, poll: { initialMs: 30, maxMs: 120, factor: 1.5 } }],
      },
    },
  });
});
after(async () => {
  await a.close();
  await b.close();
});

test('a relayed task: its channel in the list, the filter, the task page, the services view and the live stream', async () => {
  const abort = new AbortController();
  const stream = await fetch(`${a.url}/admin/events`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: abort.signal });
  let streamed = '';
  const reading = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) streamed += decoder.decode(chunk, { stream: true });
    } catch {
      // aborted at the end of the test
    }
  })();

  const created = await a.call('POST', '/v1/relay/flux', { body: { prompt: 'relayed', async: true } });
  assert.equal(created.status, 200, created.text);
  const id: string = created.json.task_id;
  const task = await waitForTask(a.gw, a.ownerId, id, (x) => isTerminal(x.state), 15_000);
  assert.equal(task.state, 'succeeded');

  const listed = await admin('GET', '/admin/tasks?channel=b-task-api');
  assert.deepEqual(listed.json.items.map((x: { id: string; channel: string }) => [x.id, x.channel]), [[id, 'b-task-api']]);
  assert.deepEqual((await admin('GET', '/admin/tasks?channel=other')).json.items, []);

  const page = (await admin('GET', `/admin/tasks/${id}`)).json;
  assert.equal(page.channel, 'b-task-api');
  assert.equal(page.upstream.channel, 'b-task-api');
  assert.ok(page.upstream.polls >= 1, `polled: ${JSON.stringify(page.upstream)}`);
  assert.equal(typeof page.upstream.last_status, 'string');
  assert.equal(page.upstream.next_poll_at, null, 'no more polls once it ended');
  const events = page.timeline.map((e: { event: string }) => e.event).filter((e: string) => e !== 'progress');
  assert.deepEqual(events, ['created', 'started', 'upstream_submitted', 'succeeded']);
  assert.equal((await fetch(page.output.files[0].url)).status, 200, 'the copy in A’s file store');

  const services = (await admin('GET', '/admin/services')).json.items;
  const relayed = services.find((s: { name: string }) => s.name === 'relay/flux');
  assert.equal(relayed.kind, 'relayed');
  assert.deepEqual(
    relayed.channels.map((c: { name: string; state: string; max_concurrency: number; in_flight: number }) => [c.name, c.state, c.max_concurrency, c.in_flight]),
    [['b-task-api', 'healthy', 7, 0]],
  );

  await until('the stream to name the channel of the finished task', () =>
    streamed.split('\n\n').some((block) => block.includes(`"id":"${id}"`) && block.includes('"state":"succeeded"') && block.includes('"channel":"b-task-api"')) ? true : undefined);
  abort.abort();
  await reading;
});
