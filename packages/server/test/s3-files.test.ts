/**
 * Result files in an S3-compatible bucket (store/s3-files.ts), driven by the real AWS SDK client
 * against the local S3 fixture (test/fixtures/s3-server.ts): the FileSink contract (small files
 * in one PutObject, large streams as a multipart upload, the size cap, reads, removal), and a
 * gateway keeping its files there: signed links streamed from the bucket (ranges, HEAD), missing
 * files 404, follow-ups reading their parent's image, retention removing objects.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Clock } from '../src/core/ports.js';
import { FileTooLargeError } from '../src/store/files.js';
import { createS3Client, createS3FileSink, type S3Settings } from '../src/store/s3-files.js';
import { S3Fixture } from './fixtures/s3-server.js';
import { FAST_SERVICES, SIGNED_QUERY, startGateway, type TestGateway } from './helpers.js';

const KEY_ID = 'AKIDTASKGATETEST';
const env = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: 'test-secret-access-key-0123456789' };
const MiB = 1024 ** 2;

function settings(endpoint: string, over: Partial<S3Settings> = {}): S3Settings {
  return { bucket: 'results', endpoint, region: 'us-east-1', forcePathStyle: true, prefix: 'tg/', partSizeBytes: 5 * MiB, ...over };
}

async function* chunks(total: number, size = 256 * 1024): AsyncGenerator<Uint8Array> {
  for (let sent = 0; sent < total; sent += size) yield Buffer.alloc(Math.min(size, total - sent), sent / size);
}

describe('S3 file sink (AWS SDK against the S3 fixture)', () => {
  const s3 = new S3Fixture('results', KEY_ID);
  let sink: ReturnType<typeof createS3FileSink>;
  before(async () => {
    await s3.start();
    sink = createS3FileSink(createS3Client(settings(s3.url), env), settings(s3.url));
  });
  after(async () => s3.close());

  test('write, read, exists and remove a file under the prefix', async () => {
    const saved = await sink.write('out put.png', 'image/png', Buffer.from('hello'));
    assert.match(saved.path, /^\/files\/[0-9a-f]{32}\/out_put\.png$/);
    assert.deepEqual([saved.bytes, saved.contentType], [5, 'image/png']);
    const key = `tg/${saved.path.slice('/files/'.length)}`;
    assert.equal(s3.objects.get(key)?.contentType, 'image/png');
    assert.deepEqual(await sink.read(saved.path, 100), Buffer.from('hello'));
    await assert.rejects(sink.read(saved.path, 4), FileTooLargeError);
    assert.equal(await sink.exists(saved.path), true);
    assert.equal(await sink.remove(saved.path), 5);
    assert.equal(s3.objects.has(key), false);
    assert.equal(await sink.exists(saved.path), false);
    assert.equal(await sink.remove(saved.path), null, 'removing twice is harmless');
    await assert.rejects(sink.read(saved.path, 100));
  });

  test('a small stream is one PutObject; a large one a multipart upload of parts', async () => {
    s3.calls.length = 0;
    const small = await sink.writeStream('a.bin', 'application/octet-stream', chunks(1000, 100), 10 * MiB);
    assert.equal(small.bytes, 1000);
    assert.deepEqual(s3.calls, ['PutObject']);
    s3.calls.length = 0;
    const big = await sink.writeStream('b.bin', 'application/octet-stream', chunks(12 * MiB), 20 * MiB);
    assert.equal(big.bytes, 12 * MiB);
    assert.deepEqual(s3.calls, ['CreateMultipartUpload', 'UploadPart', 'UploadPart', 'UploadPart', 'CompleteMultipartUpload']);
    const stored = s3.objects.get(`tg/${big.path.slice('/files/'.length)}`)!;
    assert.equal(stored.body.length, 12 * MiB);
    assert.deepEqual(stored.body.subarray(256 * 1024, 256 * 1024 + 4), Buffer.alloc(4, 1), 'parts in order');
  });

  test('a stream over the cap is refused and leaves nothing behind (the multipart upload is aborted)', async () => {
    const before = s3.objects.size;
    s3.calls.length = 0;
    await assert.rejects(sink.writeStream('c.bin', 'application/octet-stream', chunks(12 * MiB), 7 * MiB), FileTooLargeError);
    assert.equal(s3.objects.size, before);
    assert.equal(s3.uploads.size, 0, 'no upload left open');
    await assert.rejects(sink.writeStream('d.bin', 'application/octet-stream', chunks(2000, 100), 1000), FileTooLargeError);
    assert.equal(s3.objects.size, before);
  });

  test('wrong credentials are an error, not an empty answer', async () => {
    const other = createS3FileSink(createS3Client(settings(s3.url), { AWS_ACCESS_KEY_ID: 'AKIDOTHER', AWS_SECRET_ACCESS_KEY: 'x'.repeat(30) }), settings(s3.url));
    await assert.rejects(other.write('x.png', 'image/png', Buffer.from('x')), /Access Denied|AccessDenied/);
    await assert.rejects(other.exists('/files/0123456789abcdef0123456789abcdef/x.png'));
  });
});

class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
}

describe('a gateway keeping its files in S3', () => {
  const s3 = new S3Fixture('results', KEY_ID);
  const clock = new ShiftedClock();
  let t: TestGateway;
  before(async () => {
    await s3.start();
    t = await startGateway({
      clock,
      services: { 'midjourney/imagine': FAST_SERVICES['midjourney/imagine'], 'demo/image': FAST_SERVICES['demo/image'] },
      config: { files: { s3: { bucket: 'results', endpoint: s3.url, forcePathStyle: true, prefix: 'tg/' } }, retention: { enabled: true, maxAgeDays: 1, intervalSeconds: 3600 } },
      env,
    });
  });
  after(async () => {
    await t.close();
    await s3.close();
  });

  test('signed links stream the file from the bucket: whole, a range, HEAD; nothing on local disk', async () => {
    const r = await t.call('POST', '/v1/demo/image', { body: { prompt: 'a fox' } });
    assert.equal(r.status, 200, r.text);
    const url = r.json.data[0].url as string;
    assert.match(url, new RegExp(`^${t.url}/files/[0-9a-f]{32}/image\\.png${SIGNED_QUERY.source}$`));
    const key = `tg/${new URL(url).pathname.slice('/files/'.length)}`;
    const stored = s3.objects.get(key);
    assert.ok(stored, `object ${key} in the bucket`);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.match(res.headers.get('cache-control') ?? '', /^private, max-age=\d+$/);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), stored.body);
    const part = await fetch(url, { headers: { range: 'bytes=1-3' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1-3/${stored.body.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), stored.body.subarray(1, 4));
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(stored.body.length));
    assert.equal((await fetch(url, { headers: { range: 'bytes=99999-' } })).status, 416);
    assert.equal((await fetch(url.split('?')[0]!)).status, 403, 'unsigned: refused');
    assert.deepEqual(readdirSync(join(t.dataDir, 'files')), [], 'nothing on local disk');
  });

  test('a missing object is 404; a follow-up reads its parent image from the bucket', async () => {
    const parent = await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'a fox' } });
    assert.equal(parent.status, 200, parent.text);
    const up = await t.call('POST', '/v1/midjourney/imagine', { body: { action: 'upscale2', image_id: parent.json.image_id } });
    assert.equal(up.status, 200, up.text);
    assert.equal((await fetch(up.json.image_url as string)).status, 200);
    s3.objects.delete(`tg/${new URL(parent.json.image_url as string).pathname.slice('/files/'.length)}`);
    const gone = await fetch(parent.json.image_url as string);
    assert.equal(gone.status, 404);
    assert.equal(((await gone.json()) as { error: { code: string } }).error.code, 'not_found');
  });

  test('retention removes the objects of old tasks', async () => {
    assert.ok(s3.objects.size > 0);
    clock.offset = 2 * 86_400_000;
    try {
      const stats = await t.gw.retention!.runOnce();
      assert.ok(stats.tasks >= 3 && stats.files >= 2, JSON.stringify(stats));
      assert.equal(s3.objects.size, 0);
    } finally {
      clock.offset = 0;
    }
  });

  test('the configuration shows the bucket, never credentials', async () => {
    const shown = JSON.stringify(t.gw.config.files);
    assert.match(shown, /"bucket":"results"/);
    assert.doesNotMatch(shown, new RegExp(`${KEY_ID}|test-secret-access-key`));
  });
});
