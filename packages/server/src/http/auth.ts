/**
 * Authenticates a request's token: `no_token` when absent, `invalid_token` when unknown,
 * `disabled` when disabled, `token_expired` when past its expiry; `admitCreate` adds the checks
 * of a create (service patterns → `token_mismatched`, the service's rate budget).
 */
import type { FastifyRequest } from 'fastify';
import type { RateLimits } from '../accounts/rate-limits.js';
import { serviceAllowed, type Principal, type TokenService } from '../accounts/tokens.js';
import { GatewayError } from '../core/errors.js';
import { bearerToken } from './request.js';

/** What authentication needs: the tokens, and the per-token request budget if there is one. */
export interface AuthContext {
  tokens: TokenService;
  rateLimiter?: RateLimits | undefined;
}

const owners = new WeakMap<FastifyRequest, Principal>();

/**
 * The `onRequest` hook of every authenticated route: it runs before the body is read, so nobody
 * without a valid token gets a body parsed, buffered or waited for (the gateway closes such a
 * connection as soon as it has answered). Install it on the whole plugin
 * (`app.addHook('onRequest', authenticate(ctx))`), then read who is asking with `ownerOf(req)`
 * (`.account.id` owns what the request creates and reads).
 */
export function authenticate(ctx: AuthContext): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    owners.set(req, await requireToken(req, ctx));
  };
}

/** The token (and its account) `authenticate` admitted for this request. */
export function ownerOf(req: FastifyRequest): Principal {
  const owner = owners.get(req);
  if (!owner) throw new GatewayError('api_error', 'Request was not authenticated');
  return owner;
}

/** Authenticates the request's token and counts the request against its (and its account's) rate limits. */
export async function requireToken(req: FastifyRequest, { tokens, rateLimiter }: AuthContext): Promise<Principal> {
  const token = bearerToken(req);
  if (token === null) throw new GatewayError('no_token');
  const principal = await tokens.authenticate(token);
  if (!principal) throw new GatewayError('invalid_token');
  if (principal.token.disabled) throw new GatewayError('disabled', 'This token is disabled');
  if (principal.account.disabled) throw new GatewayError('disabled', 'This account is disabled');
  if (tokens.isExpired(principal.token)) throw new GatewayError('token_expired', 'This token has expired');
  await rateLimiter?.request(principal);
  return principal;
}

/**
 * The checks of every create, once the token is authenticated: its service patterns must cover
 * `service` (`token_mismatched`), and the create counts against that service's per-token budget
 * (`too_many_requests`).
 */
export async function admitCreate(ctx: AuthContext, principal: Principal, service: string): Promise<Principal> {
  if (!serviceAllowed(principal.token, service)) {
    throw new GatewayError('token_mismatched', `This token is not allowed to use service ${service}`);
  }
  await ctx.rateLimiter?.create(principal, service);
  return principal;
}

export async function requireAdmin(req: FastifyRequest, tokens: TokenService): Promise<void> {
  const token = bearerToken(req);
  if (token === null) throw new GatewayError('no_token');
  if (!(await tokens.isAdmin(token))) throw new GatewayError('invalid_token', 'The admin token is invalid or wrong.');
}
