/**
 * The real `replicate` npm client (1.4) against the gateway, unchanged but for `baseUrl`:
 * run (blocking, FileOutput), predictions.create + wait, cancel, list + paginate, stream, errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import Replicate, { type FileOutput, type Prediction } from 'replicate';
import { versionId } from '../src/dialects/replicate/models.js';
import { SIGNED_QUERY, startGateway, waitForTask, type TestGateway } from './helpers.js';

const FLUX = 'black-forest-labs/flux-dev';
const SLOW = 'taskgate/slow-image';
const CRAWL = 'taskgate/crawl-image';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A TLS-terminating reverse proxy in front of the gateway, as deployed: the client speaks https to
 * it, it forwards plain http with `X-Forwarded-Proto: https` (the gateway trusts loopback proxies),
 * so every URL the gateway answers is https — and the client wraps https outputs in FileOutput.
 */
function httpsProxyFetch(gatewayUrl: string): { base: string; fetch: typeof fetch } {
  const httpsBase = gatewayUrl.replace(/^http:/, 'https:');
  const proxied: typeof fetch = async (input, init) => {
    const req = new Request(input, init);
    assert.ok(req.url.startsWith(httpsBase), `the client only talks to the proxy: ${req.url}`);
    const headers = new Headers(req.headers);
    headers.set('x-forwarded-proto', 'https');
    const body = req.body === null ? undefined : await req.arrayBuffer();
    return fetch(gatewayUrl + req.url.slice(httpsBase.length), { method: req.method, headers, body, signal: req.signal });
  };
  return { base: httpsBase, fetch: proxied };
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
}

describe('the replicate npm client against the gateway', () => {
  let t: TestGateway;
  let replicate: Replicate;
  before(async () => {
    t = await startGateway({
      services: {
        'slow/image': {
          provider: 'demo-image', mode: 'wait', options: { latencyMs: 800, steps: 4, defaultWidth: 64, defaultHeight: 64 },
          aliases: { replicate: [SLOW] },
        },
        'crawl/image': {
          provider: 'demo-image', mode: 'wait', options: { latencyMs: 1400, steps: 2, defaultWidth: 64, defaultHeight: 64 },
          aliases: { replicate: [CRAWL] },
        },
      },
    });
    replicate = new Replicate({ auth: t.token, baseUrl: `${t.url}/v1` });
  });
  after(() => t.close());

  test('run blocks on Prefer: wait and returns FileOutput objects pointing at the gateway (behind an https proxy)', async () => {
    const proxy = httpsProxyFetch(t.url);
    const client = new Replicate({ auth: t.token, baseUrl: `${proxy.base}/v1`, fetch: proxy.fetch });
    const updates: Prediction[] = [];
    const output = (await client.run(FLUX, { input: { prompt: 'a lighthouse at dusk', width: 96, height: 80 } }, (p) => updates.push(p))) as FileOutput[];
    assert.equal(updates[0]?.status, 'succeeded', 'the create itself answered the finished prediction (Prefer: wait)');
    assert.ok(Array.isArray(output));
    assert.equal(output.length, 1);
    const [item] = output;
    assert.ok(item instanceof ReadableStream, 'a FileOutput');
    assert.match(String(item), new RegExp(`^${proxy.base}/files/[0-9a-f]{32}/image\\.png${SIGNED_QUERY.source}$`));
    assert.equal(item!.url().href, String(item));
    const bytes = Buffer.from(await (await item!.blob()).arrayBuffer());
    assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
    const png = PNG.sync.read(bytes);
    assert.deepEqual([png.width, png.height], [96, 80]);
  });

  test('over plain http, run returns the output URLs as strings (the client wraps only https URLs)', async () => {
    const output = (await replicate.run(FLUX, { input: { prompt: 'plain http' } })) as string[];
    assert.equal(typeof output[0], 'string');
    assert.match(output[0]!, new RegExp(`^${t.url}/files/`));
    const bytes = Buffer.from(await (await fetch(output[0]!)).arrayBuffer());
    assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
  });

  test('run with owner/name:version (Prefer: wait runs out on a slow model) polls to the end', async () => {
    const statuses: string[] = [];
    const output = (await replicate.run(`${CRAWL}:${versionId(CRAWL)}`, { input: { prompt: 'slow run' }, wait: { mode: 'block', timeout: 1 } }, (p) =>
      statuses.push(p.status),
    )) as string[];
    // wait=1 ran out while the model was running: the create said `starting`, so run polled.
    assert.equal(statuses[0], 'starting');
    assert.equal(statuses.at(-1), 'succeeded');
    assert.equal(output.length, 1);
  });

  test('predictions.create + wait', async () => {
    const created = await replicate.predictions.create({ model: FLUX, input: { prompt: 'created' } });
    assert.equal(created.status, 'starting');
    assert.equal(created.model, FLUX);
    const done = await replicate.wait(created, { interval: 20 });
    assert.equal(done.status, 'succeeded');
    assert.equal(done.id, created.id);
    assert.ok((done.output as string[])[0]?.startsWith(`${t.url}/files/`));
    assert.match(done.logs ?? '', /step 3\/3/);

    const byVersion = await replicate.predictions.create({ version: created.version, input: { prompt: 'by version id' } });
    assert.equal(byVersion.model, FLUX);
    assert.equal((await replicate.wait(byVersion, { interval: 20 })).status, 'succeeded');
    assert.equal((await replicate.predictions.get(byVersion.id)).status, 'succeeded');
  });

  test('predictions.cancel: a running prediction ends canceled and stays canceled', async () => {
    const created = await replicate.predictions.create({ model: SLOW, input: { prompt: 'cancel me' } });
    await waitForTask(t.gw, t.ownerId, created.id, (x) => x.state === 'running' && (x.progress ?? 0) > 0);
    assert.equal((await replicate.predictions.get(created.id)).status, 'processing');
    const canceled = await replicate.predictions.cancel(created.id);
    assert.equal(canceled.status, 'canceled');
    await new Promise((res) => setTimeout(res, 900)); // past the provider's whole latency
    const later = await replicate.predictions.get(created.id);
    assert.deepEqual([later.status, later.output], ['canceled', null]);
    assert.equal((await replicate.wait(later)).status, 'canceled', 'wait returns a canceled prediction at once');
  });

  test('stream yields logs, the output URL and done', async () => {
    const events: Array<{ event: string; data: string }> = [];
    for await (const e of replicate.stream(FLUX, { input: { prompt: 'streamed' } })) events.push({ event: e.event, data: String(e.data) });
    assert.deepEqual(events.map((e) => e.event), ['logs', 'logs', 'logs', 'output', 'done']);
    assert.match(events[3]!.data, new RegExp(`^${t.url}/files/[^?]+\\.png${SIGNED_QUERY.source}$`));
    assert.equal(events[4]!.data, '{}');
  });

  test('a failed prediction: run rejects with the prediction error', async () => {
    await assert.rejects(replicate.run(FLUX, { input: { prompt: 'a forbidden-demo-word' } }), /Prediction failed: The prompt was rejected by content moderation/);
  });

  test('API errors arrive as ApiError with the status: 401, 404, 422', async () => {
    const stranger = new Replicate({ auth: 'tg_not_a_token', baseUrl: `${t.url}/v1` });
    await assert.rejects(stranger.predictions.list(), (err: Error & { response?: Response }) => err.name === 'ApiError' && err.response?.status === 401);
    await assert.rejects(replicate.predictions.get('01890000-0000-7000-8000-000000000000'), (err: Error & { response?: Response }) => err.response?.status === 404);
    await assert.rejects(replicate.run('nobody/nothing', { input: {} }), (err: Error & { response?: Response }) => err.response?.status === 404);
    await assert.rejects(
      replicate.predictions.create({ model: FLUX, input: { prompt: '' } }),
      (err: Error & { response?: Response }) => err.response?.status === 422 && /input\.prompt/.test(err.message),
    );
  });

  test('predictions.list pages through every prediction with paginate', async () => {
    const q = await startGateway({ config: { dispatch: { enabled: false } } });
    try {
      const client = new Replicate({ auth: q.token, baseUrl: `${q.url}/v1` });
      const ids: string[] = [];
      for (let i = 0; i < 105; i++) ids.push((await client.predictions.create({ model: FLUX, input: { prompt: `p${i}` } })).id);
      const first = await client.predictions.list();
      assert.equal(first.results.length, 100);
      assert.equal(first.previous, null);
      assert.ok(first.next?.startsWith(`${q.url}/v1/predictions?cursor=`));
      const pages: Prediction[][] = [];
      for await (const page of client.paginate(client.predictions.list)) pages.push(page);
      assert.deepEqual(pages.map((p) => p.length), [100, 5]);
      assert.deepEqual(pages.flat().map((p) => p.id), [...ids].reverse(), 'newest first, each once');
      assert.ok(pages.flat().every((p) => p.status === 'starting' && p.model === FLUX));
    } finally {
      await q.close();
    }
  });

  test('FileOutput bytes can also be read as a stream', async () => {
    const proxy = httpsProxyFetch(t.url);
    const client = new Replicate({ auth: t.token, baseUrl: `${proxy.base}/v1`, fetch: proxy.fetch });
    const [item] = (await client.run(FLUX, { input: { prompt: 'as a stream' } })) as FileOutput[];
    assert.deepEqual((await bytesOf(item!)).subarray(0, 8), PNG_SIGNATURE);
  });
});
