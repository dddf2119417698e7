/**
 * Accounts and their API tokens (see records.ts). A token is created with a name, shown once and
 * stored only as a SHA-256 hash. The admin token (for /admin) is kept apart in settings, hashed
 * as well.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../core/errors.js';
import type { AccountPatch, AccountRecord, AccountStore, Principal, TokenPatch, TokenRecord, TokenSettings } from './records.js';
import { ALL_SERVICES, checkAccountPatch, checkTokenPatch } from './validate.js';

export type { AccountPatch, AccountRecord, AccountStore, Principal, TokenPatch, TokenRecord, TokenSettings } from './records.js';
export { ALL_SERVICES, checkLimit, checkServicePatterns, parseExpiry, serviceAllowed } from './validate.js';

export interface TokenServiceOptions {
  now?: () => number;
  /**
   * How long an authenticated token is remembered in memory (default 10 s). Changing a token or
   * its account through this service forgets it at once, here and (with `announce`) on the other
   * nodes; the TTL bounds how long a change nobody announced (the offline CLI, Redis down) takes
   * to apply here. Expiry is checked on every request regardless.
   */
  cacheTtlMs?: number;
  /** Most tokens remembered at once (oldest forgotten first). */
  cacheSize?: number;
  /**
   * Tells the other gateway nodes that a token or account changed (its id), so they forget it at
   * once instead of after their cache TTL (`forgetById` on their side). Absent: one node.
   */
  announce?: (id: string) => void;
}

/** Where a new token goes: an existing account, or a new one (named after the token unless named here). */
export type TokenAccount = { accountId: string } | { account?: AccountPatch };

interface CacheEntry {
  principal: Principal;
  expiresAt: number;
}

const ADMIN_HASH_KEY = 'admin_token_hash';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

const accountNotFound = (id: string): GatewayError => new GatewayError('not_found', `Account ${id} not found`);

export class TokenService {
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly cacheSize: number;
  private readonly announce: (id: string) => void;
  /** Authenticated tokens by the token itself (memory only; never persisted). */
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly store: AccountStore,
    opts: TokenServiceOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.cacheTtlMs ?? 10_000;
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.announce = opts.announce ?? (() => {});
  }

  /**
   * Forgets the cached tokens with this id, or of the account with this id (another node changed
   * it): the next request with such a token reads it from the store again.
   */
  forgetById(id: string): void {
    this.forget((p) => p.token.id === id || p.account.id === id);
  }

  private newAccount(patch: AccountPatch): AccountRecord {
    const s = checkAccountPatch(patch);
    return {
      id: randomUUID(), name: s.name ?? '', createdAt: this.now(), disabled: s.disabled ?? false,
      rateLimitRps: s.rateLimitRps ?? null, maxConcurrency: s.maxConcurrency ?? null,
    };
  }

  /** Creates an account (no token yet). Throws `bad_request` on bad settings. */
  async createAccount(patch: AccountPatch & { name: string }): Promise<AccountRecord> {
    const account = this.newAccount(patch);
    await this.store.insertAccount(account);
    return account;
  }

  getAccount(id: string): Promise<AccountRecord | null> {
    return this.store.getAccount(id);
  }

  listAccounts(): Promise<AccountRecord[]> {
    return this.store.listAccounts();
  }

  /** Changes an account (throws `bad_request` on bad fields); takes effect at once for all its tokens. */
  async updateAccount(id: string, patch: AccountPatch): Promise<AccountRecord | null> {
    const checked = checkAccountPatch(patch);
    return this.changing(id, () => this.store.updateAccount(id, checked));
  }

  /**
   * Creates a token; the plain token is returned here and never again. It goes to an existing
   * account (`accountId`: `not_found` if there is none) or to a new account made with it (the
   * default). Throws `bad_request` on bad settings.
   */
  async create(name: string, settings: TokenSettings = {}, where: TokenAccount = {}): Promise<{ record: TokenRecord; token: string; account: AccountRecord }> {
    const s = checkTokenPatch({ ...settings, name });
    let account: AccountRecord;
    let created: AccountRecord | undefined;
    if ('accountId' in where) {
      const found = await this.store.getAccount(where.accountId);
      if (!found) throw accountNotFound(where.accountId);
      account = found;
    } else {
      account = created = this.newAccount({ name: s.name ?? name, ...where.account });
    }
    const token = newSecret('tg');
    const record: TokenRecord = {
      id: randomUUID(),
      accountId: account.id,
      name: s.name ?? name,
      createdAt: this.now(),
      allowedServices: s.allowedServices ?? [ALL_SERVICES],
      expiresAt: s.expiresAt ?? null,
      disabled: false,
      rateLimitRps: s.rateLimitRps ?? null,
    };
    await this.store.insertToken({ ...record, hash: hashToken(token) }, created);
    return { record, token, account };
  }

  /**
   * The token and its account (disabled and expired ones included: see `isExpired`), or null if
   * the token is unknown or deleted.
   */
  async authenticate(token: string): Promise<Principal | null> {
    if (token.length === 0 || token.length > 512) return null;
    const now = this.now();
    const hit = this.cache.get(token);
    if (hit && hit.expiresAt > now) return hit.principal;
    const principal = await this.store.findTokenByHash(hashToken(token));
    this.cache.delete(token);
    if (principal) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(token, { principal, expiresAt: now + this.ttlMs });
    }
    return principal;
  }

  /** Whether the token is past its `expiresAt` now (checked on every request, cached or not). */
  isExpired(record: TokenRecord): boolean {
    return record.expiresAt !== null && this.now() >= record.expiresAt;
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.store.getToken(id);
  }

  /** All tokens, or one account's. */
  list(accountId?: string): Promise<TokenRecord[]> {
    return this.store.listTokens(accountId);
  }

  /** Changes a token (throws `bad_request` on bad fields); takes effect at once. Null if unknown. */
  async update(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    const checked = checkTokenPatch(patch);
    return this.changing(id, () => this.store.updateToken(id, checked));
  }

  disable(id: string): Promise<TokenRecord | null> {
    return this.update(id, { disabled: true });
  }

  /**
   * Gives the token a new secret (returned once); the old one stops working at once. The token
   * keeps its id, account and settings. Null if there is no such token.
   */
  async rotate(id: string): Promise<{ record: TokenRecord; token: string } | null> {
    const token = newSecret('tg');
    const record = await this.changing(id, () => this.store.replaceTokenHash(id, hashToken(token)));
    return record ? { record, token } : null;
  }

  /** Deletes a token; its account and everything the account owns stay. */
  delete(id: string): Promise<boolean> {
    return this.changing(id, () => this.store.deleteToken(id));
  }

  /**
   * Writes a change to the token or account `id`: cached tokens it concerns are forgotten before
   * and after the write (a request may have cached the old record meanwhile), here and, through
   * `announce`, on the other nodes.
   */
  private async changing<T>(id: string, write: () => Promise<T>): Promise<T> {
    this.forgetById(id);
    const result = await write();
    this.forgetById(id);
    this.announce(id);
    return result;
  }

  private forget(match: (p: Principal) => boolean): void {
    for (const [token, entry] of this.cache) if (match(entry.principal)) this.cache.delete(token);
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
