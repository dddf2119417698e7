/** Checks of account and token settings as the admin API and the CLI receive them (`bad_request`). */
import { GatewayError } from '../core/errors.js';
import type { AccountPatch, TokenPatch, TokenRecord } from './records.js';

export const ALL_SERVICES = '*';
const MAX_PATTERNS = 100;
const PATTERN = /^[A-Za-z0-9._\-/*]{1,200}$/;

/** Validates allowed-service patterns (throws `bad_request`); duplicates are dropped. */
export function checkServicePatterns(value: unknown, field = 'allowed_services'): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_PATTERNS) {
    throw new GatewayError('bad_request', `Field ${field} must be a non-empty array of at most ${MAX_PATTERNS} patterns`);
  }
  for (const p of value) {
    if (typeof p !== 'string' || !PATTERN.test(p)) {
      throw new GatewayError(
        'bad_request',
        `Field ${field}: ${JSON.stringify(p)} is not a service pattern (letters, digits, . _ - / and * as a wildcard)`,
      );
    }
  }
  return [...new Set(value as string[])];
}

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,3})?)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

/** An ISO 8601 date-time (with a time zone) as Unix ms, or null; throws `bad_request`. */
export function parseExpiry(value: unknown, field = 'expires_at'): number | null {
  if (value === null) return null;
  const m = typeof value === 'string' ? ISO_DATE_TIME.exec(value) : null;
  // Date.parse rolls 2030-02-31 over to March: the calendar day must exist as written.
  const [y, mo, d] = (m?.slice(1, 4) ?? []).map(Number) as [number, number, number];
  const day = m ? new Date(Date.UTC(y, mo - 1, d)) : null;
  if (!m || !day || day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) {
    throw new GatewayError('bad_request', `Field ${field} must be an ISO 8601 date-time with a time zone (e.g. 2030-01-01T00:00:00Z) or null`);
  }
  return Date.parse(m[0]);
}

/** A positive integer limit or null; throws `bad_request`. */
export function checkLimit(value: unknown, field: string): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new GatewayError('bad_request', `Field ${field} must be a positive integer or null`);
  }
  return value;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '' || name.length > 200) {
    throw new GatewayError('bad_request', 'Field name must be a non-empty string of at most 200 characters');
  }
  return name.trim();
}

function checkFlag(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new GatewayError('bad_request', `Field ${field} must be a boolean`);
  return value;
}

/** Validates the fields present in a token patch (throws `bad_request`); absent fields stay absent. */
export function checkTokenPatch(patch: TokenPatch): TokenPatch {
  const out: TokenPatch = {};
  if (patch.name !== undefined) out.name = checkName(patch.name);
  if (patch.allowedServices !== undefined) out.allowedServices = checkServicePatterns(patch.allowedServices);
  if (patch.expiresAt !== undefined) {
    if (patch.expiresAt !== null && !Number.isSafeInteger(patch.expiresAt)) {
      throw new GatewayError('bad_request', 'expires_at must be a time or null');
    }
    out.expiresAt = patch.expiresAt;
  }
  if (patch.rateLimitRps !== undefined) out.rateLimitRps = checkLimit(patch.rateLimitRps, 'rate_limit_rps');
  if (patch.disabled !== undefined) out.disabled = checkFlag(patch.disabled, 'disabled');
  return out;
}

/** Validates the fields present in an account patch (throws `bad_request`). */
export function checkAccountPatch(patch: AccountPatch): AccountPatch {
  const out: AccountPatch = {};
  if (patch.name !== undefined) out.name = checkName(patch.name);
  if (patch.rateLimitRps !== undefined) out.rateLimitRps = checkLimit(patch.rateLimitRps, 'rate_limit_rps');
  if (patch.maxConcurrency !== undefined) out.maxConcurrency = checkLimit(patch.maxConcurrency, 'max_concurrency');
  if (patch.disabled !== undefined) out.disabled = checkFlag(patch.disabled, 'disabled');
  return out;
}

function globToRegExp(pattern: string): RegExp {
  // Patterns hold only letters, digits, `. _ - /` and `*` (checkServicePatterns): `.` is the one to escape.
  const body = pattern.split('*').map((part) => part.replaceAll('.', '\\.')).join('.*');
  return new RegExp(`^${body}$`);
}

const compiled = new Map<string, RegExp>();

/** Whether one of the token's patterns covers the service (`*` matches any run of characters). */
export function serviceAllowed(record: Pick<TokenRecord, 'allowedServices'>, service: string): boolean {
  return record.allowedServices.some((p) => {
    if (p === ALL_SERVICES) return true;
    let re = compiled.get(p);
    if (!re) {
      re = globToRegExp(p);
      if (compiled.size < 10_000) compiled.set(p, re);
    }
    return re.test(service);
  });
}
