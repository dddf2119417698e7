/**
 * Content moderation before create: a configured word or pattern in the input's text refuses the
 * create with `forbidden` in every dialect's envelope, and no task is stored (so nothing is held
 * or charged). Decisions: APIXO answers a pre-create refusal with its error envelope
 * `{code: 403, message: 'Forbidden', data: {error, failCode: 'CONTENT_VIOLATION'}}` — the same
 * failCode as a *task* that an upstream refused after create (the demo providers' blockedWords); Replicate
 * answers 403 problem+json (not 422: the input is well-formed, its content is refused).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { MODERATION_MESSAGE } from '../src/accounts/moderation.js';
import { startGateway, type TestGateway } from './helpers.js';

const MODERATION = { words: ['BadWord', 'two words'], patterns: ['evil\\s*plan\\d+'] };

async function storedTasks(t: TestGateway): Promise<number> {
  return (await t.gw.tasks.list({ ownerId: t.ownerId, limit: 100 })).length;
}

test('a moderated input is refused in every dialect and nothing is stored', async () => {
  const t = await startGateway({ config: { moderation: MODERATION } });
  try {
    const taskApi = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'a badword here', async: true } });
    assert.equal(taskApi.status, 403);
    assert.equal(taskApi.json.error.code, 'forbidden');
    assert.equal(taskApi.json.error.message, MODERATION_MESSAGE);
    assert.ok(taskApi.json.trace_id);

    const apixo = await t.call('POST', '/api/v1/generateTask/midjourney', { body: { input: { prompt: 'Two Words' } } });
    assert.equal(apixo.status, 403);
    assert.deepEqual(apixo.json, { code: 403, message: 'Forbidden', data: { error: MODERATION_MESSAGE, failCode: 'CONTENT_VIOLATION' } });

    const queue = await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'the EVIL plan42 unfolds' } });
    assert.equal(queue.status, 403);
    assert.deepEqual(queue.json, { detail: MODERATION_MESSAGE });

    const replicate = await t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { body: { input: { prompt: 'BADWORD!' } } });
    assert.equal(replicate.status, 403);
    assert.match(replicate.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.deepEqual(replicate.json, { title: 'Forbidden', detail: MODERATION_MESSAGE, status: 403 });

    const version = await t.call('POST', '/v1/predictions', { body: { version: 'black-forest-labs/flux-dev', input: { prompt: 'evilplan7' } } });
    assert.equal(version.status, 403);

    assert.equal(await storedTasks(t), 0, 'no refused create stored a task');
    // The same request with an Idempotency-Key is refused as well (nothing was remembered).
    const keyed = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'badword', async: true }, headers: { 'idempotency-key': 'k1' } });
    assert.equal(keyed.status, 403);
    assert.equal(await storedTasks(t), 0);
  } finally {
    await t.close();
  }
});

test('words match whole words only; strings anywhere in the input are checked', async () => {
  const t = await startGateway({ config: { moderation: MODERATION } });
  try {
    // Inside a longer word, or a pattern that does not match: accepted.
    for (const prompt of ['badwords everywhere', 'notbadword', 'evil plan', 'two wordsmith']) {
      const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt, async: true } });
      assert.equal(r.status, 200, `${prompt} is accepted`);
    }
    assert.equal(await storedTasks(t), 4);
    // Nested strings (objects and arrays) are text inputs too.
    const nested = await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'fine', extra: { tags: ['ok', 'a badword'] } } });
    assert.equal(nested.status, 403);
    assert.equal(await storedTasks(t), 4);
  } finally {
    await t.close();
  }
});

test('moderation.fields limits the check to those input fields', async () => {
  const t = await startGateway({ config: { moderation: { ...MODERATION, fields: ['prompt'] } } });
  try {
    const other = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'fine', note: 'badword', async: true } });
    assert.equal(other.status, 200, 'a field not listed is not checked');
    const listed = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'badword', async: true } });
    assert.equal(listed.status, 403);
    assert.equal(await storedTasks(t), 1);
  } finally {
    await t.close();
  }
});

test('without moderation config nothing is refused before create; the demo upstream still fails the task', async () => {
  const t = await startGateway();
  try {
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'badword forbidden-demo-word' } });
    // Created, then failed by the demo provider's own (upstream) moderation.
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'forbidden');
    assert.ok(r.json.task_id, 'a task was created and failed after create');
    assert.equal(await storedTasks(t), 1);
  } finally {
    await t.close();
  }
});

test('moderation config is validated at load: patterns must be regular expressions', () => {
  assert.throws(() => parseConfig({ moderation: { patterns: ['(unclosed'] } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /moderation\.patterns\.0: not a valid regular expression/);
    return true;
  });
  assert.throws(() => parseConfig({ moderation: { words: [' '] } }), ConfigError);
  assert.throws(() => parseConfig({ moderation: { unknown: true } }), ConfigError);
  const ok = parseConfig({ moderation: { words: ['x'] } });
  assert.deepEqual(ok.moderation, { words: ['x'], patterns: [] });
});
