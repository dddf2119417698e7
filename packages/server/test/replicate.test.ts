/** The Replicate dialect over raw HTTP: create, lifecycle, Prefer: wait, cancel, webhooks. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import { versionId } from '../src/dialects/replicate/models.js';
import { SIGNED_QUERY, startGateway, waitForTask, type TestGateway } from './helpers.js';
import { FLUX, SLOW, ISO, PREDICTION_KEYS, poll, assertProblem, SERVICES } from './replicate-shared.js';

describe('Replicate dialect', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ services: SERVICES });
  });
  after(() => t.close());

  test('POST /v1/predictions with owner/name answers 201 with a starting prediction in Replicate’s shape', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'a red fox' } } });
    assert.equal(r.status, 201, r.text);
    const p = r.json;
    assert.deepEqual(Object.keys(p).sort(), PREDICTION_KEYS);
    assert.equal(p.status, 'starting');
    assert.equal(p.model, FLUX);
    assert.equal(p.version, versionId(FLUX));
    assert.match(p.version, /^[0-9a-f]{64}$/);
    assert.deepEqual(p.input, { prompt: 'a red fox' }, 'the input is echoed as sent');
    assert.deepEqual([p.output, p.error, p.logs, p.data_removed, p.started_at, p.completed_at], [null, null, '', false, null, null]);
    assert.match(p.created_at, ISO);
    assert.equal(p.urls.get, `${t.url}/v1/predictions/${p.id}`);
    assert.equal(p.urls.cancel, `${t.url}/v1/predictions/${p.id}/cancel`);
    assert.ok(p.urls.stream.startsWith(`${t.url}/v1/predictions/${p.id}/stream?key=`));
    const task = await t.gw.tasks.get(t.ownerId, p.id);
    assert.equal(task?.dialect, 'replicate');
    assert.equal(task?.service, 'flux/dev');
    assert.equal(task?.traceId, r.headers.get('x-trace-id'));
    assert.equal(task?.meta.model, FLUX);
  });

  test('POST /v1/models/{owner}/{name}/predictions, owner/name:version and a bare version id all create', async () => {
    const viaModel = await t.call('POST', `/v1/models/${FLUX}/predictions`, { body: { input: { prompt: 'model route' } } });
    assert.equal(viaModel.status, 201, viaModel.text);
    assert.equal(viaModel.json.model, FLUX);
    // Replicate's own hashes are accepted after owner/name (one version per model here) …
    const pinned = `${FLUX}:${'ab12'.repeat(16)}`;
    const viaPinned = await t.call('POST', '/v1/predictions', { body: { version: pinned, input: { prompt: 'pinned' } } });
    assert.equal(viaPinned.status, 201, viaPinned.text);
    assert.equal(viaPinned.json.model, FLUX);
    // … and a bare version id must be one of ours: the one every prediction shows.
    const viaHash = await t.call('POST', '/v1/predictions', { body: { version: viaModel.json.version, input: { prompt: 'hash' } } });
    assert.equal(viaHash.status, 201, viaHash.text);
    assert.equal(viaHash.json.model, FLUX);
    const slow = await t.call('POST', '/v1/predictions', { body: { version: versionId(SLOW), input: { prompt: 'slow by hash' } } });
    assert.equal(slow.json.model, SLOW);
    assert.equal((await t.gw.tasks.get(t.ownerId, slow.json.id))?.service, 'slow/image');

    const unknownHash = await t.call('POST', '/v1/predictions', { body: { version: 'f'.repeat(64), input: { prompt: 'x' } } });
    assertProblem(unknownHash, 422, 'Invalid version or not permitted');
    assert.equal(unknownHash.json.invalid_fields[0].field, 'version');
    const unknownName = await t.call('POST', '/v1/predictions', { body: { version: 'nobody/nothing', input: { prompt: 'x' } } });
    assertProblem(unknownName, 422, 'Invalid version or not permitted');
    const unknownRoute = await t.call('POST', '/v1/models/nobody/nothing/predictions', { body: { input: { prompt: 'x' } } });
    assertProblem(unknownRoute, 404, 'Not found');
    assert.match(unknownRoute.json.detail, /nobody\/nothing/);
  });

  test('status follows the lifecycle: starting → processing (with logs) → succeeded with a PNG, timestamps and metrics', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'lifecycle', width: 96, height: 80 } } });
    assert.equal(r.json.status, 'starting');
    const { last, seen } = await poll(t, r.json.id, (x) => x.json.status === 'succeeded');
    assert.ok(seen.includes('processing'), `seen ${seen.join(' → ')}`);
    assert.deepEqual(seen.filter((s) => s !== 'starting' && s !== 'processing'), ['succeeded'], 'no other status on the way');
    assert.ok(seen.indexOf('processing') < seen.indexOf('succeeded'));
    const p = last.json;
    assert.deepEqual(Object.keys(p).sort(), [...PREDICTION_KEYS, 'metrics'].sort());
    assert.equal(p.logs.split('\n').length, 4);
    assert.match(p.logs, /^rendering: step 1\/4\n/);
    assert.ok(Date.parse(p.created_at) <= Date.parse(p.started_at) && Date.parse(p.started_at) <= Date.parse(p.completed_at));
    assert.ok(p.metrics.predict_time >= 0.5 && p.metrics.predict_time < 5, `predict_time ${p.metrics.predict_time}`);
    assert.ok(p.metrics.total_time >= p.metrics.predict_time);
    assert.equal(p.error, null);
    assert.equal(p.output.length, 1, 'an image model answers an array of URLs');
    assert.match(p.output[0], new RegExp(`^${t.url}/files/[0-9a-f]{32}/image\\.png${SIGNED_QUERY.source}$`));
    const png = PNG.sync.read(Buffer.from(await (await fetch(p.output[0])).arrayBuffer()));
    assert.deepEqual([png.width, png.height], [96, 80]);
  });

  test('a single video file is answered as one URL string', async () => {
    const r = await t.call('POST', '/v1/models/taskgate/clip/predictions', { body: { input: { prompt: 'waves' } } });
    const { last } = await poll(t, r.json.id, (x) => x.json.status === 'succeeded');
    assert.equal(typeof last.json.output, 'string');
    const gif = Buffer.from(await (await fetch(last.json.output)).arrayBuffer());
    assert.equal(gif.subarray(0, 6).toString(), 'GIF89a');
  });

  test('Prefer: wait holds the create until the prediction succeeded (201, output inline)', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'waited' } }, headers: { prefer: 'wait=10' } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.status, 'succeeded');
    assert.equal(r.json.output.length, 1);
    assert.ok(r.json.logs.length > 0);
    const img = await fetch(r.json.output[0]);
    assert.equal(img.headers.get('content-type'), 'image/png');
    // Bare `wait` and other preferences in the same header work too; N above 60 is capped, not refused.
    for (const prefer of ['wait', 'respond-async, wait=120', 'wait=5; foo=bar']) {
      const again = await t.call('POST', `/v1/models/${FLUX}/predictions`, { body: { input: { prompt: prefer } }, headers: { prefer } });
      assert.equal(again.json.status, 'succeeded', prefer);
    }
  });

  test('Prefer: wait=N that runs out answers starting (202) — never processing — and keeps the prediction', async () => {
    const started = Date.now();
    const r = await t.call('POST', '/v1/models/taskgate/crawl-image/predictions', { body: { input: { prompt: 'too slow' } }, headers: { prefer: 'wait=1' } });
    const elapsed = Date.now() - started;
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.status, 'starting');
    assert.ok(elapsed >= 900 && elapsed < 2400, `held ${elapsed} ms for wait=1`);
    const task = await t.gw.tasks.get(t.ownerId, r.json.id);
    assert.equal(task?.state, 'running', 'it was running when the wait ended, yet the answer says starting');
    assert.equal((await t.call('GET', `/v1/predictions/${r.json.id}`)).json.status, 'processing');
    await t.call('POST', `/v1/predictions/${r.json.id}/cancel`);
  });

  test('the service’s wait limit caps Prefer: wait; an async service never holds the create', async () => {
    const capped = await t.call('POST', '/v1/models/taskgate/capped-image/predictions', { body: { input: { prompt: 'capped' } }, headers: { prefer: 'wait=60' } });
    assert.equal(capped.status, 202);
    assert.equal(capped.json.status, 'starting');
    const { last } = await poll(t, capped.json.id, (x) => x.json.status === 'succeeded');
    assert.equal(last.json.output.length, 1, 'the prediction went on after the answer');

    const started = Date.now();
    const clip = await t.call('POST', '/v1/models/taskgate/clip/predictions', { body: { input: { prompt: 'async' } }, headers: { prefer: 'wait' } });
    assert.equal(clip.status, 202);
    assert.equal(clip.json.status, 'starting');
    assert.ok(Date.now() - started < 1000);
  });

  test('a bad Prefer: wait value is a 422 naming the header, and nothing is created', async () => {
    const before = (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length;
    for (const prefer of ['wait=0', 'wait=soon', 'wait=-3', 'wait=']) {
      const r = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'x' } }, headers: { prefer } });
      assertProblem(r, 422, 'Input validation failed');
      assert.equal(r.json.invalid_fields[0].field, 'Prefer', prefer);
    }
    assert.equal((await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length, before);
  });

  test('cancel: a running prediction ends canceled and stays so; a queued one never starts; a finished one is returned unchanged', async () => {
    const running = (await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'cancel me' } } })).json;
    const queued = (await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'wait my turn' } } })).json;
    await waitForTask(t.gw, t.ownerId, running.id, (x) => x.state === 'running' && (x.progress ?? 0) > 0);
    assert.equal((await t.call('GET', `/v1/predictions/${queued.id}`)).json.status, 'starting', 'concurrency 1: the second waits');

    const q = await t.call('POST', `/v1/predictions/${queued.id}/cancel`);
    assert.equal(q.json.status, 'canceled');
    assert.equal(q.json.started_at, null);
    assert.equal(q.json.metrics.predict_time, 0);
    const c = await t.call('POST', `/v1/predictions/${running.id}/cancel`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.status, 'canceled');
    assert.deepEqual([c.json.output, c.json.error], [null, null]);
    assert.match(c.json.completed_at, ISO);
    assert.ok(c.json.logs.length > 0, 'the logs so far are kept');

    await new Promise((res) => setTimeout(res, 700)); // past the whole provider latency
    const later = await t.call('GET', `/v1/predictions/${running.id}`);
    assert.deepEqual([later.json.status, later.json.output], ['canceled', null], 'a late result never overwrites a cancel');
    assert.equal((await t.call('GET', `/v1/predictions/${queued.id}`)).json.started_at, null);
    const again = await t.call('POST', `/v1/predictions/${running.id}/cancel`);
    assert.deepEqual(again.json, later.json, 'cancelling a canceled prediction changes nothing');

    const done = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'finished' } }, headers: { prefer: 'wait' } });
    const seen = await t.call('GET', `/v1/predictions/${done.json.id}`);
    const late = await t.call('POST', `/v1/predictions/${done.json.id}/cancel`);
    assert.equal(late.status, 200);
    assert.deepEqual(late.json, seen.json, 'a finished prediction is returned unchanged');
    assert.equal(late.json.status, 'succeeded');
  });

  test('webhook becomes the task’s callback URL and webhook_events_filter is kept in its meta', async () => {
    const webhook = 'http://127.0.0.1:9/hooks/replicate?secret=1';
    const r = await t.call('POST', '/v1/predictions', {
      body: { version: FLUX, input: { prompt: 'hooked' }, webhook, webhook_events_filter: ['completed', 'start', 'start'] },
    });
    assert.equal(r.status, 201, r.text);
    const task = await t.gw.tasks.get(t.ownerId, r.json.id);
    assert.equal(task?.callbackUrl, webhook);
    assert.deepEqual(task?.meta.webhook_events_filter, ['start', 'completed']);
    assert.deepEqual(task?.input.webhook, undefined, 'webhook fields are not provider input');
    assert.deepEqual(r.json.input, { prompt: 'hooked' });

    const plain = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'no hook' } } });
    const untouched = await t.gw.tasks.get(t.ownerId, plain.json.id);
    assert.equal(untouched?.callbackUrl, null);
    assert.equal(untouched?.meta.webhook_events_filter, undefined, 'no filter given: the default (all events)');

    const before = (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length;
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ webhook: 'ftp://example.com/x' }, 'webhook'],
      [{ webhook: 'not a url' }, 'webhook'],
      [{ webhook: 42 }, 'webhook'],
      [{ webhook, webhook_events_filter: ['finished'] }, 'webhook_events_filter'],
      [{ webhook, webhook_events_filter: 'completed' }, 'webhook_events_filter'],
    ];
    for (const [extra, field] of bad) {
      const x = await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'x' }, ...extra } });
      assertProblem(x, 422, 'Input validation failed');
      assert.deepEqual(x.json.invalid_fields.map((f: { field: string }) => f.field), [field], JSON.stringify(extra));
    }
    assert.equal((await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length, before, 'nothing stored');
  });

});
