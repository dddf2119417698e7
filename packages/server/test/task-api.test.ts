/** The task API dialect end to end over HTTP: create (wait/async/heavy), retrieve, batch, failures. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import { wavDurationSec } from '../src/providers/demo/render-audio.js';
import { pollUntilFinished, startGateway, type TestGateway } from './helpers.js';

/** Task ids are UUID v7: unguessable (74 random bits), time-ordered for the store's index. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('task API dialect', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({
      services: {
        'slow/image': { provider: 'demo-image', mode: 'wait', waitLimitMs: 50, options: { latencyMs: 400, defaultWidth: 64, defaultHeight: 64 } },
        'late/image': { provider: 'demo-image', mode: 'wait', timeoutMs: 100, options: { latencyMs: 2000 } },
      },
    });
  });
  after(() => t.close());

  test('a wait-capable create returns the full Midjourney-shaped result inline', async () => {
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'A cat sitting on a table', width: 96, height: 80 } });
    assert.equal(r.status, 200);
    assert.equal(r.json.success, true);
    assert.match(r.json.task_id, UUID);
    assert.equal(r.json.trace_id, r.headers.get('x-trace-id'));
    assert.deepEqual(
      Object.keys(r.json).sort(),
      ['actions', 'image_height', 'image_id', 'image_url', 'image_width', 'success', 'task_id', 'trace_id'],
    );
    assert.equal(r.json.image_width, 96);
    assert.equal(r.json.image_height, 80);
    assert.ok(r.json.actions.includes('upscale1'));
    const img = await fetch(r.json.image_url);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/png');
    const png = PNG.sync.read(Buffer.from(await img.arrayBuffer()));
    assert.deepEqual([png.width, png.height], [96, 80]);
  });

  test('async: true answers {success, task_id, trace_id} at once; polling sees it finish', async () => {
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'async cat', async: true } });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['success', 'task_id', 'trace_id']);
    const early = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', id: r.json.task_id } });
    assert.equal(early.status, 200);
    assert.equal(early.json.id, r.json.task_id);
    assert.equal(early.json.finished_at, undefined);
    assert.equal(early.json.response, undefined);
    assert.equal(early.json.status, undefined, 'the task API has no status field');
    const done = await pollUntilFinished(t, 'midjourney', r.json.task_id);
    assert.equal(typeof done.json.finished_at, 'number');
    assert.ok(done.json.finished_at >= done.json.started_at && done.json.started_at >= done.json.created_at);
    assert.ok(done.json.created_at > 1.7e9 && done.json.created_at < 1e11, 'timestamps are Unix seconds');
    assert.deepEqual(done.json.request, { prompt: 'async cat', async: true });
    assert.equal(done.json.trace_id, r.json.trace_id);
    assert.equal(done.json.response.success, true);
    assert.equal(done.json.response.task_id, r.json.task_id);
    assert.match(done.json.response.image_url, /^http:\/\/127\.0\.0\.1:\d+\/files\/[0-9a-f]{32}\/image\.png\?exp=\d+&kid=[A-Za-z0-9_-]+&sig=[A-Za-z0-9_-]{43}$/);
  });

  test('retrieve by task_id works like by id', async () => {
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'alias' } });
    const a = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', task_id: r.json.task_id } });
    assert.equal(a.status, 200);
    assert.equal(a.json.id, r.json.task_id);
    assert.deepEqual(a.json.response, r.json, 'response is exactly the body the synchronous call returned');
  });

  test('callback_url answers at once and is stored on the task', async () => {
    const cb = 'http://127.0.0.1:9/midjourney/callback?k=secret';
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'cb', callback_url: cb } });
    assert.deepEqual(Object.keys(r.json).sort(), ['success', 'task_id', 'trace_id']);
    const task = await t.gw.tasks.get(t.ownerId, r.json.task_id);
    assert.equal(task?.callbackUrl, cb);
    assert.equal(task?.input.callback_url, undefined, 'control fields are not provider input');
  });

  test('suno and producer audios return the data[] audio shape with a real WAV', async () => {
    for (const vendor of ['suno', 'producer']) {
      const r = await t.call('POST', `/v1/${vendor}/audios`, { body: { prompt: 'lofi beat', duration: 1.5 } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.success, true);
      assert.equal(r.json.data.length, 1);
      const clip = r.json.data[0];
      assert.equal(clip.state, 'succeeded');
      assert.equal(clip.duration, 1.5);
      const wav = Buffer.from(await (await fetch(clip.audio_url)).arrayBuffer());
      assert.equal(wav.subarray(0, 4).toString(), 'RIFF');
      assert.equal(wavDurationSec(wav), 1.5);
    }
  });

  test('heavy services (veo) always answer with the task id; the video arrives by polling', async () => {
    const r = await t.call('POST', '/v1/veo/videos', { body: { prompt: 'a drone shot of a coast' } });
    assert.deepEqual(Object.keys(r.json).sort(), ['success', 'task_id', 'trace_id']);
    const done = await pollUntilFinished(t, 'veo', r.json.task_id);
    const video = done.json.response.data[0];
    assert.equal(video.state, 'succeeded');
    const gif = Buffer.from(await (await fetch(video.video_url)).arrayBuffer());
    assert.equal(gif.subarray(0, 6).toString(), 'GIF89a');
  });

  test('a wait past the service wait limit returns the task id and keeps the task', async () => {
    const r = await t.call('POST', '/v1/slow/image', { body: { prompt: 'slow' } });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['success', 'task_id', 'trace_id']);
    const done = await pollUntilFinished(t, 'slow', r.json.task_id);
    assert.equal(done.json.response.success, true);
  });

  test('a task running past its service timeout fails with timeout (504)', async () => {
    const r = await t.call('POST', '/v1/late/image', { body: { prompt: 'never done in time' } });
    assert.equal(r.status, 504);
    assert.equal(r.json.error.code, 'timeout');
    assert.equal(r.json.success, undefined, 'the sync error envelope has no success field');
    const done = await pollUntilFinished(t, 'late', r.json.task_id);
    assert.deepEqual(done.json.response.error.code, 'timeout');
    assert.equal(done.json.response.success, false);
  });

  test('moderation failure: 403 forbidden inline, failure envelope on retrieve', async () => {
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'a forbidden-demo-word here' } });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'forbidden');
    assert.equal(r.json.trace_id, r.headers.get('x-trace-id'));
    const got = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', id: r.json.task_id } });
    assert.deepEqual(got.json.response, {
      success: false, task_id: r.json.task_id, trace_id: r.json.trace_id, error: r.json.error,
    });
  });

  test('retrieve_batch returns {items, count} in the order asked, skipping unknown ids', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: `b${i}`, async: true } })).json.task_id);
    const asked = [ids[2], 'no-such-id', ids[0], ids[1]];
    const r = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve_batch', ids: asked } });
    assert.equal(r.status, 200);
    assert.equal(r.json.count, 3);
    assert.deepEqual(r.json.items.map((i: { id: string }) => i.id), [ids[2], ids[0], ids[1]]);
    const tooMany = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve_batch', ids: Array.from({ length: 101 }, (_, i) => `x${i}`) } });
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.json.error.code, 'bad_request');
    assert.match(tooMany.json.error.message, /100/);
    const hundred = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve_batch', ids: [...Array.from({ length: 99 }, (_, i) => `x${i}`), ids[0]] } });
    assert.equal(hundred.json.count, 1);
  });

  test('unknown tasks action → api_not_implemented; missing action → bad_request', async () => {
    const r = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'delete', id: 'x' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'api_not_implemented');
    const m = await t.call('POST', '/v1/midjourney/tasks', { body: { id: 'x' } });
    assert.equal(m.status, 400);
    assert.equal(m.json.error.code, 'bad_request');
  });

  test("another token's task answers exactly like an unknown id", async () => {
    const { token: other } = await t.gw.tokens.create('other');
    const mine = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'mine', async: true } });
    const id = mine.json.task_id as string;
    const stranger = await t.call('POST', '/v1/midjourney/tasks', { token: other, body: { action: 'retrieve', id } });
    const unknown = await t.call('POST', '/v1/midjourney/tasks', { token: other, body: { action: 'retrieve', id: '00000000-0000-4000-8000-000000000000' } });
    assert.equal(stranger.status, 404);
    assert.equal(stranger.status, unknown.status);
    assert.equal(stranger.json.error.code, unknown.json.error.code);
    assert.equal(stranger.json.error.message.replace(id, 'ID'), unknown.json.error.message.replace('00000000-0000-4000-8000-000000000000', 'ID'));
    const batch = await t.call('POST', '/v1/midjourney/tasks', { token: other, body: { action: 'retrieve_batch', ids: [id] } });
    assert.deepEqual(batch.json, { items: [], count: 0 });
    const own = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', id } });
    assert.equal(own.status, 200);
  });

  test('a task is read through its own service family only', async () => {
    const r = await t.call('POST', '/v1/suno/audios', { body: { prompt: 'x', async: true } });
    const wrong = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', id: r.json.task_id } });
    assert.equal(wrong.status, 404);
    assert.equal((await t.call('POST', '/v1/suno/tasks', { body: { action: 'retrieve', id: r.json.task_id } })).status, 200);
  });

  test('the same seed renders the same image; progress is reported while running', async () => {
    const a = await t.call('POST', '/v1/demo/image', { body: { prompt: 'same', seed: 42 } });
    const b = await t.call('POST', '/v1/demo/image', { body: { prompt: 'same', seed: 42 } });
    assert.equal(a.json.seed, 42);
    const download = async (r: typeof a): Promise<Buffer> => Buffer.from(await (await fetch(r.json.data[0].url)).arrayBuffer());
    assert.ok((await download(a)).equals(await download(b)));
    assert.notEqual(a.json.data[0].url, b.json.data[0].url, 'every output gets its own unguessable path');
    const progress: number[] = [];
    const off = t.gw.tasks.events.on('task:progress', ({ task }) => progress.push(task.progress ?? -1));
    await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'progress' } });
    off();
    assert.ok(progress.length >= 2, `progress events: ${progress.join(',')}`);
    assert.deepEqual([...progress].sort((x, y) => x - y), progress, 'progress only grows');
  });
});

describe('demo-image sizes', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ services: { 'demo/image': { provider: 'demo-image', mode: 'wait', options: { latencyMs: 10, steps: 1, defaultWidth: 512, defaultHeight: 512 } } } });
  });
  after(() => t.close());

  for (const [input, expected] of [
    [{ width: 96, height: 80 }, [96, 80]],
    [{ image_size: 'landscape_16_9' }, [1024, 576]],
    [{ image_size: { width: 128, height: 256 } }, [128, 256]],
    [{ aspect_ratio: '16:9' }, [512, 288]],
    [{ aspect_ratio: '2:3' }, [336, 512]],
    [{ image_size: 'square', width: 64 }, [64, 512]],
  ] as const) {
    test(`${JSON.stringify(input)} renders ${expected.join('x')}`, async () => {
      const r = await t.call('POST', '/v1/demo/image', { body: { prompt: 'size', ...input } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual([r.json.data[0].width, r.json.data[0].height], expected);
    });
  }

  test('an unknown image_size preset or a malformed aspect_ratio is a 400 naming it', async () => {
    for (const [field, value] of [['image_size', 'huge'], ['aspect_ratio', 'wide']] as const) {
      const r = await t.call('POST', '/v1/demo/image', { body: { prompt: 'x', [field]: value } });
      assert.equal(r.status, 400);
      assert.match(r.json.error.message, new RegExp(field));
    }
  });
});
