/**
 * Accounts apart from tokens: an account owns tasks, credits, webhook secrets and limits; its
 * tokens are replaceable credentials, each possibly narrower than the account.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, call, removeDir, startGateway, tempDir, type Reply, type TestGateway } from './helpers.js';

const admin = { token: ADMIN_TOKEN };

function ok(r: Reply, status = 200): Reply['json'] {
  assert.equal(r.status, status, r.text);
  return r.json;
}

function refused(r: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error.code, code, r.text);
  if (message) assert.match(r.json.error.message, message);
}

describe('accounts and their tokens (admin API)', () => {
  let t: TestGateway;
  before(async () => {
    t = await startGateway();
  });
  after(() => t.close());
  const as = (token: string, method: string, path: string, body?: unknown) => call(t.url, method, path, token, body === undefined ? {} : { body });
  const create = async (token: string, prompt: string): Promise<string> => ok(await as(token, 'POST', '/v1/demo/image', { prompt, async: true })).task_id;
  const retrieve = (token: string, id: string) => as(token, 'POST', '/v1/demo/tasks', { action: 'retrieve', id });

  test('POST /admin/tokens {name} makes an account for the token and answers its account_id', async () => {
    const created = ok(await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'solo', max_concurrency: 4 } }), 201);
    assert.equal(typeof created.account_id, 'string');
    assert.notEqual(created.account_id, created.id, 'the account is not the token');
    const account = ok(await t.call('GET', `/admin/accounts/${created.account_id}`, admin));
    assert.deepEqual(
      { ...account, created_at: undefined },
      { id: created.account_id, name: 'solo', created_at: undefined, disabled: false, rate_limit_rps: null, max_concurrency: 4, balance: 0, held: 0, used: 0 },
    );
    const tokens = ok(await t.call('GET', `/admin/accounts/${created.account_id}/tokens`, admin));
    assert.deepEqual(tokens.items.map((x: { id: string }) => x.id), [created.id]);
    assert.ok(!JSON.stringify(tokens).includes(created.token), 'never the token itself');
  });

  test('replacing, rotating and deleting tokens keeps the tasks, balance and webhook secret of the account', async () => {
    const account = ok(await t.call('POST', '/admin/accounts', { ...admin, body: { name: 'team' } }), 201);
    const first = ok(await t.call('POST', `/admin/accounts/${account.id}/tokens`, { ...admin, body: { name: 'laptop' } }), 201);
    assert.equal(first.account_id, account.id);
    ok(await t.call('POST', `/admin/accounts/${account.id}/topup`, { ...admin, body: { amount: 100, reason: 'start' } }));
    const taskId = await create(first.token, 'kept');
    const secret = ok(await as(first.token, 'GET', '/v1/webhooks/secret')).secret;

    // A second token of the same account sees the same tasks, credits and secret.
    const second = ok(await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'ci', account_id: account.id } }), 201);
    assert.equal(ok(await retrieve(second.token, taskId)).id, taskId);
    assert.equal(ok(await as(second.token, 'GET', '/v1/account/balance')).balance, 100);
    assert.equal(ok(await as(second.token, 'GET', '/v1/webhooks/secret')).secret, secret);

    // The leaked first token is deleted: the account keeps everything.
    ok(await t.call('DELETE', `/admin/tokens/${first.id}`, admin));
    refused(await retrieve(first.token, taskId), 401, 'invalid_token');
    assert.equal(ok(await retrieve(second.token, taskId)).id, taskId);

    // Rotation: same token id and account, a new secret; the old one stops at once.
    const rotated = ok(await t.call('POST', `/admin/tokens/${second.id}/rotate`, admin));
    assert.equal(rotated.id, second.id);
    assert.equal(rotated.account_id, account.id);
    assert.notEqual(rotated.token, second.token);
    refused(await retrieve(second.token, taskId), 401, 'invalid_token');
    assert.equal(ok(await retrieve(rotated.token, taskId)).id, taskId);
    assert.equal(ok(await as(rotated.token, 'GET', '/v1/account/balance')).balance, 100);
    assert.equal(ok(await as(rotated.token, 'GET', '/v1/webhooks/secret')).secret, secret);
    refused(await t.call('POST', '/admin/tokens/nope/rotate', admin), 404, 'not_found');

    // Another account's token sees none of it.
    refused(await retrieve(t.token, taskId), 404, 'not_found');
  });

  test('a token can be narrower than its account; a disabled account stops every token', async () => {
    const account = ok(await t.call('POST', '/admin/accounts', { ...admin, body: { name: 'narrow' } }), 201);
    const wide = ok(await t.call('POST', `/admin/accounts/${account.id}/tokens`, { ...admin, body: { name: 'wide' } }), 201);
    const narrow = ok(await t.call('POST', `/admin/accounts/${account.id}/tokens`, { ...admin, body: { name: 'flux only', allowed_services: ['flux/*'], expires_at: '2099-01-01T00:00:00Z' } }), 201);
    const id = await create(wide.token, 'wide');
    refused(await as(narrow.token, 'POST', '/v1/demo/image', { prompt: 'no', async: true }), 401, 'token_mismatched');
    assert.equal(ok(await retrieve(narrow.token, id)).id, id, 'the account’s tasks stay readable with any of its tokens');

    const disabled = ok(await t.call('PATCH', `/admin/accounts/${account.id}`, { ...admin, body: { disabled: true } }));
    assert.equal(disabled.disabled, true);
    for (const token of [wide.token, narrow.token]) refused(await retrieve(token, id), 403, 'disabled', /account is disabled/);
    ok(await t.call('PATCH', `/admin/accounts/${account.id}`, { ...admin, body: { disabled: false } }));
    assert.equal(ok(await retrieve(narrow.token, id)).id, id);
  });

  test("an account's request rate counts all its tokens together; a token's own rate only itself", async () => {
    const account = ok(await t.call('POST', '/admin/accounts', { ...admin, body: { name: 'rated', rate_limit_rps: 3 } }), 201);
    const a = ok(await t.call('POST', `/admin/accounts/${account.id}/tokens`, { ...admin, body: { name: 'a' } }), 201);
    const b = ok(await t.call('POST', `/admin/accounts/${account.id}/tokens`, { ...admin, body: { name: 'b' } }), 201);
    const statuses: number[] = [];
    for (const token of [a.token, b.token, a.token, b.token]) statuses.push((await as(token, 'GET', '/v1/account/balance')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  test('bad bodies and unknown accounts are refused clearly', async () => {
    refused(await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'x', account_id: 'nope' } }), 404, 'not_found', /Account nope not found/);
    const account = ok(await t.call('POST', '/admin/accounts', { ...admin, body: { name: 'checked' } }), 201);
    refused(
      await t.call('POST', '/admin/tokens', { ...admin, body: { name: 'x', account_id: account.id, max_concurrency: 2 } }),
      400, 'bad_request', /max_concurrency is a setting of the account/,
    );
    for (const body of [{}, { name: '' }, { name: 'x', max_concurrency: 0 }, { name: 'x', rate_limit_rps: 'fast' }, { name: 'x', allowed_services: ['*'] }]) {
      refused(await t.call('POST', '/admin/accounts', { ...admin, body }), 400, 'bad_request');
    }
    for (const body of [{}, { disabled: 'yes' }, { max_concurrency: -1 }, { token: 'x' }]) {
      refused(await t.call('PATCH', `/admin/accounts/${account.id}`, { ...admin, body }), 400, 'bad_request');
    }
    refused(await t.call('PATCH', '/admin/accounts/nope', { ...admin, body: { name: 'y' } }), 404, 'not_found');
    refused(await t.call('GET', '/admin/accounts/nope/tokens', admin), 404, 'not_found');
    refused(await t.call('POST', '/admin/accounts/nope/tokens', { ...admin, body: { name: 'y' } }), 404, 'not_found');
    refused(await t.call('GET', '/admin/accounts', { token: t.token }), 401, 'invalid_token');
    const list = ok(await t.call('GET', '/admin/accounts', admin));
    assert.ok(list.items.some((a: { id: string }) => a.id === account.id));
  });
});

const CLI = join(import.meta.dirname, '..', 'bin', 'taskgate.js');
const run = promisify(execFile);

test('CLI: accounts create, list and update; tokens create --account, list --account and rotate', async () => {
  const dataDir = tempDir();
  const cli = async (...args: string[]): Promise<string> =>
    (await run(process.execPath, [CLI, ...args], { env: { ...process.env, TASKGATE_DATA: dataDir, INIT_CWD: dataDir } })).stdout;
  try {
    const [accountId, name, , rps, concurrency, state] = (await cli('accounts', 'create', 'studio', '--concurrency', '2')).trim().split('\t');
    assert.deepEqual([name, rps, concurrency, state], ['studio', 'rps=-', 'concurrency=2', 'active']);
    const token = JSON.parse(await cli('tokens', 'create', 'render-box', '--account', accountId!));
    assert.equal(token.account_id, accountId);
    const updated = (await cli('accounts', 'update', accountId!, '--rps', '7', '--concurrency', 'none', '--disable')).trim().split('\t');
    assert.deepEqual(updated.slice(3), ['rps=7', 'concurrency=-', 'disabled']);
    assert.match(await cli('accounts', 'list'), new RegExp(`^${accountId}\tstudio\t`, 'm'));
    const listed = await cli('tokens', 'list', '--account', accountId!);
    assert.equal(listed.trim().split('\n').length, 1);
    assert.ok(listed.includes(`account=${accountId}`) && !listed.includes(token.token));
    const rotated = JSON.parse(await cli('tokens', 'rotate', token.id));
    assert.deepEqual([rotated.id, rotated.account_id], [token.id, accountId]);
    assert.notEqual(rotated.token, token.token);
    await assert.rejects(cli('tokens', 'create', 'x', '--account', accountId!, '--concurrency', '2'), /account setting/);
    await assert.rejects(cli('tokens', 'create', 'x', '--account', 'nope'), /Account nope not found/);
    await assert.rejects(cli('accounts', 'update', 'nope', '--rps', '2'), /no account nope/);

    const t = await startGateway({ dataDir });
    try {
      refused(await call(t.url, 'GET', '/v1/account/balance', rotated.token), 403, 'disabled');
      ok(await t.call('PATCH', `/admin/accounts/${accountId}`, { ...admin, body: { disabled: false } }));
      ok(await call(t.url, 'GET', '/v1/account/balance', rotated.token));
      refused(await call(t.url, 'GET', '/v1/account/balance', token.token), 401, 'invalid_token');
    } finally {
      await t.close();
    }
  } finally {
    removeDir(dataDir);
  }
});
