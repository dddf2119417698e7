/**
 * Messages a newcomer meets: a missing result file says the file does not exist (not "no API at
 * this path"), and a form-encoded body (`curl -d prompt=x`) is told the API takes JSON, in each
 * dialect's own envelope.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type Reply, type TestGateway } from './helpers.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('messages', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway();
  });
  after(() => t.close());

  test('a missing file: 404 not_found saying the file does not exist; an existing one is served', async () => {
    const missing = await t.call('GET', '/files/0123456789abcdef0123456789abcdef/image.png', { token: null });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'not_found');
    assert.match(missing.json.error.message, /^File \/files\/0123456789abcdef0123456789abcdef\/image\.png does not exist$/);
    assert.equal(missing.json.trace_id, missing.headers.get('x-trace-id'));

    const made = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'a file' } });
    assert.equal(made.status, 200, made.text);
    const file = await fetch(made.json.image_url);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'image/png');
  });

  test('an unknown path still answers no_api', async () => {
    const r = await t.call('GET', '/nowhere/at/all');
    assert.equal(r.status, 404);
    assert.equal(r.json.error.code, 'no_api');
  });

  const cases: Array<[string, string, (r: Reply) => string]> = [
    ['task API', '/v1/flux/dev', (r) => r.json.error.message],
    ['APIXO', '/api/v1/generateTask/flux-dev', (r) => r.json.data.error],
    ['queue', '/v1/queue/fal-ai/flux/dev', (r) => r.json.detail],
    ['Replicate', '/v1/models/black-forest-labs/flux-dev/predictions', (r) => r.json.detail],
  ];
  for (const [name, path, message] of cases) {
    test(`${name}: a form-encoded body is told the API takes JSON`, async () => {
      const r = await t.call('POST', path, { raw: 'prompt=x', headers: FORM });
      assert.equal(r.status, 400, r.text);
      assert.match(message(r), /takes a JSON body \(Content-Type: application\/json\), not application\/x-www-form-urlencoded/);
      assert.doesNotMatch(r.text, /content-type is set to/);
    });
  }

  test('malformed JSON names the parser\'s reason, not the content type', async () => {
    const r = await t.call('POST', '/v1/flux/dev', { raw: '{"prompt": "x",' });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /^Malformed JSON payload: .+/);
    assert.doesNotMatch(r.json.error.message, /content-type is set to/);
  });
});
