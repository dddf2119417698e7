/**
 * Secrets in URLs never reach the log (issue: at debug the request line logged the Replicate
 * stream `?key=…` and `?fal_webhook=http://user:password@…?sig=…` in full). The gateway runs at
 * debug into a buffer; the test makes those requests and greps every line for the secrets.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { startGateway } from './helpers.js';

test('debug request lines and url fields carry no query values or userinfo', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  let key: string | null = null;
  const t = await startGateway({ config: { logLevel: 'debug' }, logger: pino({ level: 'debug' }, sink) });
  try {
    // Replicate: the stream URL is a capability URL whose key is in the query.
    const created = await t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { body: { input: { prompt: 'a fox' } }, headers: { prefer: 'wait=5' } });
    assert.ok(created.status === 201 || created.status === 202, created.text);
    const stream = new URL(created.json.urls.stream as string);
    key = stream.searchParams.get('key');
    assert.ok(key && key.length >= 16, `stream key: ${stream.href}`);
    const events = await fetch(stream, { signal: AbortSignal.timeout(5000) });
    assert.equal(events.status, 200);
    await events.text();

    // fal queue: a webhook URL with a password and a signature in the query string.
    const password = 'pw-9f3c1e7a52';
    const sig = 'sig-4b8d0a6c13';
    const webhook = `http://user:${password}@127.0.0.1:9/hook?sig=${sig}`;
    const submitted = await t.call('POST', `/v1/queue/fal-ai/flux/dev?fal_webhook=${encodeURIComponent(webhook)}`, { body: { prompt: 'a fox' } });
    assert.equal(submitted.status, 200, submitted.text);
    // The same URL unencoded, as some clients send it.
    await t.call('POST', `/v1/queue/fal-ai/flux/dev?fal_webhook=${webhook}`, { body: { prompt: 'a fox' } });
    t.gw.log.info({ url: webhook }, 'a url field');
  } finally {
    await t.close();
  }
  const log = lines.join('\n');
  assert.ok(lines.some((l) => l.includes('incoming request') && l.includes('/v1/queue/fal-ai/flux/dev?fal_webhook=[redacted]')), 'request lines are logged, redacted');
  assert.ok(lines.some((l) => l.includes('a url field') && l.includes('http://[redacted]@127.0.0.1:9/hook?sig=[redacted]')));
  assert.ok(key);
  assert.ok(lines.some((l) => l.includes('incoming request') && l.includes('/stream?key=[redacted]')), 'the stream request is logged, redacted');
  for (const secret of [key, 'pw-9f3c1e7a52', 'sig-4b8d0a6c13', encodeURIComponent('pw-9f3c1e7a52')]) {
    const hit = lines.find((l) => l.includes(secret));
    assert.equal(hit, undefined, `the log holds "${secret}": ${hit}`);
  }
  assert.doesNotMatch(log, /user:pw-/);
});
