/**
 * Authentication of the dashboard's routes: the same route exists under `/admin` (admin token,
 * every account) and under `/v1/account` (any token of an account, its data only).
 */
import type { FastifyRequest } from 'fastify';
import { authenticate, ownerOf, requireAdmin } from '../auth.js';
import type { DialectContext } from '../context.js';
import type { DashboardScope } from './views.js';

/** Which of the two a plugin is mounted as. */
export type ScopeKind = DashboardScope['kind'];

/** The `onRequest` hook that admits the plugin's requests: the admin token, or an account's token. */
export function scopeHook(ctx: DialectContext, kind: ScopeKind): (req: FastifyRequest) => Promise<void> {
  if (kind === 'account') return authenticate(ctx);
  return (req) => requireAdmin(req, ctx.tokens);
}

/** Whose data this (admitted) request may see. */
export function scopeOf(req: FastifyRequest, kind: ScopeKind): DashboardScope {
  return kind === 'admin' ? { kind: 'admin' } : { kind: 'account', accountId: ownerOf(req).account.id };
}
