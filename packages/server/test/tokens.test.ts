/**
 * Scoped tokens through real HTTP: service patterns (`token_mismatched`), expiry
 * (`token_expired`) and disabling (`disabled`) in each dialect's envelope; changes made through
 * the admin API apply at once despite the auth cache; the CLI creates scoped tokens.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { serviceAllowed } from '../src/accounts/tokens.js';
import { ADMIN_TOKEN, removeDir, startGateway, tempDir, type Reply, type TestGateway } from './helpers.js';
import { CLI, SERVER_ROOT } from './process.js';

const admin = { token: ADMIN_TOKEN };
const past = (): string => new Date(Date.now() - 60_000).toISOString();

async function newToken(t: TestGateway, body: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const r = await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'scoped', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/** One create of `flux/dev` (or of `midjourney/imagine` where the dialect exposes it) per dialect. */
const CREATES = {
  taskApi: (t: TestGateway, token: string, mj = false) =>
    t.call('POST', mj ? '/v1/midjourney/imagine' : '/v1/flux/dev', { token, body: { prompt: 'x', async: true } }),
  apixo: (t: TestGateway, token: string, mj = false) =>
    t.call('POST', `/api/v1/generateTask/${mj ? 'midjourney' : 'flux-dev'}`, { token, body: { input: { prompt: 'x' } } }),
  queue: (t: TestGateway, token: string) => t.call('POST', '/v1/queue/fal-ai/flux/dev', { token, body: { prompt: 'x' } }),
  replicate: (t: TestGateway, token: string) =>
    t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { token, body: { input: { prompt: 'x' } } }),
};

const taskApiError = (r: Reply, status: number, code: string): void => {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error.code, code);
  assert.equal(typeof r.json.trace_id, 'string');
};
const apixoError = (r: Reply, status: number): void => {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.code, status);
  assert.equal(typeof r.json.data.error, 'string');
};
const replicateError = (r: Reply, status: number): void => {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.json.status, status);
  assert.equal(typeof r.json.detail, 'string');
};
const queueUnauthorized = (r: Reply): void => {
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json.error.code, 'UNAUTHORIZED');
  assert.equal(typeof r.json.request_id, 'string');
};

test('a scoped token creates only in its services, in every dialect; others answer token_mismatched', async () => {
  const t = await startGateway();
  try {
    const flux = (await newToken(t, { allowed_services: ['flux/*'] })).token;
    const mj = (await newToken(t, { allowed_services: ['midjourney/*', 'suno/audios'] })).token;

    assert.equal((await CREATES.taskApi(t, flux)).status, 200);
    assert.equal((await CREATES.apixo(t, flux)).status, 200);
    assert.equal((await CREATES.queue(t, flux)).status, 200);
    assert.equal((await CREATES.replicate(t, flux)).status, 201);
    assert.equal((await CREATES.taskApi(t, mj, true)).status, 200);
    assert.equal((await CREATES.apixo(t, mj, true)).status, 200);

    taskApiError(await CREATES.taskApi(t, flux, true), 401, 'token_mismatched');
    taskApiError(await CREATES.taskApi(t, mj), 401, 'token_mismatched');
    apixoError(await CREATES.apixo(t, flux, true), 401);
    apixoError(await CREATES.apixo(t, mj), 401);
    const queue = await CREATES.queue(t, mj);
    assert.equal(queue.status, 403);
    assert.deepEqual(queue.json, { detail: 'Model not allowed for this user' });
    const replicate = await CREATES.replicate(t, mj);
    replicateError(replicate, 401);
    assert.match(replicate.json.detail, /not allowed to use service flux\/dev/);

    // The default scope is every service.
    const all = await t.call('GET', '/admin/tokens', admin);
    assert.deepEqual(all.json.items.find((i: { name: string }) => i.name === 'test').allowed_services, ['*']);
  } finally {
    await t.close();
  }
});

test('an expired token answers token_expired and a disabled one disabled, in every dialect', async () => {
  const t = await startGateway();
  try {
    const expired = (await newToken(t, { expires_at: past() })).token;
    const disabledTok = await newToken(t, {});
    const off = await t.call('POST', `/admin/tokens/${disabledTok.id}/disable`, admin);
    assert.equal(off.status, 200);
    assert.equal(off.json.disabled, true);
    const disabled = disabledTok.token;

    taskApiError(await CREATES.taskApi(t, expired), 401, 'token_expired');
    taskApiError(await CREATES.taskApi(t, disabled), 403, 'disabled');
    apixoError(await CREATES.apixo(t, expired), 401);
    apixoError(await CREATES.apixo(t, disabled), 403);
    queueUnauthorized(await CREATES.queue(t, expired));
    queueUnauthorized(await CREATES.queue(t, disabled));
    replicateError(await CREATES.replicate(t, expired), 401);
    assert.match((await CREATES.replicate(t, expired)).json.detail, /expired/);
    replicateError(await CREATES.replicate(t, disabled), 403);

    // Reads are refused too, not only creates.
    taskApiError(await t.call('POST', '/v1/midjourney/tasks', { token: disabled, body: { id: 'x' } }), 403, 'disabled');
    replicateError(await t.call('GET', '/v1/predictions', { token: expired }), 401);
  } finally {
    await t.close();
  }
});

test('changes through the admin API apply at once despite the auth cache; expiry is checked on every request', async () => {
  const t = await startGateway();
  try {
    const { id, token } = await newToken(t, {});
    const ok = (): Promise<Reply> => CREATES.taskApi(t, token, true);
    assert.equal((await ok()).status, 200, 'authenticated and cached');

    const patch = (body: Record<string, unknown>) => t.call('PATCH', `/admin/tokens/${id}`, { ...admin, body });
    assert.deepEqual((await patch({ allowed_services: ['flux/dev'] })).json.allowed_services, ['flux/dev']);
    taskApiError(await ok(), 401, 'token_mismatched');
    assert.equal((await CREATES.taskApi(t, token)).status, 200);
    await patch({ allowed_services: ['*'] });
    assert.equal((await ok()).status, 200);

    assert.equal((await patch({ disabled: true })).json.disabled, true);
    taskApiError(await ok(), 403, 'disabled');
    assert.equal((await patch({ disabled: false })).json.disabled, false);
    assert.equal((await ok()).status, 200);

    const expiredAt = past();
    assert.equal((await patch({ expires_at: expiredAt })).json.expires_at, expiredAt);
    taskApiError(await ok(), 401, 'token_expired');
    assert.equal((await patch({ expires_at: null })).json.expires_at, null);
    assert.equal((await ok()).status, 200);

    // A token cached as valid stops working the moment it expires (well within the 10 s TTL).
    const soon = Date.now() + 1_500;
    await patch({ expires_at: new Date(soon).toISOString() });
    assert.equal((await ok()).status, 200);
    await new Promise((r) => setTimeout(r, soon - Date.now() + 50));
    taskApiError(await ok(), 401, 'token_expired');
  } finally {
    await t.close();
  }
});

test('admin API: token settings are shown and validated; PATCH, GET one and disable answer 404 for unknown ids', async () => {
  const t = await startGateway();
  try {
    const expires = '2099-01-02T03:04:05.000Z';
    const body = { name: 'limits', allowed_services: ['veo/*', 'veo/*', 'demo/image'], expires_at: expires, rate_limit_rps: 50, max_concurrency: 2 };
    const created = await t.call('POST', '/admin/tokens', { ...admin, body });
    assert.equal(created.status, 201, created.text);
    const { id, token } = created.json;
    const shown = {
      id, account_id: created.json.account_id, name: 'limits', created_at: created.json.created_at, allowed_services: ['veo/*', 'demo/image'],
      expires_at: expires, disabled: false, rate_limit_rps: 50,
    };
    assert.deepEqual({ ...created.json, token: undefined }, { ...shown, token: undefined });
    assert.deepEqual((await t.call('GET', `/admin/tokens/${id}`, admin)).json, shown);
    const list = await t.call('GET', '/admin/tokens', admin);
    assert.deepEqual(list.json.items.find((i: { id: string }) => i.id === id), shown);
    assert.ok(!list.text.includes(token));

    // The rate-limit work reads the overrides from the TokenRecord; max_concurrency went to the
    // account made for the token (an account setting).
    const principal = await t.gw.tokens.authenticate(token);
    assert.equal(principal?.token.rateLimitRps, 50);
    assert.equal(principal?.account.maxConcurrency, 2);
    assert.equal(principal?.account.name, 'limits');
    assert.equal(principal?.token.expiresAt, Date.parse(expires));

    const cleared = await t.call('PATCH', `/admin/tokens/${id}`, { ...admin, body: { rate_limit_rps: null, name: ' renamed ' } });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.json.rate_limit_rps, null);
    const moved = await t.call('PATCH', `/admin/tokens/${id}`, { ...admin, body: { max_concurrency: 7 } });
    assert.equal(moved.status, 400);
    assert.match(moved.json.error.message, /max_concurrency is a setting of the account .*PATCH \/admin\/accounts\/\{account_id\}/);
    assert.equal(cleared.json.name, 'renamed');
    assert.equal(cleared.json.expires_at, expires, 'fields not sent are kept');

    const bad: Record<string, unknown>[] = [
      { allowed_services: [] }, { allowed_services: 'flux/*' }, { allowed_services: [5] }, { allowed_services: ['a b'] },
      { expires_at: 'tomorrow' }, { expires_at: 1767225600000 }, { expires_at: '2030-01-01' }, { expires_at: '2030-02-31T00:00:00Z' },
      { rate_limit_rps: 0 }, { rate_limit_rps: 1.5 }, { rate_limit_rps: '3' }, { max_concurrency: -1 },
      { allowedServices: ['*'] },
    ];
    for (const fields of bad) {
      const r = await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'x', ...fields } });
      assert.equal(r.status, 400, `${JSON.stringify(fields)}: ${r.text}`);
      assert.equal(r.json.error.code, 'bad_request');
      const p = await t.call('PATCH', `/admin/tokens/${id}`, { ...admin, body: fields });
      assert.equal(p.status, 400, `PATCH ${JSON.stringify(fields)}: ${p.text}`);
    }
    for (const fields of [{}, { disabled: 'yes' }, { name: '' }, { token: 'tg_x' }]) {
      const p = await t.call('PATCH', `/admin/tokens/${id}`, { ...admin, body: fields });
      assert.equal(p.status, 400, `PATCH ${JSON.stringify(fields)}: ${p.text}`);
    }
    assert.equal((await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'x', disabled: true } })).status, 400);

    const unknown = '00000000-0000-0000-0000-000000000000';
    assert.equal((await t.call('PATCH', `/admin/tokens/${unknown}`, { ...admin, body: { disabled: true } })).status, 404);
    assert.equal((await t.call('POST', `/admin/tokens/${unknown}/disable`, admin)).status, 404);
    assert.equal((await t.call('GET', `/admin/tokens/${unknown}`, admin)).status, 404);
    // The new routes are admin-only like the rest.
    assert.equal((await t.call('POST', `/admin/tokens/${id}/disable`, { token })).status, 401);
    assert.equal((await t.call('PATCH', `/admin/tokens/${id}`, { token: t.token, body: { disabled: false } })).status, 401);
  } finally {
    await t.close();
  }
});

test('service patterns: * is every service, a * inside a pattern matches any run of characters', () => {
  const allows = (patterns: string[], service: string): boolean => serviceAllowed({ allowedServices: patterns }, service);
  assert.ok(allows(['*'], 'midjourney/imagine'));
  assert.ok(allows(['midjourney/*'], 'midjourney/imagine'));
  assert.ok(!allows(['midjourney/*'], 'midjourney2/imagine'));
  assert.ok(!allows(['midjourney/*'], 'suno/audios'));
  assert.ok(allows(['*/audios'], 'suno/audios'));
  assert.ok(allows(['flux/dev'], 'flux/dev'));
  assert.ok(!allows(['flux/dev'], 'flux/dev2'));
  assert.ok(!allows(['flux.dev'], 'fluxadev'), '. is literal');
  assert.ok(allows(['veo/*', 'suno/*'], 'suno/audios'));
  assert.ok(!allows([], 'suno/audios'));
});

const run = promisify(execFile);

async function cli(dataDir: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CLI, 'tokens', ...args], {
    cwd: SERVER_ROOT, env: { ...process.env, TASKGATE_DATA: dataDir, INIT_CWD: dataDir },
  });
  return stdout;
}

test('CLI: tokens create with --services and --expires, update, list, disable, delete; bad options are refused', async () => {
  const dataDir = tempDir();
  try {
    const scoped = JSON.parse(await cli(dataDir, 'create', 'cli-scoped', '--services', 'flux/*, demo/image', '--expires', '2099-01-01T00:00:00Z'));
    assert.deepEqual(scoped.allowed_services, ['flux/*', 'demo/image']);
    assert.equal(scoped.expires_at, '2099-01-01T00:00:00.000Z');
    const plain = JSON.parse(await cli(dataDir, 'create', 'cli-plain'));
    const expired = JSON.parse(await cli(dataDir, 'create', 'cli-expired', '--expires', '2000-01-01T00:00:00Z'));
    assert.equal(await cli(dataDir, 'disable', plain.id), `disabled ${plain.id}\n`);
    // update: change settings, clear one with `none`, enable a disabled token again.
    const revived = JSON.parse(await cli(dataDir, 'create', 'cli-revived', '--rps', '5'));
    await cli(dataDir, 'disable', revived.id);
    const updated = (await cli(dataDir, 'update', revived.id, '--enable', '--name', 'renamed', '--services', 'veo/*', '--rps', 'none')).split('\t');
    assert.deepEqual([updated[1], updated[3], updated[5]?.trim()], ['renamed', 'veo/*', 'active']);
    const gone = JSON.parse(await cli(dataDir, 'create', 'cli-gone'));
    assert.equal(await cli(dataDir, 'delete', gone.id), `deleted ${gone.id}\n`);

    const list = await cli(dataDir, 'list');
    const line = (id: string): string[] => (list.split('\n').find((l) => l.startsWith(id)) ?? '').split('\t');
    assert.equal(line(scoped.id)[3], 'flux/*,demo/image');
    assert.equal(line(plain.id)[5], 'disabled');
    assert.ok(!list.includes(gone.id));
    assert.ok(!list.includes(scoped.token), 'never the token itself');

    for (const args of [
      ['create', 'x', '--services', 'a b'], ['create', 'x', '--bogus'], ['disable', 'nope'], ['create', 'x', '--rps', 'none'],
      ['create', 'x', '--enable'], ['update', revived.id], ['update', 'nope', '--rps', '2'], ['update', revived.id, '--rps', '0'], ['list', '--rps', '2'],
      ['update', revived.id, '--concurrency', '3'],
    ]) {
      await assert.rejects(cli(dataDir, ...args), (err: { code?: number }) => err.code === 1, args.join(' '));
    }

    const t = await startGateway({ dataDir });
    try {
      assert.equal((await CREATES.taskApi(t, scoped.token)).status, 200);
      taskApiError(await CREATES.taskApi(t, scoped.token, true), 401, 'token_mismatched');
      taskApiError(await CREATES.taskApi(t, plain.token), 403, 'disabled');
      taskApiError(await CREATES.taskApi(t, expired.token), 401, 'token_expired');
      taskApiError(await CREATES.taskApi(t, gone.token), 401, 'invalid_token');
      const record = await t.gw.tokens.get(revived.id);
      assert.deepEqual([record?.rateLimitRps, record?.disabled], [null, false]);
      assert.equal((await t.call('POST', '/v1/veo/videos', { token: revived.token, body: { prompt: 'x' } })).status, 200);
    } finally {
      await t.close();
    }
  } finally {
    removeDir(dataDir);
  }
});
