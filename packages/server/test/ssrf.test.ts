/**
 * Create-time SSRF refusals: with private callbacks not allowed, every dialect refuses callback
 * URLs that resolve to loopback, private, link-local or metadata addresses (IP literals, IPv6,
 * IPv4-mapped IPv6, `localhost`) in its own error envelope and creates nothing; a public address
 * is accepted. Delivery is off in these gateways, so nothing is ever sent; the only name resolved
 * is `localhost` (from /etc/hosts). IPv6 forms that embed an IPv4 address (IPv4-translated
 * `::ffff:0:127.0.0.1`, 6to4, NAT64) are refused at create in every dialect and, for a task
 * whose callback skipped the create-time check, at delivery: the only receiver is on 127.0.0.1
 * and nothing else is ever connected to (each such test first asserts the address is classified
 * as blocked, so code that would let it through fails before any connection is attempted).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { checkCallbackUrl } from '../src/http/callback-url.js';
import { checkLiteralHost, WebhookSender } from '../src/webhooks/sender.js';
import { isBlockedAddress } from '../src/webhooks/ssrf.js';
import { removeDir, startGateway, type Reply, type TestGateway } from './helpers.js';

const REFUSED: Array<[url: string, address: RegExp]> = [
  ['http://127.0.0.1/x', /\(127\.0\.0\.1\)/],
  ['http://localhost/x', /\((127\.0\.0\.1|::1)\)/],
  ['http://10.0.0.1/x', /\(10\.0\.0\.1\)/],
  ['http://169.254.169.254/latest/meta-data', /\(169\.254\.169\.254\)/],
  ['http://[::1]/x', /\(::1\)/],
  ['http://[::ffff:127.0.0.1]/x', /\(::ffff:7f00:1\)/],
];
const PUBLIC = 'http://93.184.215.14/hook';
const HINT = /resolves to a loopback, private, link-local or metadata address .*set TASKGATE_ALLOW_PRIVATE_CALLBACKS=1 to allow it/;

interface Dialect {
  name: string;
  create(t: TestGateway, url: string): Promise<Reply>;
  /** Asserts the refusal is in the dialect's envelope; returns the message. */
  refused(r: Reply): string;
  /** The new task's id from a successful create. */
  created(r: Reply): string;
}

const DIALECTS: Dialect[] = [
  {
    name: 'task API',
    create: (t, url) => t.call('POST', '/v1/demo/image', { body: { prompt: 'a cat', callback_url: url } }),
    refused(r) {
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, 'bad_request');
      assert.match(r.json.error.message, /^Field callback_url /);
      assert.equal(typeof r.json.trace_id, 'string');
      return r.json.error.message;
    },
    created(r) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.success, true);
      return r.json.task_id;
    },
  },
  {
    name: 'APIXO',
    create: (t, url) => t.call('POST', '/api/v1/generateTask/flux-dev', { body: { callback_url: url, input: { prompt: 'a cat' } } }),
    refused(r) {
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 400);
      assert.equal(r.json.message, 'Invalid request');
      assert.match(r.json.data.error, /^Field callback_url /);
      return r.json.data.error;
    },
    created(r) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.code, 200);
      return r.json.data.taskId;
    },
  },
  {
    name: 'queue',
    create: (t, url) => t.call('POST', `/v1/queue/fal-ai/flux/dev?fal_webhook=${encodeURIComponent(url)}`, { body: { prompt: 'a cat' } }),
    refused(r) {
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(Object.keys(r.json), ['detail']);
      assert.match(r.json.detail, /^Query parameter fal_webhook /);
      return r.json.detail;
    },
    created(r) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.status, 'IN_QUEUE');
      return r.json.request_id;
    },
  },
  {
    name: 'Replicate',
    create: (t, url) => t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { body: { input: { prompt: 'a cat' }, webhook: url } }),
    refused(r) {
      assert.equal(r.status, 422, r.text);
      assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(r.json.invalid_fields.length, 1);
      const [field] = r.json.invalid_fields;
      assert.equal(field.field, 'webhook');
      assert.equal(field.type, 'invalid');
      assert.match(field.description, /^webhook /);
      return field.description;
    },
    created(r) {
      assert.equal(r.status, 201, r.text);
      return r.json.id;
    },
  },
];

describe('callback URLs with private callbacks not allowed', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ config: { webhooks: { allowPrivateCallbacks: false, enabled: false } } });
  });
  after(() => t.close());

  for (const dialect of DIALECTS) {
    test(`${dialect.name}: loopback, private, link-local, metadata and mapped addresses are refused; nothing is created`, async () => {
      for (const [url, address] of REFUSED) {
        const message = dialect.refused(await dialect.create(t, url));
        assert.match(message, HINT, url);
        assert.match(message, address, url);
      }
      assert.deepEqual(await t.gw.tasks.list({ ownerId: t.ownerId, limit: 100 }).then((ts) => ts.filter((x) => x.callbackUrl !== PUBLIC)), []);
    });

    test(`${dialect.name}: a public address is accepted and stored as the callback`, async () => {
      const id = dialect.created(await dialect.create(t, PUBLIC));
      const task = await t.gw.tasks.get(t.ownerId, id);
      assert.equal(task?.callbackUrl, PUBLIC);
      assert.equal(task?.origin, t.url);
    });
  }

  test('a refused Replicate webhook is listed with the other invalid fields', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: 'black-forest-labs/flux-dev', webhook: 'http://10.1.2.3/h', extra: 1 } });
    assert.equal(r.status, 422, r.text);
    assert.deepEqual(r.json.invalid_fields.map((f: { field: string }) => f.field).sort(), ['extra', 'input', 'webhook']);
  });

  test('shape problems are still reported first, without resolving anything', async () => {
    const r = await t.call('POST', '/v1/demo/image', { body: { prompt: 'a cat', callback_url: 'ftp://127.0.0.1/x' } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.message, 'Field callback_url must use http or https');
  });
});

describe('callback URLs with private callbacks allowed', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ config: { webhooks: { allowPrivateCallbacks: true, enabled: false } } });
  });
  after(() => t.close());

  test('a loopback callback is accepted in every dialect', async () => {
    for (const dialect of DIALECTS) {
      const id = dialect.created(await dialect.create(t, 'http://127.0.0.1:9/hook'));
      assert.equal((await t.gw.tasks.get(t.ownerId, id))?.callbackUrl, 'http://127.0.0.1:9/hook', dialect.name);
    }
  });
});

describe('checkCallbackUrl', () => {
  const deny = { allowPrivate: false };

  test('absent values are no callback; literal forms the URL parser normalises are still caught', async () => {
    assert.equal(await checkCallbackUrl(undefined, 'Field callback_url', deny), null);
    assert.equal(await checkCallbackUrl('', 'Field callback_url', deny), null);
    for (const url of ['http://0x7f.1/x', 'http://2130706433/x', 'http://0.0.0.0/x', 'https://[fe80::1]/x', 'http://[fd00:ec2::254]/x', 'http://100.64.0.1/x']) {
      await assert.rejects(checkCallbackUrl(url, 'Field callback_url', deny), (err: Error) => {
        assert.match(err.message, HINT, url);
        return true;
      });
    }
  });

  test('public literals pass and come back unchanged; allowPrivate skips the address check', async () => {
    assert.equal(await checkCallbackUrl('https://[2606:4700::1]:8443/h?x=1', 'webhook', deny), 'https://[2606:4700::1]:8443/h?x=1');
    assert.equal(await checkCallbackUrl(PUBLIC, 'webhook', deny), PUBLIC);
    assert.equal(await checkCallbackUrl('http://10.0.0.1/x', 'webhook', { allowPrivate: true }), 'http://10.0.0.1/x');
  });
});

/** A receiver on 127.0.0.1 answering 200 to anything; counts what reaches it. */
async function receiver() {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    hits: () => hits,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** IPv6 literals embedding 127.0.0.1 or 169.254.169.254 (as URL hosts, and as the URL parser prints them). */
const EMBEDDED: Array<[host: string, address: string]> = [
  ['[::ffff:0:127.0.0.1]', '::ffff:0:7f00:1'],
  ['[::ffff:0:7f00:1]', '::ffff:0:7f00:1'],
  ['[2002:7f00:1::]', '2002:7f00:1::'],
  ['[2002:a9fe:a9fe::]', '2002:a9fe:a9fe::'],
  ['[64:ff9b:1::7f00:1]', '64:ff9b:1::7f00:1'],
];

describe('IPv6 forms embedding an IPv4 address, with private callbacks not allowed', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ config: { webhooks: { allowPrivateCallbacks: false, enabled: false } } });
  });
  after(() => t.close());

  for (const dialect of DIALECTS) {
    test(`${dialect.name}: http://[::ffff:0:127.0.0.1]:PORT/, 6to4 and NAT64 local-use are refused at create; nothing is created`, async () => {
      const port = new URL(t.url).port;
      for (const [host, address] of EMBEDDED) {
        const url = `http://${host}:${port}/hook`;
        const message = dialect.refused(await dialect.create(t, url));
        assert.match(message, HINT, url);
        assert.ok(message.includes(`(${address})`), `${url}: ${message}`);
      }
      assert.deepEqual(await t.gw.tasks.list({ ownerId: t.ownerId, limit: 100 }), []);
    });
  }
});

describe('http://[::ffff:0:127.0.0.1]:PORT/ at delivery time', () => {
  test('refused by the sender before it connects; the receiver on 127.0.0.1 gets nothing', async () => {
    // Classified first: nothing below may try to connect to an address that is not refused.
    assert.equal(isBlockedAddress('::ffff:0:7f00:1'), true, 'precondition: ::ffff:0:7f00:1 is blocked');
    const rx = await receiver();
    const sender = new WebhookSender({ timeoutMs: 1000, allowPrivateCallbacks: false, maxResponseBytes: 1024 });
    try {
      const url = `http://[::ffff:0:127.0.0.1]:${rx.port}/hook`;
      assert.throws(() => checkLiteralHost(new URL(url)), { name: 'BlockedAddressError' });
      const r = await sender.send(url, { 'content-type': 'application/json' }, '{}');
      assert.equal(r.statusCode, null);
      assert.match(r.error ?? '', /::ffff:0:7f00:1, a loopback, private, link-local or metadata address/);
      assert.equal(rx.hits(), 0);
    } finally {
      await Promise.all([sender.close(), rx.close()]);
    }
  });

  test('a task whose callback skipped the create-time check is never delivered: every attempt is refused', async () => {
    assert.equal(isBlockedAddress('::ffff:0:7f00:1'), true, 'precondition: ::ffff:0:7f00:1 is blocked');
    const rx = await receiver();
    const t = await startGateway({ config: { webhooks: { allowPrivateCallbacks: false, enabled: true } } });
    try {
      const callbackUrl = `http://[::ffff:0:127.0.0.1]:${rx.port}/hook`;
      // Straight to the task service: the dialects' create-time check is not on this path.
      const task = await t.gw.tasks.create({
        ownerId: t.ownerId, service: 'demo/image', dialect: 'task-api', request: { prompt: 'a cat' }, input: { prompt: 'a cat' },
        traceId: 'ssrf-delivery', callbackUrl,
      });
      const end = Date.now() + 8000;
      let delivery;
      for (;;) {
        [delivery] = await t.gw.webhookStore.listDeliveries(t.ownerId, { taskId: task.id, limit: 5 });
        if (delivery?.state === 'failed' || delivery?.state === 'delivered' || Date.now() > end) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(delivery?.state, 'failed', JSON.stringify(delivery));
      assert.equal(delivery.log.length, 3, 'every attempt of the schedule was made');
      for (const attempt of delivery.log) {
        assert.equal(attempt.statusCode, null);
        assert.match(attempt.error ?? '', /::ffff:0:7f00:1, a loopback, private, link-local or metadata address/);
      }
      assert.equal(rx.hits(), 0, 'nothing reached the receiver');
    } finally {
      await t.close();
      removeDir(t.dataDir);
      await rx.close();
    }
  });
});
