/** Credits: holds at create, settle on success, refund exactly once, races, accounts API. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_TOKEN, startGateway, waitForTask, type TestGateway } from './helpers.js';

const PAID = {
  'paid/image': { provider: 'demo-image', mode: 'async', price: 3, aliases: { apixo: ['paid'], queue: ['acme/paid/image'], replicate: ['acme/paid'] }, options: { latencyMs: 10, steps: 1, defaultWidth: 64, defaultHeight: 64 } },
  'paid/audio': { provider: 'demo-audio', mode: 'async', price: { base: 1, perUnit: 2, field: 'duration' }, options: { latencyMs: 10, steps: 1 } },
};

async function topUp(t: TestGateway, amount: number, ownerId = t.ownerId): Promise<void> {
  const r = await t.call('POST', `/admin/accounts/${ownerId}/topup`, { token: ADMIN_TOKEN, body: { amount, reason: 'test credit' } });
  assert.equal(r.status, 200, r.text);
}

async function balance(t: TestGateway): Promise<{ balance: number; held: number; used: number }> {
  return (await t.call('GET', '/v1/account/balance')).json;
}

async function ledger(t: TestGateway): Promise<Array<{ kind: string; amount: number; task_id: string | null }>> {
  return (await t.call('GET', '/v1/account/ledger?limit=200')).json.items;
}

test('100 concurrent creates against a balance that covers 10: exactly 10 tasks, 10 holds, 90 used_up', async () => {
  const t = await startGateway({ services: PAID, config: { dispatch: { enabled: false } } });
  try {
    await topUp(t, 30);
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => t.call('POST', '/v1/paid/image', { body: { prompt: `race ${i}` } })));
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 403);
    assert.equal(ok.length, 10);
    assert.equal(refused.length, 90);
    for (const r of refused) assert.equal(r.json.error.code, 'used_up');
    assert.deepEqual(await balance(t), { balance: 0, held: 30, used: 0 });
    const entries = await ledger(t);
    assert.equal(entries.filter((e) => e.kind === 'hold').length, 10);
    assert.deepEqual(new Set(entries.filter((e) => e.kind === 'hold').map((e) => e.task_id)), new Set(ok.map((a) => a.json.task_id)));
    const batch = await t.call('POST', '/v1/paid/tasks', { body: { action: 'retrieve_batch', ids: answers.map((a) => a.json.task_id ?? 'none') } });
    assert.equal(batch.json.count, 10, 'no task exists for a refused create');
  } finally {
    await t.close();
  }
});

test('success settles, failure and cancel refund; totals stay consistent', async () => {
  const t = await startGateway({ services: PAID });
  try {
    await topUp(t, 20);
    const good = (await t.call('POST', '/v1/paid/image', { body: { prompt: 'fine' } })).json.task_id;
    const bad = (await t.call('POST', '/v1/paid/image', { body: { prompt: 'forbidden-demo-word' } })).json.task_id;
    const audio = (await t.call('POST', '/v1/paid/audio', { body: { prompt: 'x', duration: 2.5 } })).json.task_id;
    for (const id of [good, bad, audio]) await waitForTask(t.gw, t.ownerId, id, (x) => x.state !== 'queued' && x.state !== 'running');
    assert.deepEqual(await balance(t), { balance: 20 - 3 - 6, held: 0, used: 3 + 6 }, 'audio: 1 + 2 × 2.5 = 6; moderation failure refunded');
    const kinds = (await ledger(t)).filter((e) => e.task_id === bad).map((e) => e.kind).sort();
    assert.deepEqual(kinds, ['hold', 'refund']);
    const idle = await startGateway({ services: PAID, config: { dispatch: { enabled: false } } });
    try {
      await topUp(idle, 3);
      const queued = (await idle.call('POST', '/v1/paid/image', { body: { prompt: 'never runs' } })).json.task_id;
      assert.equal((await idle.gw.tasks.cancel(idle.ownerId, queued)).outcome, 'cancelled');
      assert.deepEqual(await balance(idle), { balance: 3, held: 0, used: 0 });
    } finally {
      await idle.close();
    }
  } finally {
    await t.close();
  }
});

test('cancel, provider failure and timeout racing on one task refund it exactly once', async () => {
  const t = await startGateway({ services: PAID, config: { dispatch: { enabled: false } } });
  try {
    await topUp(t, 9);
    for (let round = 0; round < 3; round++) {
      const id = (await t.call('POST', '/v1/paid/image', { body: { prompt: `contested ${round}` } })).json.task_id as string;
      const [claimed] = await t.gw.tasks.claim('worker-w', 1, [{ service: 'paid/image', concurrency: 10, timeoutMs: 60_000 }], 60_000);
      assert.equal(claimed?.id, id);
      const outcomes = await Promise.all([
        t.gw.tasks.cancel(t.ownerId, id),
        t.gw.tasks.fail(id, 'worker-w', { code: 'api_error', message: 'provider failed' }),
        t.gw.tasks.abandon(id, { code: 'timeout', message: 'too late' }),
      ]);
      const won = [outcomes[0].outcome === 'cancelled', outcomes[1] !== null, outcomes[2] !== null].filter(Boolean);
      assert.equal(won.length, 1, `exactly one transition wins (round ${round})`);
      const refunds = (await ledger(t)).filter((e) => e.task_id === id && e.kind === 'refund');
      assert.equal(refunds.length, 1);
      assert.equal(refunds[0]?.amount, 3);
    }
    assert.deepEqual(await balance(t), { balance: 9, held: 0, used: 0 });
  } finally {
    await t.close();
  }
});

test('used_up in every dialect’s envelope, and no task is created', async () => {
  const t = await startGateway({ services: PAID, config: { dispatch: { enabled: false } } });
  try {
    const task = await t.call('POST', '/v1/paid/image', { body: { prompt: 'x' } });
    assert.deepEqual([task.status, task.json.error.code], [403, 'used_up']);
    const apixo = await t.call('POST', '/api/v1/generateTask/paid', { body: { input: { prompt: 'x' } } });
    assert.deepEqual([apixo.status, apixo.json.code, apixo.json.data.failCode], [403, 403, 'INSUFFICIENT_CREDITS']);
    const queue = await t.call('POST', '/v1/queue/acme/paid/image', { body: { prompt: 'x' } });
    assert.equal(queue.status, 403);
    assert.match(JSON.stringify(queue.json), /[Bb]alance/);
    const replicate = await t.call('POST', '/v1/models/acme/paid/predictions', { body: { input: { prompt: 'x' } } });
    assert.deepEqual([replicate.status, replicate.json.status], [403, 403]);
    assert.deepEqual(await ledger(t), []);
  } finally {
    await t.close();
  }
});

test('accounts API: owner balance and paged ledger; admin top-up and adjustments validated', async () => {
  const t = await startGateway({ services: PAID, config: { dispatch: { enabled: false } } });
  try {
    assert.deepEqual(await balance(t), { balance: 0, held: 0, used: 0 });
    for (let i = 0; i < 5; i++) await topUp(t, 10);
    const adjust = await t.call('POST', `/admin/accounts/${t.ownerId}/adjust`, { token: ADMIN_TOKEN, body: { amount: -15, reason: 'goodwill reversal' } });
    assert.deepEqual([adjust.status, adjust.json.balance], [200, 35]);
    const tooMuch = await t.call('POST', `/admin/accounts/${t.ownerId}/adjust`, { token: ADMIN_TOKEN, body: { amount: -36, reason: 'x' } });
    assert.deepEqual([tooMuch.status, tooMuch.json.error.code], [400, 'bad_request']);
    for (const body of [{ amount: 0, reason: 'x' }, { amount: 1.5, reason: 'x' }, { amount: 5 }, { amount: -5, reason: 'x' }]) {
      const r = await t.call('POST', `/admin/accounts/${t.ownerId}/topup`, { token: ADMIN_TOKEN, body });
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    assert.equal((await t.call('POST', '/admin/accounts/nobody/topup', { token: ADMIN_TOKEN, body: { amount: 5, reason: 'x' } })).status, 404);
    assert.equal((await t.call('POST', `/admin/accounts/${t.ownerId}/topup`, { body: { amount: 5, reason: 'x' } })).status, 401, 'API tokens cannot top up');
    const first = await t.call('GET', '/v1/account/ledger?limit=4');
    assert.equal(first.json.count, 4);
    assert.equal(first.json.items[0].kind, 'adjust');
    assert.equal(first.json.items[0].reason, 'goodwill reversal');
    const second = await t.call('GET', `/v1/account/ledger?limit=4&before=${first.json.next_before}`);
    assert.equal(second.json.count, 2);
    assert.equal(second.json.next_before, null);
    const { token: other } = await t.gw.tokens.create('other');
    assert.deepEqual((await t.call('GET', '/v1/account/balance', { token: other })).json, { balance: 0, held: 0, used: 0 });
    assert.equal((await t.call('GET', '/v1/account/ledger?limit=0')).status, 400);
  } finally {
    await t.close();
  }
});
