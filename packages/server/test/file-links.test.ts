/**
 * Signed, expiring result-file links (http/file-links.ts, http/files.ts): every dialect hands out
 * signed links that work without a token, each read signs anew, an expired link is 403 saying so,
 * a tampered one 403, a missing file 404; Cache-Control is private and bounded by the time left;
 * key rotation keeps old links working for the overlap and refuses them after; keys survive a
 * restart; keys from the configuration sign and cannot be rotated through the API.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { redactSecrets } from '../src/config/redact.js';
import type { Clock } from '../src/core/ports.js';
import { freshDatabase, postgresUnavailable } from './pg.js';
import { ADMIN_TOKEN, configError, SIGNED_QUERY, startGateway, tempDir, waitForTask, type TestGateway } from './helpers.js';

/** Real time, shifted forward by hand. */
class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
}

async function imageUrl(t: TestGateway): Promise<string> {
  const r = await t.call('POST', '/v1/demo/image', { body: { prompt: 'a fox' } });
  assert.equal(r.status, 200, r.text);
  return r.json.data[0].url as string;
}

const get = (url: string, headers: Record<string, string> = {}): Promise<Response> => fetch(url, { headers });

async function refusal(url: string): Promise<{ status: number; message: string }> {
  const res = await get(url);
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, message: `${body.error.code}: ${body.error.message}` };
}

const pgSkip = (await postgresUnavailable()) ?? false;

describe('signed file links', () => {
  const clock = new ShiftedClock();
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ clock, config: { files: { urlTtlSeconds: 3600, keyOverlapSeconds: 600 } } });
  });
  after(async () => t.close());

  test('a link is signed, works without a token, and is cacheable privately until it expires', async () => {
    const url = await imageUrl(t);
    assert.match(url, new RegExp(`^${t.url}/files/[0-9a-f]{32}/image\\.png${SIGNED_QUERY.source}$`));
    const exp = Number(new URL(url).searchParams.get('exp'));
    const left = exp - Date.now() / 1000;
    assert.ok(left >= 3600 - 2 && left <= 3600 + 61, `expires about an hour from now (${left} s)`);
    const res = await get(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const cache = res.headers.get('cache-control') ?? '';
    assert.doesNotMatch(cache, /public|immutable/);
    const maxAge = Number(/^private, max-age=(\d+)$/.exec(cache)?.[1]);
    assert.ok(maxAge > 3500 && maxAge <= left, `max-age ${maxAge} bounded by the ${left} s left`);

    // Later, the same link may be cached for less.
    clock.offset = 3000 * 1000;
    try {
      const later = Number(/max-age=(\d+)/.exec((await get(url)).headers.get('cache-control') ?? '')?.[1]);
      assert.ok(later <= left - 3000 && later > 0, `max-age ${later} shrinks with the time left`);
    } finally {
      clock.offset = 0;
    }
  });

  test('an expired link is refused (403) saying so; a fresh read hands out a new link that works', async () => {
    const r = await t.call('POST', '/v1/demo/image', { body: { prompt: 'a fox' } });
    const url = r.json.data[0].url as string;
    clock.offset = 3700 * 1000;
    try {
      assert.deepEqual(await refusal(url), { status: 403, message: 'forbidden: File link expired: fetch the task again for a fresh link' });
      const again = await t.call('POST', '/v1/demo/tasks', { body: { action: 'retrieve', id: r.json.task_id } });
      const fresh = again.json.response.data[0].url as string;
      assert.notEqual(fresh, url);
      assert.equal(fresh.split('?')[0], url.split('?')[0], 'the same file');
      assert.equal((await get(fresh)).status, 200);
    } finally {
      clock.offset = 0;
    }
  });

  test('a tampered link is refused (403): signature, expiry, key id, path; an unsigned one too', async () => {
    const url = await imageUrl(t);
    assert.equal((await get(url)).status, 200);
    const u = new URL(url);
    const with_ = (k: string, v: string): string => {
      const c = new URL(u);
      c.searchParams.set(k, v);
      return c.href;
    };
    const sig = u.searchParams.get('sig')!;
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    for (const bad of [with_('sig', flipped), with_('exp', String(Number(u.searchParams.get('exp')) + 60)), with_('kid', 'deadbeef'), with_('exp', 'soon')]) {
      const r = await refusal(bad);
      assert.equal(r.status, 403, bad);
      assert.match(r.message, /^forbidden: File link signature is invalid/);
    }
    // Another file's signature does not open this one.
    const other = new URL(await imageUrl(t));
    assert.equal((await refusal(`${u.origin}${u.pathname}${other.search}`)).status, 403);
    assert.deepEqual(await refusal(`${u.origin}${u.pathname}`), {
      status: 403, message: 'forbidden: File links must be signed: use the URL the API handed out (fetch the task again for a fresh one)',
    });
    // A spelling of the path the file server would decode is no way around the signature.
    const encoded = `${u.origin}${u.pathname.replace(/\.png$/, '%2Epng')}`;
    assert.notEqual((await get(encoded)).status, 200);
    assert.notEqual((await get(`${encoded}${u.search}`)).status, 200);
    // A bearer token does not stand in for the signature.
    assert.equal((await get(`${u.origin}${u.pathname}`, { authorization: `Bearer ${t.token}` })).status, 403);
  });

  test('a link to a missing file is 404 not_found, signed or not', async () => {
    const url = new URL(await imageUrl(t));
    rmSync(join(t.dataDir, 'files', url.pathname.split('/')[2]!), { recursive: true });
    assert.equal((await refusal(url.href)).status, 404);
    assert.match((await refusal(url.href)).message, /^not_found: File \/files\/[0-9a-f]{32}\/image\.png does not exist$/);
    assert.equal((await refusal(`${url.origin}${url.pathname}`)).status, 404);
  });

  test('every dialect hands out signed links that open the file', async () => {
    const urls: string[] = [];
    // task API (above), APIXO, fal queue, Replicate.
    urls.push(await imageUrl(t));
    const apixo = await t.call('POST', '/api/v1/generateTask/flux-dev', { body: { input: { prompt: 'a' } } });
    const apixoDone = await waitForTask(t.gw, t.ownerId, apixo.json.data.taskId, (x) => x.state === 'succeeded');
    const status = await t.call('GET', `/api/v1/statusTask/flux-dev?taskId=${apixoDone.id}`);
    urls.push(...(JSON.parse(status.json.data.resultJson as string) as { resultUrls: string[] }).resultUrls);
    const fal = await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: 'a' } });
    await waitForTask(t.gw, t.ownerId, fal.json.request_id, (x) => x.state === 'succeeded');
    urls.push((await t.call('GET', `/v1/queue/fal-ai/flux/dev/requests/${fal.json.request_id}`)).json.images[0].url);
    const rep = await t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { body: { input: { prompt: 'a' } }, headers: { prefer: 'wait' } });
    urls.push(rep.json.output[0]);
    assert.equal(urls.length, 4);
    for (const url of urls) {
      assert.match(url, new RegExp(`^${t.url}/files/[0-9a-f]{32}/[^?]+${SIGNED_QUERY.source}$`));
      assert.equal((await get(url)).status, 200, url);
    }
  });

  test('rotation: a new key signs; links of the old key work during the overlap and are refused after', async () => {
    const old = await imageUrl(t);
    const oldKid = new URL(old).searchParams.get('kid');
    assert.equal((await t.call('POST', '/admin/files/keys/rotate', { token: t.token })).status, 401, 'admin only');
    const rotated = await t.call('POST', '/admin/files/keys/rotate', { token: ADMIN_TOKEN, body: { overlap_seconds: 120 } });
    assert.equal(rotated.status, 200, rotated.text);
    assert.deepEqual(Object.keys(rotated.json).sort(), ['key_id', 'previous_keys_valid_until'], 'the key itself is never shown');
    const fresh = await imageUrl(t);
    assert.equal(new URL(fresh).searchParams.get('kid'), rotated.json.key_id);
    assert.notEqual(rotated.json.key_id, oldKid);
    assert.equal((await get(old)).status, 200, 'the old key verifies during the overlap');
    const maxAge = Number(/max-age=(\d+)/.exec((await get(old)).headers.get('cache-control') ?? '')?.[1]);
    assert.ok(maxAge <= 120, `cached no longer than the old key lives (${maxAge})`);
    clock.offset = 121 * 1000;
    try {
      const r = await refusal(old);
      assert.equal(r.status, 403);
      assert.match(r.message, /signature is invalid/);
      assert.equal((await get(fresh)).status, 200, 'the new key still verifies');
    } finally {
      clock.offset = 0;
    }
    const bad = await t.call('POST', '/admin/files/keys/rotate', { token: ADMIN_TOKEN, body: { overlap_seconds: -1 } });
    assert.equal(bad.status, 400);
  });
});

describe('signing keys', () => {
  test('kept in the store: links outlive a restart', async () => {
    const dataDir = tempDir();
    let t = await startGateway({ dataDir });
    const url = await imageUrl(t);
    await t.close();
    t = await startGateway({ dataDir });
    try {
      assert.equal((await get(url.replace(/^http:\/\/[^/]+/, t.url))).status, 200);
    } finally {
      await t.close();
    }
  });

  test('from the configuration: the first signs, every one verifies, rotation through the API is refused', async () => {
    const secretA = 'a'.repeat(40);
    const secretB = 'b'.repeat(40);
    const dataDir = tempDir();
    let t = await startGateway({ dataDir, config: { files: { signingKeys: [{ id: 'k1', secret: secretA }] } } });
    const old = await imageUrl(t);
    assert.equal(new URL(old).searchParams.get('kid'), 'k1');
    const r = await t.call('POST', '/admin/files/keys/rotate', { token: ADMIN_TOKEN });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /files\.signingKeys/);
    await t.close();
    t = await startGateway({ dataDir, config: { files: { signingKeys: [{ id: 'k2', secret: secretB }, { id: 'k1', secret: secretA }] } } });
    try {
      assert.equal(new URL(await imageUrl(t)).searchParams.get('kid'), 'k2');
      assert.equal((await get(old.replace(/^http:\/\/[^/]+/, t.url))).status, 200, 'k1 still verifies');
      assert.doesNotMatch(JSON.stringify(redactSecrets(t.gw.config)), /aaaa|bbbb/, 'taskgate config does not print the keys');
    } finally {
      await t.close();
    }
    t = await startGateway({ dataDir, config: { files: { signingKeys: [{ id: 'k2', secret: secretB }] } } });
    try {
      assert.equal((await get(old.replace(/^http:\/\/[^/]+/, t.url))).status, 403, 'k1 dropped: refused');
    } finally {
      await t.close();
    }
  });

  test('from the environment: TASKGATE_FILE_SIGNING_KEYS=id:secret,…, over the file; a bad value never echoed', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'taskgate.config.json'), JSON.stringify({ files: { urlTtlSeconds: 120 } }));
    const config = loadConfig({ TASKGATE_FILE_SIGNING_KEYS: `k2:${'s'.repeat(40)}, k1:${'t'.repeat(32)}` }, dir);
    assert.deepEqual(config.files.signingKeys, [{ id: 'k2', secret: 's'.repeat(40) }, { id: 'k1', secret: 't'.repeat(32) }]);
    assert.equal(config.files.urlTtlSeconds, 120, 'the file\'s other fields stay');
    const err = configError(() => loadConfig({ TASKGATE_FILE_SIGNING_KEYS: 'k1:too-short-secret-value' }, dir));
    assert.match(err.message, /TASKGATE_FILE_SIGNING_KEYS=\[redacted\]: entry 1: at least 32 characters/);
    assert.doesNotMatch(err.message, /too-short-secret-value/);
  });

  test('a short key or a link lifetime under a minute is a configuration error', async () => {
    await assert.rejects(startGateway({ config: { files: { signingKeys: [{ id: 'k1', secret: 'short' }] } } }), /at least 32 characters/);
    await assert.rejects(startGateway({ config: { files: { urlTtlSeconds: 10 } } }), /urlTtlSeconds/);
  });
});

describe('signing keys on several nodes (one Postgres)', { skip: pgSkip }, () => {
  test('every node verifies every node\'s links; a rotation on one node is honoured by the others', async () => {
    const db = await freshDatabase();
    const filesDir = join(tempDir(), 'shared-files');
    const config = { databaseUrl: db.url, filesDir };
    const a = await startGateway({ config });
    const b = await startGateway({ config });
    try {
      const onB = (url: string): string => url.replace(/^http:\/\/[^/]+/, b.url);
      const old = await imageUrl(a);
      assert.equal((await get(onB(old))).status, 200, 'B verifies A\'s link (one key, kept in the shared store)');
      const rotated = await a.call('POST', '/admin/files/keys/rotate', { token: ADMIN_TOKEN });
      assert.equal(rotated.status, 200, rotated.text);
      const fresh = await imageUrl(a);
      assert.equal(new URL(fresh).searchParams.get('kid'), rotated.json.key_id);
      assert.equal((await get(onB(fresh))).status, 200, 'B learns the new key from the store');
      assert.equal((await get(onB(old))).status, 200, 'and still honours the old one during the overlap');
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });
});
