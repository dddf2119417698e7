/**
 * API tokens: created with a name, shown once, stored only as a SHA-256 hash. A token owns the
 * tasks it creates. The admin token (for /admin) is kept apart in settings, hashed as well.
 * A token is scoped to services (glob patterns over service names, `*` = all), may expire, may be
 * disabled, and may carry its own rate-limit and concurrency overrides.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../core/errors.js';

export interface TokenRecord {
  id: string;
  name: string;
  createdAt: number;
  /** Glob patterns over service names (`midjourney/*`, `flux/dev`, `*`); at least one. */
  allowedServices: string[];
  /** Unix ms after which the token answers `token_expired`; null = never. */
  expiresAt: number | null;
  disabled: boolean;
  /** The token's own requests per second; null = the gateway's default. */
  rateLimitRps: number | null;
  /** The token's own limit of running tasks; null = the gateway's default. */
  maxConcurrency: number | null;
}

/** What can be set when a token is created. */
export interface TokenSettings {
  allowedServices?: string[];
  expiresAt?: number | null;
  rateLimitRps?: number | null;
  maxConcurrency?: number | null;
}

/** What can be changed afterwards. */
export interface TokenPatch extends TokenSettings {
  name?: string;
  disabled?: boolean;
}

/** Token persistence (async, like TaskStore, so a network driver fits the same contract). */
export interface TokenStore {
  insertToken(rec: TokenRecord & { hash: string }): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | null>;
  getToken(id: string): Promise<TokenRecord | null>;
  listTokens(): Promise<TokenRecord[]>;
  /** Applies the fields present in `patch`; the updated record, or null if there is no such token. */
  updateToken(id: string, patch: TokenPatch): Promise<TokenRecord | null>;
  deleteToken(id: string): Promise<boolean>;
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
}

export interface TokenServiceOptions {
  now?: () => number;
  /**
   * How long an authenticated token is remembered in memory (default 10 s). Updating, disabling
   * or deleting a token through this service forgets it at once; the TTL bounds how long a change
   * made by another process takes to apply here. Expiry is checked on every request regardless.
   */
  cacheTtlMs?: number;
  /** Most tokens remembered at once (oldest forgotten first). */
  cacheSize?: number;
}

interface CacheEntry {
  record: TokenRecord;
  expiresAt: number;
}

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

/** Validates the fields present in a patch (throws `bad_request`); absent fields stay absent. */
function checkPatch(patch: TokenPatch): TokenPatch {
  const out: TokenPatch = {};
  if (patch.name !== undefined) {
    if (typeof patch.name !== 'string' || patch.name.trim() === '' || patch.name.length > 200) {
      throw new GatewayError('bad_request', 'Field name must be a non-empty string of at most 200 characters');
    }
    out.name = patch.name.trim();
  }
  if (patch.allowedServices !== undefined) out.allowedServices = checkServicePatterns(patch.allowedServices);
  if (patch.expiresAt !== undefined) {
    if (patch.expiresAt !== null && !Number.isSafeInteger(patch.expiresAt)) {
      throw new GatewayError('bad_request', 'expires_at must be a time or null');
    }
    out.expiresAt = patch.expiresAt;
  }
  if (patch.rateLimitRps !== undefined) out.rateLimitRps = checkLimit(patch.rateLimitRps, 'rate_limit_rps');
  if (patch.maxConcurrency !== undefined) out.maxConcurrency = checkLimit(patch.maxConcurrency, 'max_concurrency');
  if (patch.disabled !== undefined) {
    if (typeof patch.disabled !== 'boolean') throw new GatewayError('bad_request', 'Field disabled must be a boolean');
    out.disabled = patch.disabled;
  }
  return out;
}

const ADMIN_HASH_KEY = 'admin_token_hash';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

export class TokenService {
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly cacheSize: number;
  /** Authenticated tokens by the token itself (memory only; never persisted). */
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly store: TokenStore,
    opts: TokenServiceOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.cacheTtlMs ?? 10_000;
    this.cacheSize = opts.cacheSize ?? 10_000;
  }

  /** Creates a token; the plain token is returned here and never again. Throws `bad_request` on bad settings. */
  async create(name: string, settings: TokenSettings = {}): Promise<{ record: TokenRecord; token: string }> {
    const s = checkPatch({ ...settings, name });
    const token = newSecret('tg');
    const record: TokenRecord = {
      id: randomUUID(),
      name: s.name ?? name,
      createdAt: this.now(),
      allowedServices: s.allowedServices ?? [ALL_SERVICES],
      expiresAt: s.expiresAt ?? null,
      disabled: false,
      rateLimitRps: s.rateLimitRps ?? null,
      maxConcurrency: s.maxConcurrency ?? null,
    };
    await this.store.insertToken({ ...record, hash: hashToken(token) });
    return { record, token };
  }

  /**
   * The token's record (disabled and expired ones included: see `isExpired`), or null if it is
   * unknown or deleted.
   */
  async authenticate(token: string): Promise<TokenRecord | null> {
    if (token.length === 0 || token.length > 512) return null;
    const now = this.now();
    const hit = this.cache.get(token);
    if (hit && hit.expiresAt > now) return hit.record;
    const record = await this.store.findTokenByHash(hashToken(token));
    this.cache.delete(token);
    if (record) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(token, { record, expiresAt: now + this.ttlMs });
    }
    return record;
  }

  /** Whether the token is past its `expiresAt` now (checked on every request, cached or not). */
  isExpired(record: TokenRecord): boolean {
    return record.expiresAt !== null && this.now() >= record.expiresAt;
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.store.getToken(id);
  }

  list(): Promise<TokenRecord[]> {
    return this.store.listTokens();
  }

  /** Changes a token (throws `bad_request` on bad fields); takes effect at once. Null if unknown. */
  async update(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    const checked = checkPatch(patch);
    this.forget(id);
    const record = await this.store.updateToken(id, checked);
    this.forget(id); // a request may have cached the old record while the update was written
    return record;
  }

  disable(id: string): Promise<TokenRecord | null> {
    return this.update(id, { disabled: true });
  }

  async delete(id: string): Promise<boolean> {
    this.forget(id);
    return this.store.deleteToken(id);
  }

  private forget(id: string): void {
    for (const [token, entry] of this.cache) if (entry.record.id === id) this.cache.delete(token);
  }

  /**
   * Makes sure an admin token exists. With `fromEnv` that token is the admin token (its hash is
   * stored, replacing any earlier one). Without it, a token is generated on first start only and
   * returned so the caller can print it once; later starts return null.
   */
  async ensureAdmin(fromEnv: string | undefined): Promise<{ generated: string | null }> {
    if (fromEnv) {
      await this.store.setSetting(ADMIN_HASH_KEY, hashToken(fromEnv));
      return { generated: null };
    }
    if (await this.store.getSetting(ADMIN_HASH_KEY)) return { generated: null };
    return { generated: await this.resetAdmin() };
  }

  /** Generates a new admin token, replacing the old one; returns it (shown once). */
  async resetAdmin(): Promise<string> {
    const token = newSecret('tga');
    await this.store.setSetting(ADMIN_HASH_KEY, hashToken(token));
    return token;
  }

  async isAdmin(token: string): Promise<boolean> {
    const stored = await this.store.getSetting(ADMIN_HASH_KEY);
    if (!stored || token.length === 0) return false;
    return timingSafeEqual(Buffer.from(hashToken(token), 'hex'), Buffer.from(stored, 'hex'));
  }
}
