/**
 * Follow-up actions (upscale1–4, variation1–4, reroll) on an earlier image, end to end over real
 * HTTP: on the demo provider (the upscale's pixels decoded and compared with the parent's
 * quadrant), the owner checks, a restart between parent and follow-up, and over a relay: to a
 * real second taskgate B (task API) and to the midjourney-proxy fixture, always to the channel
 * that made the image (two channels configured, the other one preferred), naming the upstream's
 * own image / task id.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import { startMidjourneyProxyUpstream, type MidjourneyProxyUpstream } from './fixtures/midjourney-proxy-upstream.js';
import { startTaskApiUpstream, type TaskApiUpstream } from './fixtures/task-api-upstream.js';
import { ADMIN_TOKEN, FAST_SERVICES, call, removeDir, startGateway, tempDir, until, type Reply, type TestGateway } from './helpers.js';

const T = { timeout: 30_000 };
/** The nine actions, in the order the Midjourney shape lists them. */
const ALL = ['upscale1', 'upscale2', 'upscale3', 'upscale4', 'reroll', 'variation1', 'variation2', 'variation3', 'variation4'];
const POLL = { initialMs: 30, maxMs: 120, factor: 1.5 };

type Image = { width: number; height: number; data: Buffer };

async function decode(url: string): Promise<Image> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  assert.equal(res.headers.get('content-type'), 'image/png');
  return PNG.sync.read(Buffer.from(await res.arrayBuffer()));
}

const px = (img: Image, x: number, y: number): number[] => [...img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3)];

/** Mean absolute difference between the upscale and quadrant `q` of the parent doubled (even pixels). */
function quadrantDistance(up: Image, parent: Image, q: number): number {
  const qx = q === 2 || q === 4 ? parent.width - parent.width / 2 : 0;
  const qy = q === 3 || q === 4 ? parent.height - parent.height / 2 : 0;
  let sum = 0;
  let n = 0;
  for (let y = 0; y < up.height; y += 2) {
    for (let x = 0; x < up.width; x += 2) {
      const a = px(up, x, y);
      const b = px(parent, qx + x / 2, qy + y / 2);
      for (let c = 0; c < 3; c++) sum += Math.abs(a[c]! - b[c]!);
      n += 3;
    }
  }
  return sum / n;
}

function imageDistance(a: Image, b: Image): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) if (i % 4 !== 3) sum += Math.abs(a.data[i]! - b.data[i]!);
  return sum / ((a.data.length / 4) * 3);
}

/** Asserts the upscale is exactly quadrant `q` of the parent at every even pixel, and no other quadrant. */
function assertQuadrant(up: Image, parent: Image, q: number): void {
  assert.deepEqual([up.width, up.height], [parent.width, parent.height], 'twice the quadrant: the parent’s size');
  const qx = q === 2 || q === 4 ? parent.width / 2 : 0;
  const qy = q === 3 || q === 4 ? parent.height / 2 : 0;
  for (const [x, y] of [[0, 0], [10, 4], [up.width - 2, up.height - 2], [up.width / 2, up.height / 2 - 6]] as const) {
    assert.deepEqual(px(up, x, y), px(parent, qx + x / 2, qy + y / 2), `upscale${q} (${x},${y}) is parent (${qx + x / 2},${qy + y / 2})`);
  }
  assert.equal(quadrantDistance(up, parent, q), 0, `upscale${q}: every even pixel comes from quadrant ${q}`);
  for (const other of [1, 2, 3, 4].filter((o) => o !== q)) {
    assert.ok(quadrantDistance(up, parent, other) > 1, `upscale${q} is not quadrant ${other}`);
  }
}

/** Body without its trace id (which differs per request). */
const sansTrace = (r: Reply): unknown => ({ status: r.status, body: { ...r.json, trace_id: undefined } });

describe('follow-ups on the demo provider (midjourney/imagine)', () => {
  let t: TestGateway;
  let parent: Reply;
  before(async () => {
    t = await startGateway();
    parent = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'a lighthouse at dusk' } });
    assert.equal(parent.status, 200, parent.text);
  });
  after(() => t.close());
  const follow = (action: string, imageId: string, token?: string) => t.call('POST', '/v1/midjourney/imagine', { body: { action, image_id: imageId }, token });

  test('the result advertises all nine actions, and its image_id is the file id', T, async () => {
    assert.deepEqual(parent.json.actions, ALL);
    const task = await t.gw.tasks.get(t.ownerId, parent.json.task_id);
    assert.equal(task?.output?.files[0]?.id, parent.json.image_id);
  });

  for (const q of [1, 2, 3, 4]) {
    test(`upscale${q} renders quadrant ${q} of the parent twice as large; an upscale offers no actions`, T, async () => {
      const r = await follow(`upscale${q}`, parent.json.image_id);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.success, true);
      assert.notEqual(r.json.image_id, parent.json.image_id);
      assert.deepEqual(r.json.actions, []);
      assert.deepEqual([r.json.image_width, r.json.image_height], [64, 64]);
      assertQuadrant(await decode(r.json.image_url), await decode(parent.json.image_url), q);
      const task = await t.gw.tasks.get(t.ownerId, r.json.task_id);
      assert.deepEqual([task?.input, task?.followUp?.kind, task?.followUp?.index, task?.followUp?.parent.taskId], [
        { action: `upscale${q}`, image_id: parent.json.image_id }, 'upscale', q, parent.json.task_id,
      ]);
    });
  }

  test('variation1–4 and reroll re-render the parent’s prompt with a new seed, at its size, and carry all nine actions', T, async () => {
    const original = await decode(parent.json.image_url);
    const parentSeed = (await t.gw.tasks.get(t.ownerId, parent.json.task_id))!.output!.seed!;
    const seen: Image[] = [original];
    for (const action of ['variation1', 'variation2', 'variation3', 'variation4', 'reroll']) {
      const r = await follow(action, parent.json.image_id);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.actions, ALL, action);
      const img = await decode(r.json.image_url);
      assert.deepEqual([img.width, img.height, r.json.image_width, r.json.image_height], [64, 64, 64, 64]);
      for (const other of seen) assert.ok(imageDistance(img, other) > 1, `${action} differs from the parent and the others`);
      seen.push(img);
      const task = await t.gw.tasks.get(t.ownerId, r.json.task_id);
      assert.equal(task?.output?.data?.prompt, 'a lighthouse at dusk');
      if (action !== 'reroll') assert.equal(task?.output?.seed, (parentSeed + Number(action.slice(-1))) % 2 ** 32, `${action}: parent seed + N`);
      else assert.notEqual(task?.output?.seed, parentSeed);
    }
  });

  test('a follow-up continues a follow-up: upscale2 of a variation is quadrant 2 of the variation; an upscale of an upscale is refused', T, async () => {
    const variation = await follow('variation3', parent.json.image_id);
    const up = await follow('upscale2', variation.json.image_id);
    assert.equal(up.status, 200, up.text);
    assertQuadrant(await decode(up.json.image_url), await decode(variation.json.image_url), 2);
    const again = await follow('upscale1', up.json.image_id);
    assert.equal(again.status, 400, again.text);
    assert.deepEqual(again.json.error, { code: 'bad_request', message: 'Invalid field action: this image offers no follow-up actions' });
  });

  test('an image_id of another owner’s task answers exactly like an unknown one', T, async () => {
    const { token: other } = await t.gw.tokens.create('other owner');
    const theirs = await call(t.url, 'POST', '/v1/midjourney/imagine', other, { body: { prompt: 'not yours' } });
    assert.equal(theirs.status, 200, theirs.text);
    const foreign = await follow('upscale1', theirs.json.image_id);
    const unknown = await follow('upscale1', randomUUID());
    assert.equal(foreign.status, 400, foreign.text);
    assert.deepEqual(sansTrace(foreign), sansTrace(unknown));
    assert.deepEqual(foreign.json.error, { code: 'bad_request', message: 'Invalid field image_id: no finished image of this service has this id' });
    // The owner itself may continue it; and a task id (not a file id) is no image id either.
    assert.equal((await follow('upscale1', theirs.json.image_id, other)).status, 200);
    assert.deepEqual(sansTrace(await follow('reroll', parent.json.task_id)), sansTrace(unknown));
    // Another service's file (a Suno clip), not an image, is not found either.
    const clip = await t.call('POST', '/v1/suno/audios', { body: { prompt: 'a song' } });
    assert.deepEqual(sansTrace(await follow('variation1', clip.json.data[0].id)), sansTrace(unknown));
  });

  test('bad follow-ups are refused before any task exists; a create without prompt still answers Invalid field prompt', T, async () => {
    const before = (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length;
    const noPrompt = await t.call('POST', '/v1/midjourney/imagine', { body: {} });
    assert.equal(noPrompt.status, 400);
    assert.equal(noPrompt.json.error.code, 'bad_request');
    assert.match(noPrompt.json.error.message, /^Invalid field prompt: /);
    const noImage = await t.call('POST', '/v1/midjourney/imagine', { body: { action: 'upscale1' } });
    assert.deepEqual([noImage.status, noImage.json.error.message], [400, 'Invalid field image_id: required with action upscale1 (the image_id of an earlier result)']);
    const noAction = await t.call('POST', '/v1/midjourney/imagine', { body: { image_id: parent.json.image_id } });
    assert.equal(noAction.status, 400);
    assert.match(noAction.json.error.message, /^Invalid field action: a follow-up on image_id takes one of upscale1, /);
    const badAction = await follow('upscale5', parent.json.image_id);
    assert.match(badAction.json.error.message, /^Invalid field action: /);
    const audio = await t.call('POST', '/v1/suno/audios', { body: { action: 'upscale1', image_id: parent.json.image_id } });
    assert.deepEqual([audio.status, audio.json.error.code], [400, 'api_not_implemented']);
    assert.equal((await t.gw.tasks.list({ ownerId: t.ownerId, limit: 1000 })).length, before + 0, 'no task was stored');
  });

  test('another dialect takes the same follow-up: APIXO, with its own envelope for an unknown image', T, async () => {
    const r = await t.call('POST', '/api/v1/generateTask/midjourney', { body: { input: { action: 'upscale2', image_id: parent.json.image_id } } });
    assert.equal(r.status, 200, r.text);
    const done = await until('the APIXO follow-up', async () => {
      const s = await t.call('GET', `/api/v1/statusTask/midjourney?taskId=${r.json.data.taskId}`);
      return s.json.data.state === 'success' ? s.json.data : undefined;
    });
    const [url] = JSON.parse(done.resultJson).resultUrls;
    assertQuadrant(await decode(url), await decode(parent.json.image_url), 2);
    const unknown = await t.call('POST', '/api/v1/generateTask/midjourney', { body: { input: { action: 'upscale2', image_id: randomUUID() } } });
    assert.equal(unknown.status, 400, unknown.text);
    assert.equal(unknown.json.data.error, 'Invalid field input.image_id: no finished image of this service has this id');
  });

  test('follow-ups are asynchronous like any create, and read back through retrieve', T, async () => {
    const created = await follow('upscale4', parent.json.image_id);
    assert.equal(created.status, 200);
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { action: 'reroll', image_id: parent.json.image_id, async: true } });
    assert.deepEqual(Object.keys(r.json).sort(), ['success', 'task_id', 'trace_id']);
    const done = await until('the reroll', async () => {
      const got = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', id: r.json.task_id } });
      return got.json.finished_at !== undefined ? got.json : undefined;
    });
    assert.deepEqual(done.request, { action: 'reroll', image_id: parent.json.image_id, async: true });
    assert.deepEqual(done.response.actions, ALL);
  });
});

test('a follow-up costs what the service’s price rule says', T, async () => {
  const t = await startGateway({ services: { 'midjourney/imagine': { ...FAST_SERVICES['midjourney/imagine'], price: 2 } } });
  try {
    await call(t.url, 'POST', `/admin/accounts/${t.ownerId}/topup`, ADMIN_TOKEN, { body: { amount: 5, reason: 'test' } });
    const parent = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'paid' } });
    const up = await t.call('POST', '/v1/midjourney/imagine', { body: { action: 'upscale1', image_id: parent.json.image_id } });
    assert.equal(up.status, 200, up.text);
    assert.deepEqual((await t.call('GET', '/v1/account/balance')).json, { balance: 1, held: 0, used: 4 });
    const broke = await t.call('POST', '/v1/midjourney/imagine', { body: { action: 'upscale2', image_id: parent.json.image_id } });
    assert.deepEqual([broke.status, broke.json.error.code], [403, 'used_up']);
  } finally {
    await t.close();
  }
});

test('durable: a restart between parent and follow-up, and one while the follow-up runs', T, async () => {
  const dataDir = tempDir();
  const services = { 'midjourney/imagine': { ...FAST_SERVICES['midjourney/imagine'], options: { latencyMs: 400, steps: 2, defaultWidth: 64, defaultHeight: 64 } } };
  let t = await startGateway({ dataDir, services });
  const token = t.token;
  try {
    const parent = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'before the restart' } });
    assert.equal(parent.status, 200, parent.text);
    await t.close();
    t = await startGateway({ dataDir, services });
    const created = await call(t.url, 'POST', '/v1/midjourney/imagine', token, { body: { action: 'upscale3', image_id: parent.json.image_id, async: true } });
    assert.equal(created.status, 200, created.text);
    // Stopped while the follow-up is queued or rendering: the next start runs it as the upscale it is.
    await t.close();
    t = await startGateway({ dataDir, services });
    const done = await until('the follow-up after the restart', async () => {
      const r = await call(t.url, 'POST', '/v1/midjourney/tasks', token, { body: { action: 'retrieve', id: created.json.task_id } });
      return r.json?.finished_at !== undefined ? r.json : undefined;
    });
    assert.equal(done.response.success, true, JSON.stringify(done.response));
    const parentUrl = String(parent.json.image_url).replace(/^http:\/\/[^/]+/, t.url);
    assertQuadrant(await decode(done.response.image_url), await decode(parentUrl), 3);
  } finally {
    await t.close();
    removeDir(dataDir);
  }
});

function relayed(channels: unknown[], extra: Record<string, unknown> = {}) {
  return { mode: 'wait', shape: 'midjourney', waitLimitMs: 15_000, timeoutMs: 20_000, channels, aliases: {}, ...extra };
}

describe('follow-ups over a relay: a real taskgate B (task API) and the task API fixture', () => {
  let b: TestGateway;
  let fx: TaskApiUpstream;
  let a: TestGateway;
  before(async () => {
    b = await startGateway();
    fx = await startTaskApiUpstream({ token: 'fx-key', delayMs: 60 });
    a = await startGateway({
      config: { relay: { pollTickMs: 20 } },
      services: {
        'relay/imagine': relayed([
          // The fixture is preferred: a follow-up on an image B made still goes to B.
          { name: 'fx', provider: 'task-api', baseUrl: fx.base, apiKey: 'fx-key', model: 'midjourney/imagine', poll: POLL, priority: 0 },
          { name: 'b', provider: 'task-api', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'midjourney/imagine', poll: POLL, priority: 1 },
        ]),
        'relay/apixo': relayed([{ name: 'b-apixo', provider: 'apixo', baseUrl: b.url, apiKey: b.token, model: 'midjourney', poll: POLL }]),
      },
    });
  });
  after(async () => {
    await a.close();
    await b.close();
    await fx.close();
  });
  const imagine = (prompt: string) => a.call('POST', '/v1/relay/imagine', { body: { prompt } });
  const follow = (action: string, imageId: string, service = 'relay/imagine') => a.call('POST', `/v1/${service}`, { body: { action, image_id: imageId } });
  const channelOf = async (taskId: string) => (await a.gw.tasks.upstream.get(taskId))?.channel;

  test('each follow-up goes to the channel that made its image, naming that upstream’s own image_id', T, async () => {
    fx.inject({ kind: 'status', route: 'create', status: 503, times: 1 }); // the first imagine fails over to B
    const onB = await imagine('made on B');
    assert.equal(onB.status, 200, onB.text);
    const onFx = await imagine('made on the fixture');
    assert.equal(onFx.status, 200, onFx.text);
    assert.deepEqual([await channelOf(onB.json.task_id), await channelOf(onFx.json.task_id)], ['b', 'fx']);
    assert.deepEqual(onB.json.actions, ALL);

    // On B: the follow-up names B's image_id of the parent, not A's.
    const bParentId = (await a.gw.tasks.upstream.get(onB.json.task_id))!.ref!.id;
    const bParent = await b.gw.tasks.get(b.ownerId, bParentId);
    const bImageId = bParent!.output!.files[0]!.id;
    assert.notEqual(bImageId, onB.json.image_id, 'clients see A’s image id, never B’s');
    const fxFollowUps = fx.followUps.length;
    const up = await follow('upscale3', onB.json.image_id);
    assert.equal(up.status, 200, up.text);
    assert.equal(await channelOf(up.json.task_id), 'b', 'pinned to B although the fixture is preferred');
    assert.equal(fx.followUps.length, fxFollowUps, 'the other channel got nothing');
    const bFollowUp = (await b.gw.tasks.list({ ownerId: b.ownerId, limit: 100 })).find((t) => t.followUp?.action === 'upscale3');
    assert.deepEqual(bFollowUp?.input, { action: 'upscale3', image_id: bImageId });
    assert.equal(bFollowUp?.followUp?.parent.taskId, bParentId);
    assert.deepEqual(up.json.actions, []);
    assert.doesNotMatch(up.text, new RegExp(`${bImageId}|${bParentId}|${b.url}`));
    // B really upscaled the image: A's copy is quadrant 3 of A's copy of the parent.
    assertQuadrant(await decode(up.json.image_url), await decode(onB.json.image_url), 3);

    // On the fixture: the same create with {action, image_id: the fixture's own image id}.
    const fxParentId = (await a.gw.tasks.upstream.get(onFx.json.task_id))!.ref!.id;
    const bTasks = (await b.gw.tasks.list({ ownerId: b.ownerId, limit: 100 })).length;
    const variation = await follow('variation2', onFx.json.image_id);
    assert.equal(variation.status, 200, variation.text);
    assert.equal(await channelOf(variation.json.task_id), 'fx');
    assert.deepEqual(fx.followUps.at(-1), { action: 'variation2', imageId: `${fxParentId}-0`, parentId: fxParentId, taskId: (await a.gw.tasks.upstream.get(variation.json.task_id))!.ref!.id });
    const sent = fx.requests.filter((r) => r.route === 'create').at(-1)!;
    assert.deepEqual([sent.path, sent.body, sent.headers['idempotency-key']], ['/v1/midjourney/imagine', { action: 'variation2', image_id: `${fxParentId}-0`, async: true }, variation.json.task_id]);
    assert.equal((await b.gw.tasks.list({ ownerId: b.ownerId, limit: 100 })).length, bTasks, 'B got nothing');
    assert.deepEqual(variation.json.actions, ALL);
  });

  test('a follow-up on an image from a protocol without follow-ups (APIXO) answers a clear error', T, async () => {
    const parent = await a.call('POST', '/v1/relay/apixo', { body: { prompt: 'via apixo' } });
    assert.equal(parent.status, 200, parent.text);
    const r = await follow('upscale1', parent.json.image_id, 'relay/apixo');
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json.error, { code: 'api_not_implemented', message: 'Follow-up actions are not available for this image: the upstream that made it has none' });
  });

  test('an image made by another relayed service is not found', T, async () => {
    const parent = await a.call('POST', '/v1/relay/apixo', { body: { prompt: 'via apixo again' } });
    const r = await follow('upscale1', parent.json.image_id);
    assert.deepEqual([r.status, r.json.error.message], [400, 'Invalid field image_id: no finished image of this service has this id']);
  });

  test('the channel that made the image cooling down: the follow-up fails clearly, no other channel is tried', T, async () => {
    const parent = await imagine('made on the fixture, then it breaks');
    assert.equal(await channelOf(parent.json.task_id), 'fx');
    fx.inject({ kind: 'status', route: 'create', status: 503, times: 3 });
    for (let i = 0; i < 3; i++) assert.equal((await imagine(`fails over ${i}`)).status, 200); // the fixture cools down
    const fxFollowUps = fx.followUps.length;
    const bTasks = (await b.gw.tasks.list({ ownerId: b.ownerId, limit: 100 })).length;
    const r = await follow('upscale1', parent.json.image_id);
    assert.equal(r.status, 500, r.text);
    assert.equal(r.json.error.code, 'api_error');
    assert.match(r.json.error.message, /^The upstream that made this image is cooling down .*cannot go to another upstream/);
    assert.equal(fx.followUps.length, fxFollowUps);
    assert.equal((await b.gw.tasks.list({ ownerId: b.ownerId, limit: 100 })).length, bTasks, 'not failed over to B');
  });
});

test('relay durable: a restart of A between the parent and its follow-up', T, async () => {
  const b = await startGateway();
  const dataDir = tempDir();
  const services = { 'relay/imagine': relayed([{ name: 'b', provider: 'task-api', baseUrl: `${b.url}/v1`, apiKey: b.token, model: 'midjourney/imagine', poll: POLL }]) };
  const config = { relay: { pollTickMs: 20 } };
  let a = await startGateway({ dataDir, services, config });
  const token = a.token;
  try {
    const parent = await a.call('POST', '/v1/relay/imagine', { body: { prompt: 'relayed, then restarted' } });
    assert.equal(parent.status, 200, parent.text);
    await a.close();
    a = await startGateway({ dataDir, services, config });
    const up = await call(a.url, 'POST', '/v1/relay/imagine', token, { body: { action: 'upscale4', image_id: parent.json.image_id } });
    assert.equal(up.status, 200, up.text);
    const onB = (await b.gw.tasks.list({ ownerId: b.ownerId, limit: 10 })).find((t) => t.followUp !== null);
    assert.equal(onB?.input.action, 'upscale4');
    const parentUrl = String(parent.json.image_url).replace(/^http:\/\/[^/]+/, a.url);
    assertQuadrant(await decode(up.json.image_url), await decode(parentUrl), 4);
  } finally {
    await a.close();
    await b.close();
    removeDir(dataDir);
  }
});

describe('follow-ups over a relay to midjourney-proxy', () => {
  let m0: MidjourneyProxyUpstream;
  let m1: MidjourneyProxyUpstream;
  let a: TestGateway;
  before(async () => {
    m0 = await startMidjourneyProxyUpstream();
    m1 = await startMidjourneyProxyUpstream();
    a = await startGateway({
      config: { relay: { pollTickMs: 20 } },
      services: {
        'relay/mj': relayed([
          { name: 'mj0', provider: 'midjourney-proxy', baseUrl: m0.base, apiKey: 'fixture-key', model: 'midjourney', poll: POLL, priority: 0 },
          { name: 'mj1', provider: 'midjourney-proxy', baseUrl: m1.base, apiKey: 'fixture-key', model: 'midjourney', poll: POLL, priority: 1 },
        ]),
      },
    });
  });
  after(async () => {
    await a.close();
    await m0.close();
    await m1.close();
  });
  const follow = (action: string, imageId: string) => a.call('POST', '/v1/relay/mj', { body: { action, image_id: imageId } });

  test('upscale, variation and reroll go to the proxy that made the image as /mj/submit/change on its task id', T, async () => {
    m0.inject({ kind: 'status', route: 'create', status: 503, times: 1 }); // made on mj1, the less preferred one
    const parent = await a.call('POST', '/v1/relay/mj', { body: { prompt: 'a cat on a roof' } });
    assert.equal(parent.status, 200, parent.text);
    const up = (await a.gw.tasks.upstream.get(parent.json.task_id))!;
    assert.equal(up.channel, 'mj1');
    const mjParent = up.ref!.id;

    const cases = [['upscale2', 'UPSCALE', 2], ['variation3', 'VARIATION', 3], ['reroll', 'REROLL', null]] as const;
    for (const [action, mjAction, index] of cases) {
      const r = await follow(action, parent.json.image_id);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.success, true);
      assert.deepEqual(r.json.actions, action === 'upscale2' ? [] : ALL);
      const ref = (await a.gw.tasks.upstream.get(r.json.task_id))!;
      assert.equal(ref.channel, 'mj1', action);
      assert.deepEqual(m1.changes.at(-1), { parentId: mjParent, action: mjAction, index, taskId: ref.ref!.id });
      const sent = m1.requests.filter((q) => q.path === '/mj/submit/change').at(-1)!;
      const body: Record<string, unknown> = { taskId: mjParent, action: mjAction, state: r.json.task_id };
      if (index !== null) body.index = index;
      assert.deepEqual([sent.headers['mj-api-secret'], sent.body], ['fixture-key', body]);
      assert.doesNotMatch(r.text, new RegExp(`${mjParent}|${ref.ref!.id}|${m1.url}`));
    }
    assert.equal(m0.requests.filter((q) => q.path === '/mj/submit/change').length, 0, 'the preferred proxy never saw a change');

    // A follow-up on a variation is a change on the variation's task at the same proxy.
    const variation = await follow('variation1', parent.json.image_id);
    const upOfVariation = await follow('upscale4', variation.json.image_id);
    assert.equal(upOfVariation.status, 200, upOfVariation.text);
    assert.deepEqual(m1.changes.at(-1)?.parentId, (await a.gw.tasks.upstream.get(variation.json.task_id))!.ref!.id);
  });
});
