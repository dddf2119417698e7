/**
 * The relay end to end: gateway A serves a service whose channels are upstream platforms — a
 * second real taskgate (B) over the task API and APIXO, and the task API fixture with fault
 * injection. Tasks created on A are submitted upstream once, polled, their outputs copied into
 * A's file store, and settled or refunded exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, call, startGateway, until, type TestGateway } from './helpers.js';
import { startTaskApiUpstream, type TaskApiUpstream } from './fixtures/task-api-upstream.js';

const POLL = { initialMs: 30, maxMs: 120, factor: 1.5 };

function relayService(channels: unknown[], extra: Record<string, unknown> = {}) {
  return { mode: 'wait', waitLimitMs: 10_000, timeoutMs: 20_000, channels, aliases: { apixo: ['relayed'] }, ...extra };
}

async function finished(t: TestGateway, id: string, vendor = 'relay') {
  return until(`task ${id} to finish on A`, async () => {
    const r = await t.call('POST', `/v1/${vendor}/tasks`, { body: { action: 'retrieve', id } });
    return r.json?.finished_at !== undefined ? r.json : undefined;
  }, 15_000);
}

describe('relay: A in front of a real taskgate B', () => {
  let b: TestGateway;
  let a: TestGateway;
  before(async () => {
    b = await startGateway({
      services: { 'slow/image': { provider: 'demo-image', mode: 'async', options: { latencyMs: 8000, steps: 8, defaultWidth: 64, defaultHeight: 64 }, aliases: { queue: ['acme/slow/image'], replicate: ['acme/slow'], apixo: ['slow-image'] } } },
    });
    a = await startGateway({
      config: { relay: { pollTickMs: 20 } },
      services: {
        'relay/flux': relayService([{ name: 'b-task-api', provider: 'task-api', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'flux/dev', poll: POLL }]),
        'relay/apixo': relayService([{ name: 'b-apixo', provider: 'apixo', baseUrl: b.url, apiKey: b.token, model: 'flux-dev', poll: POLL }], { aliases: {} }),
        'relay/fal': relayService([{ name: 'b-queue', provider: 'fal', baseUrl: `${b.url}/v1/queue`, apiKey: b.token, model: 'fal-ai/flux/dev', poll: POLL }], { aliases: {} }),
        'relay/replicate': relayService([{ name: 'b-replicate', provider: 'replicate', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'black-forest-labs/flux-dev', poll: POLL }], { aliases: {} }),
        'relay/slow': relayService([
          { name: 'b-slow-queue', provider: 'fal', baseUrl: `${b.url}/v1/queue`, apiKey: b.token, model: 'acme/slow/image', poll: POLL },
        ], { mode: 'async', aliases: { replicate: ['acme/relay-slow'] } }),
        'relay/slow-task-api': relayService([
          { name: 'b-slow-task-api', provider: 'task-api', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'slow/image', poll: POLL },
        ], { mode: 'async', aliases: { replicate: ['acme/relay-slow-task-api'] } }),
        'relay/slow-apixo': relayService([
          { name: 'b-slow-apixo', provider: 'apixo', baseUrl: b.url, apiKey: b.token, model: 'slow-image', poll: POLL },
        ], { mode: 'async', aliases: { replicate: ['acme/relay-slow-apixo'] } }),
        'relay/slow-replicate': relayService([
          { name: 'b-slow-replicate', provider: 'replicate', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'acme/slow', poll: POLL },
        ], { mode: 'async', aliases: { replicate: ['acme/relay-slow-replicate'] } }),
        'relay/priced': relayService([{ name: 'b-priced', provider: 'task-api', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'flux/dev', poll: POLL }], { aliases: {}, price: 3 }),
      },
    });
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  for (const service of ['relay/flux', 'relay/apixo', 'relay/fal', 'relay/replicate']) {
    test(`${service}: an async create is submitted once, polled, and its image copied to A`, async () => {
      const onB = async () => (await b.gw.tasks.list({ ownerId: b.ownerId, limit: 1000 })).length;
      const before = await onB();
      const created = await a.call('POST', `/v1/${service}`, { body: { prompt: 'a fox', async: true } });
      assert.equal(created.status, 200, created.text);
      const done = await finished(a, created.json.task_id);
      assert.equal(done.response.success, true, JSON.stringify(done.response));
      const url: string = done.response.data[0].url;
      assert.ok(url.startsWith(`${a.url}/files/`), `the output is served by A: ${url}`);
      const png = await fetch(url);
      assert.equal(png.status, 200);
      assert.equal(png.headers.get('content-type'), 'image/png');
      assert.ok((await png.arrayBuffer()).byteLength > 100);
      // Nothing of the upstream shows: not B's task id, URL or the channel's name.
      assert.doesNotMatch(JSON.stringify(done), new RegExp(`${b.url}|b-task-api|b-apixo|b-queue|b-replicate`));
      assert.equal(await onB(), before + 1, 'exactly one task on B');
    });
  }

  test('a waiting create on A answers inline with the relayed result', async () => {
    const r = await a.call('POST', '/v1/relay/flux', { body: { prompt: 'inline fox' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data[0].url.startsWith(`${a.url}/files/`), true, r.text);
  });

  test('an upstream failure and a moderation refusal keep their error codes, and are refunded', async () => {
    const failed = await a.call('POST', '/v1/relay/flux', { body: { prompt: 'fail-demo-word', async: true } });
    const done = await finished(a, failed.json.task_id);
    assert.equal(done.response.error.code, 'api_error', JSON.stringify(done.response));
    const refused = await a.call('POST', '/v1/relay/flux', { body: { prompt: 'forbidden-demo-word', async: true } });
    const ended = await finished(a, refused.json.task_id);
    assert.equal(ended.response.error.code, 'forbidden', JSON.stringify(ended.response));
  });

  test('credits: a relayed success is settled once, a relayed failure refunded once', async () => {
    const topup = await call(a.url, 'POST', `/admin/accounts/${a.ownerId}/topup`, ADMIN_TOKEN, { body: { amount: 10, reason: 'test' } });
    assert.equal(topup.status, 200, topup.text);
    const ok = await a.call('POST', '/v1/relay/priced', { body: { prompt: 'paid fox', async: true } });
    await finished(a, ok.json.task_id);
    const bad = await a.call('POST', '/v1/relay/priced', { body: { prompt: 'fail-demo-word', async: true } });
    await finished(a, bad.json.task_id);
    const balance = (await a.call('GET', '/v1/account/balance')).json;
    assert.deepEqual(balance, { balance: 7, held: 0, used: 3 });
    const ledger = (await a.call('GET', '/v1/account/ledger')).json.items.map((e: { kind: string }) => e.kind);
    assert.deepEqual(ledger.filter((k: string) => k === 'refund').length, 1);
    assert.deepEqual(ledger.filter((k: string) => k === 'settle').length, 1);
  });

  // Over each of B's dialects: the queue, Replicate, and the task API's and APIXO's cancel extensions.
  for (const service of ['relay/slow', 'relay/slow-replicate', 'relay/slow-task-api', 'relay/slow-apixo']) {
    test(`${service}: a cancel on A reaches the task on B`, async () => {
      const model = `acme/relay-${service.slice('relay/'.length)}`;
      const prompt = `cancel me via ${service}`;
      const created = await a.call('POST', `/v1/models/acme/${model.split('/')[1]}/predictions`, { body: { input: { prompt } } });
      assert.equal(created.status, 201, created.text);
      const id: string = created.json.id;
      await until('the task to be submitted to B', async () => ((await a.gw.tasks.upstream.get(id))?.ref ? true : undefined), 10_000);
      const cancelled = await a.call('POST', `/v1/predictions/${id}/cancel`);
      assert.equal(cancelled.json.status, 'canceled', cancelled.text);
      await until('the task on B to be cancelled', async () => {
        const onB = await b.gw.tasks.list({ ownerId: b.ownerId, limit: 1000 });
        const mine = onB.find((t) => t.service === 'slow/image' && t.input.prompt === prompt);
        return mine?.state === 'cancelled' ? true : undefined;
      }, 10_000);
    });
  }

  test('the operator sees the channels; clients never do', async () => {
    const r = await call(a.url, 'GET', '/admin/channels', ADMIN_TOKEN);
    assert.equal(r.status, 200, r.text);
    const names = r.json.items.map((c: { name: string }) => c.name).sort();
    assert.deepEqual(names, ['b-apixo', 'b-priced', 'b-queue', 'b-replicate', 'b-slow-apixo', 'b-slow-queue', 'b-slow-replicate', 'b-slow-task-api', 'b-task-api']);
    assert.equal(r.json.items[0].state, 'healthy');
  });
});

describe('relay: failover, ambiguity and caps against the task API fixture', () => {
  let up: TaskApiUpstream;
  let backup: TaskApiUpstream;
  let a: TestGateway;
  before(async () => {
    up = await startTaskApiUpstream({ token: 'up-key', delayMs: 60 });
    backup = await startTaskApiUpstream({ token: 'backup-key', delayMs: 60 });
    a = await startGateway({
      config: { relay: { pollTickMs: 20 } },
      services: {
        'relay/flux': relayService([
          { name: 'main', provider: 'task-api', baseUrl: `${up.url}/v1`, apiKey: 'up-key', model: 'flux/dev', poll: POLL, requestTimeoutMs: 500 },
          { name: 'backup', provider: 'task-api', baseUrl: `${backup.url}/v1`, apiKey: 'backup-key', model: 'flux/dev', poll: POLL, priority: 1 },
        ]),
        'relay/single': relayService([
          { name: 'single', provider: 'task-api', baseUrl: `${backup.url}/v1`, apiKey: 'backup-key', model: 'flux/dev', poll: POLL, pollBatchSize: 1 },
        ], { aliases: {} }),
      },
    });
  });
  after(async () => {
    await a.close();
    await up.close();
    await backup.close();
  });

  test('a 503 from the main channel fails over to the backup; the task succeeds', async () => {
    up.faults = [];
    up.inject({ kind: 'status', route: 'create', status: 503, times: 1 });
    const backupCreates = backup.count('create');
    const created = await a.call('POST', '/v1/relay/flux', { body: { prompt: 'failover', async: true } });
    const done = await finished(a, created.json.task_id);
    assert.equal(done.response.success, true, JSON.stringify(done.response));
    assert.equal(backup.count('create'), backupCreates + 1);
  });

  test('a dropped submit answer is resent under the same Idempotency-Key: one upstream task', async () => {
    up.faults = [];
    up.inject({ kind: 'drop', route: 'create', times: 1 });
    const tasksBefore = up.tasks.size;
    const created = await a.call('POST', '/v1/relay/flux', { body: { prompt: 'dropped answer', async: true } });
    const done = await finished(a, created.json.task_id);
    assert.equal(done.response.success, true, JSON.stringify(done.response));
    assert.equal(up.tasks.size, tasksBefore + 1, 'exactly one task created upstream');
    const keys = up.requests.filter((r) => r.route === 'create').slice(-2).map((r) => r.headers['idempotency-key']);
    assert.deepEqual(keys, [created.json.task_id, created.json.task_id]);
  });

  test('a poll answered with junk is transient: the task still succeeds', async () => {
    up.faults = [];
    up.inject({ kind: 'junk', route: 'poll', times: 2 });
    const created = await a.call('POST', '/v1/relay/flux', { body: { prompt: 'junk poll', async: true } });
    const done = await finished(a, created.json.task_id);
    assert.equal(done.response.success, true, JSON.stringify(done.response));
  });

  test('many tasks are polled in batches: far fewer poll requests than task polls', async () => {
    up.faults = [];
    // Tasks that run for several poll intervals and are all in flight together, whatever the
    // machine's speed: each is polled several times, and the polls of one tick share a request.
    const delayMs = up.options.delayMs;
    up.options.delayMs = 600;
    try {
      const before = up.requests.length;
      const created = await Promise.all(
        Array.from({ length: 40 }, (_, i) => a.call('POST', '/v1/relay/flux', { body: { prompt: `batch ${i}`, async: true } })),
      );
      const ids = created.map((r) => r.json.task_id as string);
      for (const id of ids) assert.equal((await finished(a, id)).response.success, true);
      const polls = up.requests.slice(before).filter((r) => r.route === 'poll');
      const polled = polls.reduce((n, r) => {
        const body = r.body as { action?: string; ids?: unknown[] };
        return n + (body.action === 'retrieve_batch' ? (body.ids?.length ?? 0) : 1);
      }, 0);
      assert.ok(polled >= ids.length * 2, `each task polled more than once (${polled} task polls)`);
      assert.ok(polls.length * 3 <= polled, `${polls.length} poll requests carried ${polled} task polls`);
    } finally {
      up.options.delayMs = delayMs;
    }
  });

  test('pollBatchSize 1 turns batch queries off: one task per poll request', async () => {
    const before = backup.requests.length;
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => a.call('POST', '/v1/relay/single', { body: { prompt: `single ${i}`, async: true } })));
    for (const r of created) assert.equal((await finished(a, r.json.task_id)).response.success, true);
    const sizes = backup.requests.slice(before).filter((r) => r.route === 'poll').map((r) => (r.body as { ids?: unknown[] }).ids?.length ?? 1);
    assert.ok(sizes.length >= 10, `${sizes.length} polls`);
    assert.deepEqual([...new Set(sizes)], [1]);
  });
});
