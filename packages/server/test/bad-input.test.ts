/** Bad input gets a clear 4xx in the task API's envelope, never a 500, and loses nothing stored. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type Reply, type TestGateway } from './helpers.js';

function assertError(r: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error?.code, code, r.text);
  assert.equal(typeof r.json.error.message, 'string');
  assert.equal(r.json.success, undefined);
  assert.equal(r.json.trace_id, r.headers.get('x-trace-id'));
  if (message) assert.match(r.json.error.message, message);
}

describe('bad input', () => {
  let t: TestGateway;
  let keptId: string;
  before(async () => {
    t = await startGateway({ config: { bodyLimit: 2048 } });
    keptId = (await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'keep me' } })).json.task_id;
  });
  after(async () => {
    // Nothing stored before the bad requests was lost, and the gateway still serves.
    const r = await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', id: keptId } });
    assert.equal(r.status, 200);
    assert.equal(r.json.response.success, true);
    await t.close();
  });

  test('malformed JSON → 400 bad_request naming the problem', async () => {
    assertError(await t.call('POST', '/v1/midjourney/imagine', { raw: '{"prompt": "cat",' }), 400, 'bad_request', /JSON/);
    assertError(await t.call('POST', '/v1/midjourney/tasks', { raw: 'not json at all' }), 400, 'bad_request', /JSON/);
  });

  test('a body that is not a JSON object → 400', async () => {
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: ['prompt'] }), 400, 'bad_request', /object/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: 'cat' }), 400, 'bad_request', /object/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { raw: '' }), 400, 'bad_request', /empty/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', {}), 400, 'bad_request', /empty/);
  });

  test('wrong field types and ranges → 400 naming the field', async () => {
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 42 } }), 400, 'bad_request', /prompt/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: {} }), 400, 'bad_request', /prompt/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x', width: 'big' } }), 400, 'bad_request', /width/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x', height: 99999 } }), 400, 'bad_request', /height/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x', seed: -1 } }), 400, 'bad_request', /seed/);
    assertError(await t.call('POST', '/v1/suno/audios', { body: { prompt: 'x', duration: 'long' } }), 400, 'bad_request', /duration/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x', async: 'yes' } }), 400, 'bad_request', /async/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x', callback_url: 12 } }), 400, 'bad_request', /callback_url/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x', callback_url: 'not a url' } }), 400, 'bad_request', /callback_url/);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x', callback_url: 'ftp://h/x' } }), 400, 'bad_request', /callback_url/);
    assertError(await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve', id: 7 } }), 400, 'bad_request', /id/);
    assertError(await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve_batch', ids: 'a,b' } }), 400, 'bad_request', /ids/);
    assertError(await t.call('POST', '/v1/midjourney/tasks', { body: { action: 'retrieve_batch', ids: [1, 2] } }), 400, 'bad_request', /ids/);
  });

  test('an oversized body → 400 bad_request naming the limit', async () => {
    const r = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'x'.repeat(4096) } });
    assertError(r, 400, 'bad_request', /2048 bytes/);
  });

  test('missing or wrong credentials → no_token (400) / invalid_token (401)', async () => {
    assertError(await t.call('POST', '/v1/midjourney/imagine', { token: null, body: { prompt: 'x' } }), 400, 'no_token');
    assertError(await t.call('POST', '/v1/midjourney/imagine', { token: 'tg_wrong', body: { prompt: 'x' } }), 401, 'invalid_token');
    assertError(await t.call('POST', '/v1/midjourney/tasks', { token: null, body: { action: 'retrieve', id: keptId } }), 400, 'no_token');
    assertError(await t.call('POST', '/v1/midjourney/imagine', { headers: { authorization: 'Bearer ' }, token: null, body: { prompt: 'x' } }), 400, 'no_token');
  });

  test('unregistered paths → 404 no_api', async () => {
    assertError(await t.call('POST', '/v1/nope/imagine', { body: { prompt: 'x' } }), 404, 'no_api');
    assertError(await t.call('POST', '/v1/nope/tasks', { body: { action: 'retrieve', id: 'x' } }), 404, 'no_api');
    assertError(await t.call('GET', '/v1/midjourney/imagine'), 404, 'no_api');
    assertError(await t.call('POST', '/v1/midjourney/imagine/extra', { body: {} }), 404, 'no_api');
    // A path under /files names a file that does not exist (see messages.test.ts).
    assertError(await t.call('GET', '/files/0123/none.png', { token: null }), 404, 'not_found', /does not exist/);
  });

  test('a body without the JSON content type is still parsed as JSON (or rejected clearly)', async () => {
    const ok = await t.call('POST', '/v1/midjourney/imagine', { raw: JSON.stringify({ prompt: 'x', async: true }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(ok.status, 200, ok.text);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { raw: 'prompt=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, 'bad_request', /takes a JSON body/);
    const plain = await t.call('POST', '/v1/midjourney/imagine', { raw: JSON.stringify({ prompt: 'x', async: true }), headers: { 'content-type': 'text/plain' } });
    assert.equal(plain.status, 200, plain.text);
    assertError(await t.call('POST', '/v1/midjourney/imagine', { raw: 'a cat', headers: { 'content-type': 'text/plain' } }), 400, 'bad_request', /JSON/);
  });

  test('prototype-pollution keys are refused', async () => {
    assertError(await t.call('POST', '/v1/midjourney/imagine', { raw: '{"prompt":"x","__proto__":{"polluted":1}}' }), 400, 'bad_request');
  });
});

test('a URL the router rejects (bad %-escape) answers in the envelope of the dialect it belongs to', async () => {
  const t = await startGateway();
  try {
    const task = await t.call('GET', '/v1/mid%zzjourney/tasks');
    assert.equal(task.status, 400);
    assert.equal(task.json.error.code, 'bad_request');
    const apixo = await t.call('GET', '/api/v1/statusTask/%zz?taskId=x');
    assert.deepEqual([apixo.status, apixo.json.code], [400, 400]);
    const queue = await t.call('GET', '/v1/queue/fal-ai/%zz/requests/x/status');
    assert.equal(queue.status, 400);
    assert.equal(typeof queue.json.detail, 'string');
    const replicate = await t.call('GET', '/v1/predictions/%zz');
    assert.deepEqual([replicate.status, replicate.json.status], [400, 400]);
    assert.equal(typeof replicate.json.title, 'string');
  } finally {
    await t.close();
  }
});
