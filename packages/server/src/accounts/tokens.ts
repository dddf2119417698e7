/**
 * API tokens: created with a name, shown once, stored only as a SHA-256 hash. A token owns the
 * tasks it creates. The admin token (for /admin) is kept apart in settings, hashed as well.
 * Scopes, expiry, disabling and limits arrive with the accounts issue.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

export interface TokenRecord {
  id: string;
  name: string;
  createdAt: number;
}

/** Token persistence (async, like TaskStore, so a network driver fits the same contract). */
export interface TokenStore {
  insertToken(rec: TokenRecord & { hash: string }): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | null>;
  listTokens(): Promise<TokenRecord[]>;
  deleteToken(id: string): Promise<boolean>;
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
}

export interface TokenServiceOptions {
  now?: () => number;
  /**
   * How long an authenticated token is remembered in memory (default 10 s). Deleting a token
   * through this service forgets it at once; the TTL bounds how long a token deleted by another
   * process keeps working here.
   */
  cacheTtlMs?: number;
  /** Most tokens remembered at once (oldest forgotten first). */
  cacheSize?: number;
}

interface CacheEntry {
  record: TokenRecord;
  expiresAt: number;
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

  /** Creates a token; the plain token is returned here and never again. */
  async create(name: string): Promise<{ record: TokenRecord; token: string }> {
    const token = newSecret('tg');
    const record: TokenRecord = { id: randomUUID(), name, createdAt: this.now() };
    await this.store.insertToken({ ...record, hash: hashToken(token) });
    return { record, token };
  }

  /** The token's record, or null if it is unknown or deleted. */
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

  list(): Promise<TokenRecord[]> {
    return this.store.listTokens();
  }

  async delete(id: string): Promise<boolean> {
    for (const [token, entry] of this.cache) if (entry.record.id === id) this.cache.delete(token);
    return this.store.deleteToken(id);
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
