/**
 * Prometheus metrics on real gateways: a task's whole life counted (created → succeeded, its
 * webhook delivered to a receiver on 127.0.0.1), a retried webhook, refusals by moderation and rate
 * limit, who may read /metrics, the store's gauges on an API-only node (and on two nodes sharing
 * Postgres), a relayed task counted per channel, and the metrics token read from the environment
 * and redacted.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { redactSecrets } from '../src/config/redact.js';
import { ADMIN_TOKEN, removeDir, startGateway, until, type TestGateway } from './helpers.js';
import { freshDatabase, postgresUnavailable } from './pg.js';
import { REFUSED_PORT } from './fixtures/upstream-kit.js';

const METRICS_TOKEN = 'tgm_metrics_reader_0123456789';
const pgSkip = (await postgresUnavailable()) ?? false;

/** The samples of the exposition text: name, labels and value, one per line. */
function samples(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `labels`; undefined if there is none. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

async function scrape(t: TestGateway, token = METRICS_TOKEN): Promise<string> {
  const r = await t.call('GET', '/metrics', { token });
  assert.equal(r.status, 200, r.text);
  return r.text;
}

async function withGateway(opts: Parameters<typeof startGateway>[0], fn: (t: TestGateway) => Promise<void>): Promise<void> {
  const t = await startGateway(opts);
  try {
    await fn(t);
  } finally {
    await t.close();
    removeDir(t.dataDir);
  }
}

/** A webhook receiver on 127.0.0.1 answering the n-th request (0-based) with `status(n)`. */
async function receiver(status: (n: number) => number = () => 200) {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hits.push(req.url ?? '');
      res.writeHead(status(hits.length - 1)).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    hook: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, hits,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test('a task’s life is counted: created, succeeded, its latencies, one webhook delivered', async () => {
  const rx = await receiver();
  try {
    await withGateway({ config: { webhooks: { enabled: true }, metrics: { token: METRICS_TOKEN } } }, async (t) => {
      const created = await t.call('POST', '/v1/demo/image', { body: { prompt: 'a counted cat', async: true, callback_url: rx.hook } });
      assert.equal(created.status, 200, created.text);
      const id = created.json.task_id as string;
      await until('the webhook to be delivered', async () => {
        const [d] = await t.gw.webhookStore.listDeliveries(t.ownerId, { taskId: id, limit: 5 });
        return d?.state === 'delivered' ? d : undefined;
      }, 10_000);
      assert.equal((await t.gw.tasks.get(t.ownerId, id))?.state, 'succeeded');
      assert.equal(rx.hits.length, 1);

      const text = await scrape(t);
      assert.equal(value(text, 'taskgate_tasks_created_total', { service: 'demo/image', dialect: 'task-api' }), 1);
      assert.equal(samples(text).filter((s) => s.name === 'taskgate_tasks_created_total').length, 1, 'nothing else was created');
      assert.equal(value(text, 'taskgate_tasks_finished_total', { service: 'demo/image', dialect: 'task-api', channel: 'local', outcome: 'succeeded' }), 1);
      assert.equal(samples(text).filter((s) => s.name === 'taskgate_tasks_finished_total').length, 1);
      assert.equal(value(text, 'taskgate_task_queue_wait_seconds_count', { service: 'demo/image' }), 1);
      assert.equal(value(text, 'taskgate_task_run_seconds_count', { service: 'demo/image', outcome: 'succeeded' }), 1);
      assert.equal(value(text, 'taskgate_task_duration_seconds_count', { service: 'demo/image', outcome: 'succeeded' }), 1);
      const run = value(text, 'taskgate_task_run_seconds_sum', { service: 'demo/image', outcome: 'succeeded' })!;
      const total = value(text, 'taskgate_task_duration_seconds_sum', { service: 'demo/image', outcome: 'succeeded' })!;
      assert.ok(run > 0 && total >= run, `run ${run} s within end to end ${total} s`);
      assert.equal(value(text, 'taskgate_webhook_attempts_total', { event: 'completed', result: 'delivered' }), 1);
      assert.equal(samples(text).filter((s) => s.name === 'taskgate_webhook_attempts_total').length, 1, 'one attempt in all');
      assert.equal(samples(text).filter((s) => s.name === 'taskgate_webhook_failures_total').length, 0);
      assert.equal(value(text, 'taskgate_webhook_delivery_lag_seconds_count', { event: 'completed' }), 1);
      // Nothing queued or running now; process metrics are there too.
      assert.equal(value(text, 'taskgate_tasks_queued', { service: 'demo/image' }), 0);
      assert.equal(value(text, 'taskgate_tasks_running', { service: 'demo/image' }), 0);
      assert.ok(value(text, 'process_cpu_user_seconds_total')! > 0);
      assert.ok(value(text, 'nodejs_heap_size_used_bytes')! > 0);
      assert.match(text, /# TYPE taskgate_tasks_created_total counter/);
      assert.match(text, /# HELP taskgate_upstream_requests_total /);

      // The retention job's figures (it calls retentionRun after each run).
      assert.equal(value(text, 'taskgate_retention_tasks_removed_total'), 0);
      t.gw.metrics!.retentionRun({ tasks: 2, files: 3, bytes: 4096 });
      t.gw.metrics!.retentionRun({ tasks: 1, files: 0, bytes: 0 });
      const after = await scrape(t);
      assert.deepEqual(
        ['tasks_removed', 'files_removed', 'bytes_freed'].map((n) => value(after, `taskgate_retention_${n}_total`)),
        [3, 3, 4096],
      );
    });
  } finally {
    await rx.close();
  }
});

test('a webhook that fails first is counted as a retry with its reason, then delivered', async () => {
  const rx = await receiver((n) => (n === 0 ? 503 : 200));
  try {
    await withGateway({ config: { webhooks: { enabled: true } } }, async (t) => {
      const created = await t.call('POST', '/v1/demo/image', { body: { prompt: 'a retried cat', async: true, callback_url: rx.hook } });
      assert.equal(created.status, 200, created.text);
      await until('the webhook to be delivered', async () => {
        const [d] = await t.gw.webhookStore.listDeliveries(t.ownerId, { taskId: created.json.task_id, limit: 5 });
        return d?.state === 'delivered' ? d : undefined;
      }, 10_000);
      const text = await scrape(t, ADMIN_TOKEN);
      assert.equal(value(text, 'taskgate_webhook_attempts_total', { event: 'completed', result: 'retrying' }), 1);
      assert.equal(value(text, 'taskgate_webhook_attempts_total', { event: 'completed', result: 'delivered' }), 1);
      assert.equal(value(text, 'taskgate_webhook_failures_total', { event: 'completed', reason: 'http_5xx' }), 1);
      assert.equal(value(text, 'taskgate_webhook_delivery_lag_seconds_count', { event: 'completed' }), 1, 'one delivery, however many attempts');
      assert.equal(rx.hits.length, 2);
    });
  } finally {
    await rx.close();
  }
});

test('refusals are counted: moderation by service, rate limits by limit and service; refused creates are not created', async () => {
  const config = { dispatch: { enabled: false }, moderation: { words: ['forbiddenword'] }, rateLimits: { services: { 'flux/dev': 1 } } };
  await withGateway({ config }, async (t) => {
    const moderated = await t.call('POST', '/v1/demo/image', { body: { prompt: 'a forbiddenword cat', async: true } });
    assert.equal(moderated.status, 403, moderated.text);
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await t.call('POST', '/v1/flux/dev', { body: { prompt: 'a fast cat', async: true } })).status);
    const refused = codes.filter((c) => c === 429).length;
    assert.ok(refused >= 1 && codes[0] === 200, `statuses ${codes.join(', ')}`);

    const text = await scrape(t, ADMIN_TOKEN);
    assert.equal(value(text, 'taskgate_moderation_refusals_total', { service: 'demo/image' }), 1);
    assert.equal(value(text, 'taskgate_rate_limit_refusals_total', { limit: 'service', service: 'flux/dev' }), refused);
    assert.equal(value(text, 'taskgate_tasks_created_total', { service: 'demo/image' }), undefined, 'a refused create makes no task');
    assert.equal(value(text, 'taskgate_tasks_created_total', { service: 'flux/dev', dialect: 'task-api' }), 3 - refused);
  });
  await withGateway({ config: { dispatch: { enabled: false }, rateLimits: { rps: 1 } } }, async (t) => {
    let status = 200;
    for (let i = 0; i < 5 && status !== 429; i++) status = (await t.call('POST', '/v1/demo/image', { body: { prompt: 'x', async: true } })).status;
    assert.equal(status, 429);
    assert.equal(value(await scrape(t, ADMIN_TOKEN), 'taskgate_rate_limit_refusals_total', { limit: 'token', service: '' }), 1);
  });
});

test('who may read /metrics: the admin token and the metrics token; none, an API token or a wrong one are refused', async () => {
  await withGateway({ config: { dispatch: { enabled: false }, metrics: { token: METRICS_TOKEN } } }, async (t) => {
    const none = await t.call('GET', '/metrics', { token: null });
    assert.equal(none.status, 400);
    assert.equal(none.json.error.code, 'no_token');
    assert.match(none.json.error.message, /admin token or the metrics token/);
    const api = await t.call('GET', '/metrics', { token: t.token });
    assert.equal(api.status, 401);
    assert.equal(api.json.error.code, 'invalid_token');
    assert.match(api.json.error.message, /An API token cannot read metrics/);
    for (const token of ['tgm_wrong_metrics_token_0000', `${METRICS_TOKEN}x`, METRICS_TOKEN.slice(0, -1)]) {
      const wrong = await t.call('GET', '/metrics', { token });
      assert.equal(wrong.status, 401, token);
      assert.equal(wrong.json.error.code, 'invalid_token');
    }
    for (const token of [ADMIN_TOKEN, METRICS_TOKEN]) {
      const ok = await t.call('GET', '/metrics', { token });
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(ok.text, /taskgate_tasks_queued\{service="demo\/image"\} 0/);
      assert.doesNotMatch(ok.text, new RegExp(`${METRICS_TOKEN}|${ADMIN_TOKEN}`));
    }
    // The metrics token reads metrics and nothing else.
    assert.equal((await t.call('GET', '/admin/tokens', { token: METRICS_TOKEN })).status, 401);
    assert.equal((await t.call('POST', '/v1/demo/image', { token: METRICS_TOKEN, body: { prompt: 'x', async: true } })).status, 401);
  });
  // Without a metrics token configured, only the admin token reads them.
  await withGateway({ config: { dispatch: { enabled: false } } }, async (t) => {
    assert.equal((await t.call('GET', '/metrics', { token: METRICS_TOKEN })).status, 401);
    assert.equal((await t.call('GET', '/metrics', { token: ADMIN_TOKEN })).status, 200);
  });
  // Metrics off: no route, nothing counted.
  await withGateway({ config: { dispatch: { enabled: false }, metrics: { enabled: false } } }, async (t) => {
    const r = await t.call('GET', '/metrics', { token: ADMIN_TOKEN });
    assert.equal(r.status, 404);
    assert.equal(r.json.error.code, 'no_api');
    assert.equal(t.gw.metrics, null);
  });
});

test('gauges on an API-only node: queue depth per service from the store; a cancel is counted as finished', async () => {
  await withGateway({ config: { dispatch: { enabled: false } } }, async (t) => {
    const ids: string[] = [];
    for (const service of ['demo/image', 'demo/image', 'demo/image', 'flux/dev']) {
      const r = await t.call('POST', `/v1/${service}`, { body: { prompt: 'waiting', async: true } });
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.task_id);
    }
    let text = await scrape(t, ADMIN_TOKEN);
    assert.equal(value(text, 'taskgate_tasks_queued', { service: 'demo/image' }), 3);
    assert.equal(value(text, 'taskgate_tasks_queued', { service: 'flux/dev' }), 1);
    assert.equal(value(text, 'taskgate_tasks_queued', { service: 'suno/audios' }), 0, 'every configured service has a series');
    assert.equal(value(text, 'taskgate_tasks_running', { service: 'demo/image' }), 0);
    assert.equal(value(text, 'taskgate_tasks_created_total', { service: 'demo/image', dialect: 'task-api' }), 3);

    const cancel = await t.call('POST', '/v1/demo/tasks', { body: { action: 'cancel', id: ids[0] } });
    assert.equal(cancel.status, 200, cancel.text);
    text = await scrape(t, ADMIN_TOKEN);
    assert.equal(value(text, 'taskgate_tasks_queued', { service: 'demo/image' }), 2);
    assert.equal(value(text, 'taskgate_tasks_finished_total', { service: 'demo/image', dialect: 'task-api', channel: 'local', outcome: 'cancelled' }), 1);
    assert.equal(value(text, 'taskgate_task_duration_seconds_count', { service: 'demo/image', outcome: 'cancelled' }), 1);
    assert.equal(value(text, 'taskgate_task_queue_wait_seconds_count', { service: 'demo/image' }), undefined, 'it never started');
  });
});

test('gauges on two API-only nodes sharing Postgres: both report the store’s queue; each counts its own creates', { skip: pgSkip }, async () => {
  const db = await freshDatabase();
  const config = { databaseUrl: db.url, dispatch: { enabled: false } };
  const a = await startGateway({ config });
  const b = await startGateway({ config });
  try {
    for (const [node, n] of [[a, 2], [b, 1]] as const) {
      for (let i = 0; i < n; i++) assert.equal((await node.call('POST', '/v1/flux/dev', { body: { prompt: 'shared', async: true } })).status, 200);
    }
    const [onA, onB] = [await scrape(a, ADMIN_TOKEN), await scrape(b, ADMIN_TOKEN)];
    assert.deepEqual([value(onA, 'taskgate_tasks_queued', { service: 'flux/dev' }), value(onB, 'taskgate_tasks_queued', { service: 'flux/dev' })], [3, 3]);
    assert.deepEqual(
      [value(onA, 'taskgate_tasks_created_total', { service: 'flux/dev' }), value(onB, 'taskgate_tasks_created_total', { service: 'flux/dev' })],
      [2, 1],
    );
  } finally {
    await a.close();
    await b.close();
    await db.drop();
  }
});

test('a relayed task is counted per channel: upstream requests, errors, latency, in flight, and its finish', async () => {
  const b = await startGateway();
  // A port nothing listens on: connections to it are refused.
  const deadPort = REFUSED_PORT;
  const poll = { initialMs: 30, maxMs: 120, factor: 1.5 };
  const channels = [
    // Refused (nothing was sent): the relay fails over to B.
    { name: 'dead', provider: 'task-api', baseUrl: `http://127.0.0.1:${deadPort}/v1`, apiKey: 'k', model: 'flux/dev', priority: 0, poll },
    { name: 'b-task-api', provider: 'task-api', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'flux/dev', priority: 1, poll },
  ];
  try {
    await withGateway({ config: { relay: { pollTickMs: 20 } }, services: { 'relay/flux': { mode: 'async', channels } } }, async (a) => {
      const created = await a.call('POST', '/v1/relay/flux', { body: { prompt: 'a relayed fox', async: true } });
      assert.equal(created.status, 200, created.text);
      await until('the relayed task to succeed', async () => ((await a.gw.tasks.get(a.ownerId, created.json.task_id))?.state === 'succeeded' ? true : undefined), 15_000);
      const text = await until('its finish to be counted', async () => {
        const s = await scrape(a, ADMIN_TOKEN);
        return value(s, 'taskgate_tasks_finished_total', { service: 'relay/flux' }) === undefined ? undefined : s;
      });
      assert.equal(value(text, 'taskgate_tasks_finished_total', { service: 'relay/flux', dialect: 'task-api', channel: 'b-task-api', outcome: 'succeeded' }), 1);
      assert.equal(value(text, 'taskgate_upstream_requests_total', { channel: 'dead', phase: 'submit', result: 'network' }), 1);
      assert.equal(value(text, 'taskgate_upstream_errors_total', { channel: 'dead', phase: 'submit', kind: 'unavailable' }), 1);
      assert.equal(value(text, 'taskgate_upstream_requests_total', { channel: 'b-task-api', phase: 'submit', result: 'ok' }), 1);
      assert.ok(value(text, 'taskgate_upstream_requests_total', { channel: 'b-task-api', phase: 'poll', result: 'ok' })! >= 1);
      assert.equal(value(text, 'taskgate_upstream_request_duration_seconds_count', { channel: 'b-task-api', phase: 'submit' }), 1);
      assert.equal(samples(text).filter((s) => s.name === 'taskgate_upstream_errors_total' && s.labels.channel === 'b-task-api').length, 0);
      assert.equal(value(text, 'taskgate_upstream_in_flight', { channel: 'b-task-api' }), 0);
      assert.equal(value(text, 'taskgate_upstream_in_flight', { channel: 'dead' }), 0);
      // B saw the relayed task as an ordinary create through its task API.
      const onB = await scrape(b, ADMIN_TOKEN);
      assert.equal(value(onB, 'taskgate_tasks_created_total', { service: 'flux/dev', dialect: 'task-api' }), 1);
    });
  } finally {
    await b.close();
    removeDir(b.dataDir);
  }
});

test('the metrics token comes from TASKGATE_METRICS_TOKEN, is checked, and never printed', () => {
  const config = loadConfig({ TASKGATE_METRICS_TOKEN: METRICS_TOKEN, TASKGATE_CONFIG: '' }, '/nonexistent-dir');
  assert.equal(config.metrics.token, METRICS_TOKEN);
  assert.equal(config.metrics.enabled, true);
  const shown = JSON.stringify(redactSecrets(config));
  assert.doesNotMatch(shown, new RegExp(METRICS_TOKEN));
  assert.match(shown, /"metrics":\{"enabled":true,"token":"\[redacted\]"\}/);
  try {
    loadConfig({ TASKGATE_METRICS_TOKEN: 'short-secret' }, '/nonexistent-dir');
    assert.fail('a short token is refused');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, /TASKGATE_METRICS_TOKEN=\[redacted\]: must be at least 16 characters/);
    assert.doesNotMatch(err.message, /short-secret/);
  }
});
