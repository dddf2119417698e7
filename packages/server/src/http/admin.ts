/** The admin API: token management, behind the admin token. Errors use the task API envelope. */
import type { FastifyInstance } from 'fastify';
import { checkServicePatterns, parseExpiry, type TokenPatch, type TokenRecord } from '../accounts/tokens.js';
import { GatewayError } from '../core/errors.js';
import type { JsonObject } from '../core/types.js';
import { requireAdmin } from './auth.js';
import type { ChannelView } from '../dispatch/channels.js';
import type { DialectContext } from './context.js';
import { jsonBody } from './request.js';

/** A token as the admin API shows it: never the token itself nor its hash. */
const view = (t: TokenRecord) => ({
  id: t.id,
  name: t.name,
  created_at: new Date(t.createdAt).toISOString(),
  allowed_services: t.allowedServices,
  expires_at: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
  disabled: t.disabled,
  rate_limit_rps: t.rateLimitRps,
  max_concurrency: t.maxConcurrency,
});

const SETTINGS = ['name', 'allowed_services', 'expires_at', 'rate_limit_rps', 'max_concurrency'] as const;

/**
 * The body's token fields as a patch (values are checked by TokenService; these two are parsed
 * here from their wire forms). Unknown fields are refused, so a typo never goes unnoticed.
 */
function patchOf(body: JsonObject, allowed: readonly string[]): TokenPatch {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new GatewayError('bad_request', `Unknown field(s): ${unknown.join(', ')}; expected ${allowed.join(', ')}`);
  }
  const patch: TokenPatch = {};
  if ('name' in body) patch.name = body.name as string;
  if ('allowed_services' in body) patch.allowedServices = checkServicePatterns(body.allowed_services);
  if ('expires_at' in body) patch.expiresAt = parseExpiry(body.expires_at);
  if ('rate_limit_rps' in body) patch.rateLimitRps = body.rate_limit_rps as number | null;
  if ('max_concurrency' in body) patch.maxConcurrency = body.max_concurrency as number | null;
  if ('disabled' in body) patch.disabled = body.disabled as boolean;
  return patch;
}

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

    app.post('/tokens', async (req, reply) => {
      const body = jsonBody(req);
      if (typeof body.name !== 'string') {
        throw new GatewayError('bad_request', 'Field name must be a non-empty string of at most 200 characters');
      }
      const { name, ...settings } = patchOf(body, SETTINGS);
      const { record, token } = await ctx.tokens.create(name ?? '', settings);
      req.log.info({ token_id: record.id }, 'token created');
      return reply.code(201).send({ ...view(record), token });
    });

    app.get('/tokens', async () => {
      const items = (await ctx.tokens.list()).map(view);
      return { items, count: items.length };
    });

    app.get<{ Params: { id: string } }>('/tokens/:id', async (req) => {
      const record = await ctx.tokens.get(req.params.id);
      if (!record) throw notFound(req.params.id);
      return view(record);
    });

    app.patch<{ Params: { id: string } }>('/tokens/:id', async (req) => {
      const patch = patchOf(jsonBody(req), [...SETTINGS, 'disabled']);
      if (Object.keys(patch).length === 0) throw new GatewayError('bad_request', 'Nothing to update');
      const record = await ctx.tokens.update(req.params.id, patch);
      if (!record) throw notFound(req.params.id);
      req.log.info({ token_id: record.id, fields: Object.keys(patch) }, 'token updated');
      return view(record);
    });

    app.post<{ Params: { id: string } }>('/tokens/:id/disable', async (req) => {
      const record = await ctx.tokens.disable(req.params.id);
      if (!record) throw notFound(req.params.id);
      req.log.info({ token_id: record.id }, 'token disabled');
      return view(record);
    });

    app.delete<{ Params: { id: string } }>('/tokens/:id', async (req) => {
      if (!(await ctx.tokens.delete(req.params.id))) throw notFound(req.params.id);
      req.log.info({ token_id: req.params.id }, 'token deleted');
      return { id: req.params.id, deleted: true };
    });
  };
}
