/** Authenticates a request's token: `no_token` when absent, `invalid_token` when unknown. */
import type { FastifyRequest } from 'fastify';
import type { TokenRecord, TokenService } from '../accounts/tokens.js';
import { GatewayError } from '../core/errors.js';
import { bearerToken } from './request.js';

export function requireToken(req: FastifyRequest, tokens: TokenService): TokenRecord {
  const token = bearerToken(req);
  if (token === null) throw new GatewayError('no_token');
  const record = tokens.authenticate(token);
  if (!record) throw new GatewayError('invalid_token');
  return record;
}

export function requireAdmin(req: FastifyRequest, tokens: TokenService): void {
  const token = bearerToken(req);
  if (token === null) throw new GatewayError('no_token');
  if (!tokens.isAdmin(token)) throw new GatewayError('invalid_token', 'The admin token is invalid or wrong.');
}
