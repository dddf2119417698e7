/**
 * The AccountStore and LedgerStore contracts as a shared suite: every driver must pass it. Call
 * `runAccountLedgerSuite(name, open)` from a driver's test file; `open` gives both stores over one
 * fresh database, and `close` closes it (and drops it).
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { AccountRecord, AccountStore, TokenRecord } from '../src/accounts/records.js';
import { GatewayError } from '../src/core/errors.js';
import type { LedgerStore } from '../src/core/ports.js';
import { testsOn, type SuiteOptions } from './store-contract.js';

export interface AccountLedgerStores {
  accounts: AccountStore;
  ledger: LedgerStore;
  close(): Promise<void>;
}

const account = (id: string, over: Partial<AccountRecord> = {}): AccountRecord => ({
  id, name: `acct ${id}`, createdAt: 100, disabled: false, rateLimitRps: null, maxConcurrency: null, ...over,
});

const token = (id: string, accountId: string, over: Partial<TokenRecord & { hash: string }> = {}): TokenRecord & { hash: string } => ({
  id, accountId, name: `token ${id}`, createdAt: 100, allowedServices: ['*'], expiresAt: null, disabled: false, rateLimitRps: null,
  hash: `hash-${id}`, ...over,
});

const withoutHash = ({ hash: _hash, ...rec }: TokenRecord & { hash: string }): TokenRecord => rec;

export function runAccountLedgerSuite(name: string, open: () => AccountLedgerStores | Promise<AccountLedgerStores>, opts: SuiteOptions = {}): void {
  const it = testsOn(open);

  describe(`AccountStore and LedgerStore contract: ${name}`, { skip: opts.skip ?? false }, () => {
    it('accounts round-trip every field; list is oldest first, then by id', async ({ accounts }) => {
      const b = account('b', { createdAt: 200, disabled: true, rateLimitRps: 5, maxConcurrency: 3 });
      const c = account('c', { createdAt: 100, name: '' });
      const a = account('a', { createdAt: 100 });
      for (const rec of [b, c, a]) await accounts.insertAccount(rec);
      assert.deepEqual(await accounts.getAccount('b'), b);
      assert.equal(await accounts.getAccount('nope'), null);
      assert.deepEqual(await accounts.listAccounts(), [a, c, b]);
      await assert.rejects(accounts.insertAccount(account('a')), 'an account id is unique');
      assert.deepEqual(await accounts.getAccount('a'), a);
    });

    it('updateAccount applies only the fields present; null clears; unknown is null', async ({ accounts }) => {
      await accounts.insertAccount(account('a', { rateLimitRps: 5, maxConcurrency: 2 }));
      assert.deepEqual(await accounts.updateAccount('a', { name: 'renamed', disabled: true }),
        account('a', { name: 'renamed', disabled: true, rateLimitRps: 5, maxConcurrency: 2 }));
      assert.deepEqual(await accounts.updateAccount('a', { rateLimitRps: null, maxConcurrency: 9 }),
        account('a', { name: 'renamed', disabled: true, rateLimitRps: null, maxConcurrency: 9 }));
      assert.deepEqual(await accounts.updateAccount('a', { disabled: false }), account('a', { name: 'renamed', maxConcurrency: 9 }));
      assert.deepEqual(await accounts.updateAccount('a', {}), account('a', { name: 'renamed', maxConcurrency: 9 }), 'an empty patch reads');
      assert.deepEqual(await accounts.getAccount('a'), account('a', { name: 'renamed', maxConcurrency: 9 }));
      assert.equal(await accounts.updateAccount('nope', { name: 'x' }), null);
      assert.equal(await accounts.updateAccount('nope', {}), null);
    });

    it('insertToken: into an existing account, or with a new one in the same transaction', async ({ accounts }) => {
      await accounts.insertAccount(account('a'));
      const t1 = token('t1', 'a', { allowedServices: ['midjourney/*', 'flux/dev'], expiresAt: 5000, rateLimitRps: 7 });
      await accounts.insertToken(t1);
      assert.deepEqual(await accounts.getToken('t1'), withoutHash(t1));
      const fresh = account('n', { createdAt: 300 });
      const t2 = token('t2', 'n', { createdAt: 300 });
      await accounts.insertToken(t2, fresh);
      assert.deepEqual(await accounts.getAccount('n'), fresh);
      assert.deepEqual(await accounts.getToken('t2'), withoutHash(t2));
      assert.equal(await accounts.getToken('nope'), null);

      await assert.rejects(accounts.insertToken(token('t3', 'missing')), 'no such account');
      assert.equal(await accounts.getToken('t3'), null);
      await assert.rejects(accounts.insertToken(token('t4', 'x', { hash: 'hash-t1' }), account('x')), 'a token hash is unique');
      assert.equal(await accounts.getAccount('x'), null, 'the new account is rolled back with its token');
      assert.equal(await accounts.getToken('t4'), null);
      await assert.rejects(accounts.insertToken(token('t1', 'a', { hash: 'other' })), 'a token id is unique');
    });

    it('findTokenByHash returns the token with its account, as they are now', async ({ accounts }) => {
      const a = account('a', { rateLimitRps: 4 });
      const t = token('t', 'a', { disabled: true });
      await accounts.insertToken(t, a);
      assert.deepEqual(await accounts.findTokenByHash('hash-t'), { token: withoutHash(t), account: a });
      assert.equal(await accounts.findTokenByHash('hash-unknown'), null);
      await accounts.updateAccount('a', { disabled: true });
      assert.equal((await accounts.findTokenByHash('hash-t'))?.account.disabled, true);
    });

    it('listTokens: oldest first then by id; all, or one account’s', async ({ accounts }) => {
      await accounts.insertAccount(account('a'));
      await accounts.insertAccount(account('b'));
      const late = token('k1', 'a', { createdAt: 300 });
      const y = token('y', 'b', { createdAt: 200 });
      const x = token('x', 'a', { createdAt: 200 });
      for (const t of [late, y, x]) await accounts.insertToken(t);
      assert.deepEqual(await accounts.listTokens(), [x, y, late].map(withoutHash));
      assert.deepEqual(await accounts.listTokens('a'), [x, late].map(withoutHash));
      assert.deepEqual(await accounts.listTokens('nope'), []);
    });

    it('updateToken applies only the fields present; null clears; unknown is null', async ({ accounts }) => {
      const t = token('t', 'a', { expiresAt: 9000, rateLimitRps: 3 });
      await accounts.insertToken(t, account('a'));
      const base = withoutHash(t);
      assert.deepEqual(await accounts.updateToken('t', { name: 'renamed', allowedServices: ['a/*'] }), { ...base, name: 'renamed', allowedServices: ['a/*'] });
      assert.deepEqual(await accounts.updateToken('t', { expiresAt: null, disabled: true }),
        { ...base, name: 'renamed', allowedServices: ['a/*'], expiresAt: null, disabled: true });
      assert.deepEqual(await accounts.updateToken('t', { rateLimitRps: null, disabled: false }),
        { ...base, name: 'renamed', allowedServices: ['a/*'], expiresAt: null, rateLimitRps: null });
      assert.deepEqual(await accounts.updateToken('t', {}), { ...base, name: 'renamed', allowedServices: ['a/*'], expiresAt: null, rateLimitRps: null });
      assert.equal((await accounts.findTokenByHash('hash-t'))?.token.name, 'renamed');
      assert.equal(await accounts.updateToken('nope', { name: 'x' }), null);
      assert.equal(await accounts.updateToken('nope', {}), null);
    });

    it('replaceTokenHash: the old secret stops working at once; deleteToken removes it', async ({ accounts }) => {
      const t = token('t', 'a');
      await accounts.insertToken(t, account('a'));
      assert.deepEqual(await accounts.replaceTokenHash('t', 'hash-new'), withoutHash(t));
      assert.equal(await accounts.findTokenByHash('hash-t'), null);
      assert.equal((await accounts.findTokenByHash('hash-new'))?.token.id, 't');
      assert.equal(await accounts.replaceTokenHash('nope', 'hash-x'), null);
      assert.equal(await accounts.deleteToken('t'), true);
      assert.equal(await accounts.deleteToken('t'), false);
      assert.equal(await accounts.findTokenByHash('hash-new'), null);
      assert.equal(await accounts.getToken('t'), null);
      assert.deepEqual(await accounts.getAccount('a'), account('a'), 'the account stays');
    });

    it('settings: unknown is null; set overwrites', async ({ accounts }) => {
      assert.equal(await accounts.getSetting('admin_hash'), null);
      await accounts.setSetting('admin_hash', 'one');
      await accounts.setSetting('signing_key', 'k');
      await accounts.setSetting('admin_hash', 'two');
      assert.equal(await accounts.getSetting('admin_hash'), 'two');
      assert.equal(await accounts.getSetting('signing_key'), 'k');
    });

    it('credit: top-ups and adjustments change the balance; an unknown owner has zeros', async ({ accounts, ledger }) => {
      assert.deepEqual(await ledger.account('o'), { ownerId: 'o', balance: 0, held: 0, used: 0 });
      assert.deepEqual(await ledger.credit('o', 30, 'topup', 'first', 10), { ownerId: 'o', balance: 30, held: 0, used: 0 });
      assert.deepEqual(await ledger.credit('o', -12, 'adjust', 'refund fee', 20), { ownerId: 'o', balance: 18, held: 0, used: 0 });
      assert.deepEqual(await ledger.account('o'), { ownerId: 'o', balance: 18, held: 0, used: 0 });
      assert.deepEqual(await accounts.getAccount('o'), { id: 'o', name: '', createdAt: 0, disabled: false, rateLimitRps: null, maxConcurrency: null },
        'credits for an owner with no account make a bare one');
    });

    it('credit refuses a negative balance and changes nothing', async ({ accounts, ledger }) => {
      await ledger.credit('o', 5, 'topup', 'x', 10);
      await assert.rejects(ledger.credit('o', -6, 'adjust', 'too much', 20), (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, 'bad_request');
        assert.equal(err.message, 'An adjustment of -6 would make the balance negative');
        return true;
      });
      assert.deepEqual(await ledger.account('o'), { ownerId: 'o', balance: 5, held: 0, used: 0 });
      assert.equal((await ledger.entries('o', { limit: 10 })).length, 1, 'no entry for a refused adjustment');
      assert.deepEqual(await ledger.credit('o', -5, 'adjust', 'all of it', 30), { ownerId: 'o', balance: 0, held: 0, used: 0 });
      await assert.rejects(ledger.credit('ghost', -1, 'adjust', 'x', 40), /would make the balance negative/);
      assert.equal(await accounts.getAccount('ghost'), null, 'a refused credit makes no account');
      assert.deepEqual(await ledger.entries('ghost', { limit: 10 }), []);
    });

    it('concurrent debits never take the balance below zero', async ({ ledger }) => {
      await ledger.credit('o', 10, 'topup', 'x', 1);
      const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => ledger.credit('o', -1, 'adjust', `d${i}`, 2 + i)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10);
      assert.equal(results.filter((r) => r.status === 'rejected').length, 6);
      assert.deepEqual(await ledger.account('o'), { ownerId: 'o', balance: 0, held: 0, used: 0 });
      assert.equal((await ledger.entries('o', { limit: 100 })).length, 11);
    });

    it('entries: the owner’s, newest first, paged by seq', async ({ ledger }) => {
      for (let i = 1; i <= 5; i++) await ledger.credit('o', i, 'topup', `top ${i}`, 100 + i);
      await ledger.credit('other', 7, 'topup', 'theirs', 200);
      await ledger.credit('o', -2, 'adjust', 'fix', 300);
      const all = await ledger.entries('o', { limit: 100 });
      assert.deepEqual(all.map((e) => [e.kind, e.amount, e.reason, e.at]), [
        ['adjust', -2, 'fix', 300], ['topup', 5, 'top 5', 105], ['topup', 4, 'top 4', 104], ['topup', 3, 'top 3', 103],
        ['topup', 2, 'top 2', 102], ['topup', 1, 'top 1', 101],
      ]);
      assert.ok(all.every((e) => e.ownerId === 'o' && e.taskId === null && Number.isInteger(e.seq)));
      assert.ok(all.every((e, i) => i === 0 || e.seq < all[i - 1]!.seq), 'seq descends');
      const first = await ledger.entries('o', { limit: 2 });
      assert.deepEqual(first, all.slice(0, 2));
      const second = await ledger.entries('o', { before: first[1]!.seq, limit: 2 });
      assert.deepEqual(second, all.slice(2, 4));
      const last = await ledger.entries('o', { before: all[4]!.seq, limit: 10 });
      assert.deepEqual(last, all.slice(5));
      assert.deepEqual(await ledger.entries('o', { before: all[5]!.seq, limit: 10 }), []);
      assert.deepEqual((await ledger.entries('other', { limit: 10 })).map((e) => e.amount), [7]);
    });
  });
}
