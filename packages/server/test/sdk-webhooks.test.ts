/**
 * `verifyWebhook` and `parseWebhook` on real deliveries: a gateway with webhook delivery on calls
 * a receiver on 127.0.0.1 (the test config allows private callback URLs) for a task submitted
 * through the SDK in each dialect. The delivery verifies under the token's secret (read over
 * HTTP from `/v1/webhooks/secret`) and parses into the finished task; a tampered body, an old or
 * future timestamp, a wrong secret and missing headers are rejected; both signatures of a
 * rotation verify.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { parseWebhook, verifyWebhook } from '@taskgate/client';
import { startGateway, until, type TestGateway } from './helpers.js';
import { SETUPS, assertPng, clientFor, rejection, uniquePrompt } from './fixtures/sdk-kit.js';

const T = { timeout: 60_000 };

interface Hit {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  raw: Buffer;
}

async function receiver() {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ path: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, hits, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

describe('verifyWebhook and parseWebhook on real deliveries', () => {
  let gw: TestGateway;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let secret: string;
  before(async () => {
    gw = await startGateway({ config: { webhooks: { enabled: true } } });
    rx = await receiver();
    const r = await gw.call('GET', '/v1/webhooks/secret');
    assert.equal(r.status, 200, r.text);
    secret = r.json.secret;
    assert.match(secret, /^whsec_/);
  });
  after(async () => {
    await gw.close();
    await rx.close();
  });

  const deliveryTo = (path: string) => until(`a delivery to ${path}`, () => rx.hits.find((h) => h.path === path), 15_000);

  for (const setup of SETUPS) {
    test(`${setup.dialect}: a delivery verifies and parses into the finished task`, T, async () => {
      const c = clientFor(setup, gw.url, gw.token);
      const path = `/hook/${setup.dialect}/ok`;
      const task = await c.submit(setup.image, { prompt: uniquePrompt('hooked') }, { webhookUrl: `${rx.base}${path}` });
      const hit = await deliveryTo(path);

      const verified = await verifyWebhook(hit.raw, hit.headers, secret);
      assert.equal(verified.id, hit.headers['webhook-id']);
      assert.equal(verified.timestamp, Number(hit.headers['webhook-timestamp']));
      assert.deepEqual(verified.body, JSON.parse(hit.raw.toString()));
      // The same from a fetch-style Headers and a string body.
      const headers = new Headers();
      for (const [k, v] of Object.entries(hit.headers)) if (typeof v === 'string') headers.set(k, v);
      assert.equal((await verifyWebhook(hit.raw.toString(), headers, secret)).id, verified.id);

      const parsed = parseWebhook(setup.dialect, verified.body);
      assert.ok(parsed, 'a callback body of the dialect');
      assert.equal(parsed.id, task.id);
      assert.equal(parsed.status, 'succeeded');
      assert.equal(parsed.error, null);
      assert.ok(parsed.outputs.length >= 1);
      for (const o of parsed.outputs) await assertPng(o.url, o.contentType);
      assert.deepEqual(parsed.raw, verified.body);
      assert.deepEqual(parseWebhook(setup.dialect, hit.raw.toString())?.id, task.id, 'the raw text parses too');
      // What the client reads matches what the callback said.
      assert.deepEqual((await c.get(task.id)).outputs.map((o) => o.url), parsed.outputs.map((o) => o.url));
    });

    test(`${setup.dialect}: a failed task's callback parses as failed with its error`, T, async () => {
      const c = clientFor(setup, gw.url, gw.token);
      const path = `/hook/${setup.dialect}/failed`;
      const task = await c.submit(setup.image, { prompt: uniquePrompt('fail-demo-word hooked') }, { webhookUrl: `${rx.base}${path}` });
      const hit = await deliveryTo(path);
      const parsed = parseWebhook(setup.dialect, (await verifyWebhook(hit.raw, hit.headers, secret)).body);
      assert.equal(parsed?.id, task.id);
      assert.equal(parsed?.status, 'failed');
      assert.ok(parsed?.error?.code, 'an error code');
      assert.equal(parsed?.error?.code, setup.failCode, 'the same code as a poll reports');
    });
  }

  test('rejected: a tampered body, old and future timestamps, a wrong secret, missing headers', T, async () => {
    const c = clientFor(SETUPS[0]!, gw.url, gw.token);
    const path = '/hook/tamper';
    await c.submit('flux/dev', { prompt: uniquePrompt('to tamper with') }, { webhookUrl: `${rx.base}${path}` });
    const hit = await deliveryTo(path);
    await verifyWebhook(hit.raw, hit.headers, secret); // the genuine one passes

    const tampered = hit.raw.toString().replace('"success":true', '"success":false');
    assert.notEqual(tampered, hit.raw.toString());
    assert.equal((await rejection(verifyWebhook(tampered, hit.headers, secret))).code, 'webhook_signature');
    assert.equal((await rejection(verifyWebhook(`${hit.raw.toString()} `, hit.headers, secret))).code, 'webhook_signature', 'one extra byte');

    // The genuine delivery, checked 6 minutes later (past the 5-minute tolerance), and 6 minutes early.
    const sent = Number(hit.headers['webhook-timestamp']) * 1000;
    assert.equal((await rejection(verifyWebhook(hit.raw, hit.headers, secret, { now: sent + 6 * 60_000 }))).code, 'webhook_timestamp');
    assert.equal((await rejection(verifyWebhook(hit.raw, hit.headers, secret, { now: sent - 6 * 60_000 }))).code, 'webhook_timestamp');
    await verifyWebhook(hit.raw, hit.headers, secret, { now: sent + 4 * 60_000 }); // within it

    // Correctly signed (by the reference Standard Webhooks library) but with a 10-minute-old timestamp.
    const old = new Date(Date.now() - 10 * 60_000);
    const id = String(hit.headers['webhook-id']);
    const oldHeaders = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(old.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, old, hit.raw.toString()) };
    const tooOld = await rejection(verifyWebhook(hit.raw, oldHeaders, secret));
    assert.equal(tooOld.code, 'webhook_timestamp');
    assert.match(tooOld.message, /old/);
    // The same signature with the timestamp header changed to now: the signature no longer matches.
    const restamped = { ...oldHeaders, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) };
    assert.equal((await rejection(verifyWebhook(hit.raw, restamped, secret))).code, 'webhook_signature');

    const wrong = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    assert.equal((await rejection(verifyWebhook(hit.raw, hit.headers, wrong))).code, 'webhook_signature');
    const { 'webhook-signature': _drop, ...unsigned } = hit.headers;
    assert.equal((await rejection(verifyWebhook(hit.raw, unsigned, secret))).code, 'webhook_headers');
    assert.equal((await rejection(verifyWebhook(hit.raw, { ...hit.headers, 'webhook-signature': 'v1,not-base64!!' }, secret))).code, 'webhook_signature');
  });

  test('during a secret rotation both the old and the new secret verify a delivery', T, async () => {
    const rotated = await gw.call('POST', '/v1/webhooks/secret/rotate', { body: { overlap_seconds: 60 } });
    assert.equal(rotated.status, 200, rotated.text);
    const fresh: string = rotated.json.secret;
    assert.notEqual(fresh, secret);
    const c = clientFor(SETUPS[3]!, gw.url, gw.token);
    const path = '/hook/rotated';
    await c.submit(SETUPS[3]!.image, { prompt: uniquePrompt('rotation') }, { webhookUrl: `${rx.base}${path}` });
    const hit = await deliveryTo(path);
    assert.equal(String(hit.headers['webhook-signature']).split(' ').length, 2);
    await verifyWebhook(hit.raw, hit.headers, secret);
    await verifyWebhook(hit.raw, hit.headers, fresh);
    await verifyWebhook(hit.raw, hit.headers, [`whsec_${Buffer.alloc(24, 9).toString('base64')}`, fresh]);
  });

  test('parseWebhook: null for bodies that are not callbacks of the dialect', () => {
    for (const setup of SETUPS) {
      assert.equal(parseWebhook(setup.dialect, 'not json'), null);
      assert.equal(parseWebhook(setup.dialect, { hello: 'world' }), null);
      assert.equal(parseWebhook(setup.dialect, null), null);
    }
    assert.equal(parseWebhook('task-api', { code: 200, message: 'success', data: { taskId: 'x', state: 'success' } }), null);
  });
});
