/** The admin API: token management, behind the admin token. Errors use the task API envelope. */
import type { FastifyInstance } from 'fastify';
import type { TokenRecord } from '../accounts/tokens.js';
import { GatewayError } from '../core/errors.js';
import { requireAdmin } from './auth.js';
import type { DialectContext } from './context.js';
import { jsonBody } from './request.js';

const view = (t: TokenRecord) => ({ id: t.id, name: t.name, created_at: new Date(t.createdAt).toISOString() });

export function adminPlugin(ctx: DialectContext) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', async (req) => requireAdmin(req, ctx.tokens));

    app.post('/tokens', async (req, reply) => {
      const { name } = jsonBody(req);
      if (typeof name !== 'string' || name.trim() === '' || name.length > 200) {
        throw new GatewayError('bad_request', 'Field name must be a non-empty string of at most 200 characters');
      }
      const { record, token } = await ctx.tokens.create(name.trim());
      req.log.info({ token_id: record.id }, 'token created');
      return reply.code(201).send({ ...view(record), token });
    });

    app.get('/tokens', async () => {
      const items = (await ctx.tokens.list()).map(view);
      return { items, count: items.length };
    });

    app.delete<{ Params: { id: string } }>('/tokens/:id', async (req) => {
      if (!(await ctx.tokens.delete(req.params.id))) throw new GatewayError('not_found', `Token ${req.params.id} not found`);
      req.log.info({ token_id: req.params.id }, 'token deleted');
      return { id: req.params.id, deleted: true };
    });
  };
}
