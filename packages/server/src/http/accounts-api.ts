/**
 * Accounts. The caller's own account (`/v1/account`, any of its tokens): balance and ledger. The
 * operator's (`/admin/accounts`, admin token): create, list, read, change and disable accounts,
 * their tokens, top-ups and adjustments. Errors use the task API envelope.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import type { Account, LedgerStore } from '../core/ports.js';
import { ledgerEntryView } from './dashboard/detail.js';
import { isJsonObject, type JsonObject } from '../core/types.js';
import { ACCOUNT_FIELDS, accountPatchOf, accountView, requireName, TOKEN_FIELDS, tokenPatchOf, tokenView } from './admin-views.js';
import { authenticate, ownerOf, requireAdmin } from './auth.js';
import type { DialectContext } from './context.js';
import { jsonBody } from './request.js';

const PAGE = 50;
const MAX_PAGE = 200;
const MAX_AMOUNT = 1_000_000_000_000;

const credits = (a: Account): JsonObject => ({ balance: a.balance, held: a.held, used: a.used });

/** Owner routes, mounted at /v1/account. */
export function accountPlugin(ctx: DialectContext, ledger: LedgerStore) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', authenticate(ctx));
    app.get('/balance', async (req) => credits(await ledger.account(ownerOf(req).account.id)));

    app.get('/ledger', async (req) => {
      const owner = ownerOf(req);
      const { before, limit } = page(req);
      const items = await ledger.entries(owner.account.id, { before, limit: limit + 1 });
      const shown = items.slice(0, limit);
      const last = shown.at(-1);
      return { items: shown.map(ledgerEntryView), count: shown.length, next_before: items.length > limit && last ? last.seq : null };
    });
  };
}

const notFound = (id: string): GatewayError => new GatewayError('not_found', `Account ${id} not found`);

/** Operator routes, mounted at /admin/accounts. */
export function adminAccountsPlugin(ctx: DialectContext, ledger: LedgerStore) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', async (req) => requireAdmin(req, ctx.tokens));
    const known = async (id: string) => {
      const account = await ctx.tokens.getAccount(id);
      if (!account) throw notFound(id);
      return account;
    };

    app.post('/', async (req, reply) => {
      const body = jsonBody(req);
      const name = requireName(body);
      const account = await ctx.tokens.createAccount({ ...accountPatchOf(body, ACCOUNT_FIELDS), name });
      req.log.info({ account_id: account.id }, 'account created');
      return reply.code(201).send(accountView(account, await ledger.account(account.id)));
    });

    app.get('/', async () => {
      const accounts = await ctx.tokens.listAccounts();
      const items = await Promise.all(accounts.map(async (a) => accountView(a, await ledger.account(a.id))));
      return { items, count: items.length };
    });

    app.get<{ Params: { id: string } }>('/:id', async (req) => {
      const account = await known(req.params.id);
      return accountView(account, await ledger.account(account.id));
    });

    app.patch<{ Params: { id: string } }>('/:id', async (req) => {
      const patch = accountPatchOf(jsonBody(req), [...ACCOUNT_FIELDS, 'disabled']);
      if (Object.keys(patch).length === 0) throw new GatewayError('bad_request', 'Nothing to update');
      const account = await ctx.tokens.updateAccount(req.params.id, patch);
      if (!account) throw notFound(req.params.id);
      req.log.info({ account_id: account.id, fields: Object.keys(patch) }, 'account updated');
      return accountView(account, await ledger.account(account.id));
    });

    app.get<{ Params: { id: string } }>('/:id/tokens', async (req) => {
      await known(req.params.id);
      const items = (await ctx.tokens.list(req.params.id)).map(tokenView);
      return { items, count: items.length };
    });

    app.post<{ Params: { id: string } }>('/:id/tokens', async (req, reply) => {
      const body = jsonBody(req);
      const name = requireName(body);
      const { name: _name, ...settings } = tokenPatchOf(body, TOKEN_FIELDS);
      const { record, token } = await ctx.tokens.create(name, settings, { accountId: req.params.id });
      req.log.info({ token_id: record.id, account_id: record.accountId }, 'token created');
      return reply.code(201).send({ ...tokenView(record), token });
    });

    for (const kind of ['topup', 'adjust'] as const) {
      app.post<{ Params: { id: string } }>(`/:id/${kind}`, async (req) => {
        const { amount, reason } = jsonBody(req);
        const valid = typeof amount === 'number' && Number.isInteger(amount) && Math.abs(amount) <= MAX_AMOUNT && (kind === 'adjust' ? amount !== 0 : amount > 0);
        if (!valid) throw new GatewayError('bad_request', `Field amount must be ${kind === 'topup' ? 'a positive' : 'a non-zero'} integer of credits`);
        if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 500) {
          throw new GatewayError('bad_request', 'Field reason must be a non-empty string of at most 500 characters');
        }
        const account = await known(req.params.id);
        const after = await ledger.credit(account.id, amount, kind, reason.trim(), ctx.tasks.now());
        req.log.info({ account_id: account.id, kind, amount }, 'credits changed');
        return accountView(account, after);
      });
    }
  };
}

function page(req: FastifyRequest): { before?: number; limit: number } {
  const q = isJsonObject(req.query) ? req.query : {};
  const limit = q.limit === undefined ? PAGE : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new GatewayError('bad_request', `limit must be an integer from 1 to ${MAX_PAGE}`);
  if (q.before === undefined) return { limit };
  const before = Number(q.before);
  if (!Number.isInteger(before) || before < 1) throw new GatewayError('bad_request', 'before must be a positive integer (a ledger seq)');
  return { before, limit };
}
