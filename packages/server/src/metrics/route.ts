/**
 * `GET /metrics`: the Prometheus exposition text, for the admin token or the metrics token
 * (`metrics.token`, TASKGATE_METRICS_TOKEN), which reads metrics and nothing else. Refusals answer
 * in the task API envelope like the admin API: no token → `no_token`, an unknown token or an
 * ordinary API token → 401 `invalid_token` (saying which tokens are accepted). Not rate limited.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenService } from '../accounts/tokens.js';
import { GatewayError } from '../core/errors.js';
import { bearerToken } from '../http/request.js';
import type { GatewayMetrics } from './metrics.js';

export const METRICS_ROUTE = '/metrics';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Whether `token` may read the metrics; throws the refusal otherwise. */
export async function requireMetricsReader(req: FastifyRequest, tokens: TokenService, metricsToken: string | null): Promise<void> {
  const token = bearerToken(req);
  if (token === null) throw new GatewayError('no_token', 'Missing Authorization header: /metrics needs the admin token or the metrics token');
  // Compared as digests: equal length, constant time, whatever was sent.
  if (metricsToken !== null && timingSafeEqual(digest(token), digest(metricsToken))) return;
  if (await tokens.isAdmin(token)) return;
  if (await tokens.authenticate(token)) {
    throw new GatewayError('invalid_token', 'An API token cannot read metrics: use the admin token or the metrics token (metrics.token, TASKGATE_METRICS_TOKEN)');
  }
  throw new GatewayError('invalid_token', 'The token is invalid or wrong: /metrics needs the admin token or the metrics token');
}

export function metricsPlugin(metrics: GatewayMetrics, tokens: TokenService, metricsToken: string | null) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', async (req) => requireMetricsReader(req, tokens, metricsToken));
    app.get(METRICS_ROUTE, async (_req, reply) => {
      const text = await metrics.scrape();
      return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text);
    });
  };
}
