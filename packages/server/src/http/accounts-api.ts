/**
 * Credits: the token owner reads its balance and ledger (`/v1/account`); the operator tops up and
 * adjusts (`/admin/accounts/{tokenId}`, admin token). Errors use the task API envelope.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import type { Account, LedgerEntry, LedgerStore } from '../core/ports.js';
import { isJsonObject, type JsonObject } from '../core/types.js';
import { authenticate, ownerOf, requireAdmin } from './auth.js';
import type { DialectContext } from './context.js';
import { jsonBody } from './request.js';

const PAGE = 50;
const MAX_PAGE = 200;
const MAX_AMOUNT = 1_000_000_000_000;

const account = (a: Account): JsonObject => ({ balance: a.balance, held: a.held, used: a.used });
const entry = (e: LedgerEntry): JsonObject => ({
  seq: e.seq, kind: e.kind, amount: e.amount, task_id: e.taskId, reason: e.reason, at: new Date(e.at).toISOString(),
});

/** Owner routes, mounted at /v1/account. */
export function accountPlugin(ctx: DialectContext, ledger: LedgerStore) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', authenticate(ctx));
    app.get('/balance', async (req) => account(await ledger.account(ownerOf(req).id)));

    app.get('/ledger', async (req) => {
      const owner = ownerOf(req);
      const { before, limit } = page(req);
      const items = await ledger.entries(owner.id, { before, limit: limit + 1 });
      const shown = items.slice(0, limit);
      const last = shown.at(-1);
      return { items: shown.map(entry), count: shown.length, next_before: items.length > limit && last ? last.seq : null };
    });
  };
}

/** Operator routes, mounted at /admin/accounts. */
export function adminAccountsPlugin(ctx: DialectContext, ledger: LedgerStore) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', async (req) => requireAdmin(req, ctx.tokens));

    app.get<{ Params: { id: string } }>('/:id', async (req) => ({ token_id: req.params.id, ...account(await ledger.account(req.params.id)) }));

    for (const kind of ['topup', 'adjust'] as const) {
      app.post<{ Params: { id: string } }>(`/:id/${kind}`, async (req) => {
        const { amount, reason } = jsonBody(req);
        const valid = typeof amount === 'number' && Number.isInteger(amount) && Math.abs(amount) <= MAX_AMOUNT && (kind === 'adjust' ? amount !== 0 : amount > 0);
        if (!valid) throw new GatewayError('bad_request', `Field amount must be ${kind === 'topup' ? 'a positive' : 'a non-zero'} integer of credits`);
        if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 500) {
          throw new GatewayError('bad_request', 'Field reason must be a non-empty string of at most 500 characters');
        }
        const known = (await ctx.tokens.list()).some((t) => t.id === req.params.id);
        if (!known) throw new GatewayError('not_found', `Token ${req.params.id} not found`);
        const after = await ledger.credit(req.params.id, amount, kind, reason.trim(), ctx.tasks.now());
        req.log.info({ token_id: req.params.id, kind, amount }, 'credits changed');
        return { token_id: req.params.id, ...account(after) };
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
