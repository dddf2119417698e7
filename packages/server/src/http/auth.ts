/** Authenticates a request's token: `no_token` when absent, `invalid_token` when unknown. */
import type { FastifyRequest } from 'fastify';
import type { TokenRecord, TokenService } from '../accounts/tokens.js';
import { GatewayError } from '../core/errors.js';
import { bearerToken } from './request.js';

export async function requireToken(req: FastifyRequest, tokens: TokenService): Promise<TokenRecord> {
  const token = bearerToken(req);
  if (token === null) throw new GatewayError('no_token');
  const record = await tokens.authenticate(token);
  if (!record) throw new GatewayError('invalid_token');
  return record;
}

export async function requireAdmin(req: FastifyRequest, tokens: TokenService): Promise<void> {
  const token = bearerToken(req);
  if (token === null) throw new GatewayError('no_token');
  if (!(await tokens.isAdmin(token))) throw new GatewayError('invalid_token', 'The admin token is invalid or wrong.');
}
