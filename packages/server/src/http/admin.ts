/**
 * The admin API: tokens (and, when a token is created without an account, the account made for
 * it) and relay channels, behind the admin token. Account routes are in accounts-api.ts. Errors
 * use the task API envelope.
 */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../core/errors.js';
import { requireAdmin } from './auth.js';
import type { ChannelView } from '../dispatch/channels.js';
import type { DialectContext } from './context.js';
import { accountPatchOf, requireName, TOKEN_FIELDS, tokenPatchOf, tokenView } from './admin-views.js';
import { jsonBody } from './request.js';

const notFound = (id: string): GatewayError => new GatewayError('not_found', `Token ${id} not found`);

export interface AdminExtras {
  /** Relay channels with their health and caps (the operator's view: names and errors shown). */
  channels?: () => Promise<ChannelView[]>;
}

export function adminPlugin(ctx: DialectContext, extras: AdminExtras = {}) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', async (req) => requireAdmin(req, ctx.tokens));

    app.get('/channels', async () => {
      const items = extras.channels ? await extras.channels() : [];
      return { items, count: items.length };
    });

    // A token of an existing account (`account_id`), or of a new account made for it (named
    // after the token; `max_concurrency` then sets that account's cap, as it did before accounts).
    app.post('/tokens', async (req, reply) => {
      const { account_id: accountId, max_concurrency: cap, ...body } = jsonBody(req);
      const name = requireName(body);
      if (accountId !== undefined && typeof accountId !== 'string') throw new GatewayError('bad_request', 'Field account_id must be a string');
      // With an existing account, max_concurrency is refused like any field a token does not have.
      if (typeof accountId === 'string' && cap !== undefined) tokenPatchOf({ max_concurrency: cap }, TOKEN_FIELDS);
      const where = typeof accountId === 'string'
        ? { accountId }
        : { account: cap === undefined ? {} : accountPatchOf({ max_concurrency: cap }, ['max_concurrency']) };
      const { name: _name, ...settings } = tokenPatchOf(body, TOKEN_FIELDS);
      const { record, token } = await ctx.tokens.create(name, settings, where);
      req.log.info({ token_id: record.id, account_id: record.accountId }, 'token created');
      return reply.code(201).send({ ...tokenView(record), token });
    });

    app.get('/tokens', async () => {
      const items = (await ctx.tokens.list()).map(tokenView);
      return { items, count: items.length };
    });

    app.get<{ Params: { id: string } }>('/tokens/:id', async (req) => {
      const record = await ctx.tokens.get(req.params.id);
      if (!record) throw notFound(req.params.id);
      return tokenView(record);
    });

    app.patch<{ Params: { id: string } }>('/tokens/:id', async (req) => {
      const patch = tokenPatchOf(jsonBody(req), [...TOKEN_FIELDS, 'disabled']);
      if (Object.keys(patch).length === 0) throw new GatewayError('bad_request', 'Nothing to update');
      const record = await ctx.tokens.update(req.params.id, patch);
      if (!record) throw notFound(req.params.id);
      req.log.info({ token_id: record.id, fields: Object.keys(patch) }, 'token updated');
      return tokenView(record);
    });

    app.post<{ Params: { id: string } }>('/tokens/:id/disable', async (req) => {
      const record = await ctx.tokens.disable(req.params.id);
      if (!record) throw notFound(req.params.id);
      req.log.info({ token_id: record.id }, 'token disabled');
      return tokenView(record);
    });

    // A new secret for the same token (same id, account and settings); the old one stops at once.
    app.post<{ Params: { id: string } }>('/tokens/:id/rotate', async (req) => {
      const rotated = await ctx.tokens.rotate(req.params.id);
      if (!rotated) throw notFound(req.params.id);
      req.log.info({ token_id: rotated.record.id }, 'token rotated');
      return { ...tokenView(rotated.record), token: rotated.token };
    });

    app.delete<{ Params: { id: string } }>('/tokens/:id', async (req) => {
      if (!(await ctx.tokens.delete(req.params.id))) throw notFound(req.params.id);
      req.log.info({ token_id: req.params.id }, 'token deleted');
      return { id: req.params.id, deleted: true };
    });
  };
}
