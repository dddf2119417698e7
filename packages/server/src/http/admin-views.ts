/**
 * Accounts and tokens as the admin API shows them (never a token itself nor its hash), and the
 * admin bodies parsed into patches. Unknown fields are refused, so a typo never goes unnoticed.
 */
import type { AccountPatch, AccountRecord, TokenPatch, TokenRecord } from '../accounts/records.js';
import { checkServicePatterns, parseExpiry } from '../accounts/validate.js';
import { GatewayError } from '../core/errors.js';
import type { Account } from '../core/ports.js';
import type { JsonObject } from '../core/types.js';

/** A stored time (Unix ms) as the API shows it: ISO 8601, or null. */
export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export const tokenView = (t: TokenRecord): JsonObject => ({
  id: t.id,
  account_id: t.accountId,
  name: t.name,
  created_at: iso(t.createdAt),
  allowed_services: t.allowedServices,
  expires_at: iso(t.expiresAt),
  disabled: t.disabled,
  rate_limit_rps: t.rateLimitRps,
});

export const accountView = (a: AccountRecord, credits?: Account): JsonObject => ({
  id: a.id,
  name: a.name,
  created_at: iso(a.createdAt),
  disabled: a.disabled,
  rate_limit_rps: a.rateLimitRps,
  max_concurrency: a.maxConcurrency,
  ...(credits ? { balance: credits.balance, held: credits.held, used: credits.used } : {}),
});

function refuseUnknown(body: JsonObject, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length === 0) return;
  const moved = unknown.includes('max_concurrency') && !allowed.includes('max_concurrency');
  throw new GatewayError(
    'bad_request',
    moved
      ? 'max_concurrency is a setting of the account (all its tokens share it): PATCH /admin/accounts/{account_id}'
      : `Unknown field(s): ${unknown.join(', ')}; expected ${allowed.join(', ')}`,
  );
}

export const TOKEN_FIELDS = ['name', 'allowed_services', 'expires_at', 'rate_limit_rps'] as const;
export const ACCOUNT_FIELDS = ['name', 'rate_limit_rps', 'max_concurrency'] as const;

/** A token body as a patch (values are checked by TokenService; these two are parsed from their wire forms). */
export function tokenPatchOf(body: JsonObject, allowed: readonly string[]): TokenPatch {
  refuseUnknown(body, allowed);
  const patch: TokenPatch = {};
  if ('name' in body) patch.name = body.name as string;
  if ('allowed_services' in body) patch.allowedServices = checkServicePatterns(body.allowed_services);
  if ('expires_at' in body) patch.expiresAt = parseExpiry(body.expires_at);
  if ('rate_limit_rps' in body) patch.rateLimitRps = body.rate_limit_rps as number | null;
  if ('disabled' in body) patch.disabled = body.disabled as boolean;
  return patch;
}

/** An account body as a patch (values are checked by TokenService). */
export function accountPatchOf(body: JsonObject, allowed: readonly string[]): AccountPatch {
  refuseUnknown(body, allowed);
  const patch: AccountPatch = {};
  if ('name' in body) patch.name = body.name as string;
  if ('rate_limit_rps' in body) patch.rateLimitRps = body.rate_limit_rps as number | null;
  if ('max_concurrency' in body) patch.maxConcurrency = body.max_concurrency as number | null;
  if ('disabled' in body) patch.disabled = body.disabled as boolean;
  return patch;
}

/** `name` must be present on a create. */
export function requireName(body: JsonObject): string {
  if (typeof body.name !== 'string') {
    throw new GatewayError('bad_request', 'Field name must be a non-empty string of at most 200 characters');
  }
  return body.name;
}
