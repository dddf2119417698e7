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

export interface TokenStore {
  insertToken(rec: TokenRecord & { hash: string }): void;
  findTokenByHash(hash: string): TokenRecord | null;
  listTokens(): TokenRecord[];
  deleteToken(id: string): boolean;
  getSetting(key: string): string | null;
  setSetting(key: string, value: string): void;
}

const ADMIN_HASH_KEY = 'admin_token_hash';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

export class TokenService {
  constructor(
    private readonly store: TokenStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates a token; the plain token is returned here and never again. */
  create(name: string): { record: TokenRecord; token: string } {
    const token = newSecret('tg');
    const record: TokenRecord = { id: randomUUID(), name, createdAt: this.now() };
    this.store.insertToken({ ...record, hash: hashToken(token) });
    return { record, token };
  }

  /** The token's record, or null if it is unknown or deleted. */
  authenticate(token: string): TokenRecord | null {
    if (token.length === 0 || token.length > 512) return null;
    return this.store.findTokenByHash(hashToken(token));
  }

  list(): TokenRecord[] {
    return this.store.listTokens();
  }

  delete(id: string): boolean {
    return this.store.deleteToken(id);
  }

  /**
   * Makes sure an admin token exists. With `fromEnv` that token is the admin token (its hash is
   * stored, replacing any earlier one). Without it, a token is generated on first start only and
   * returned so the caller can print it once; later starts return null.
   */
  ensureAdmin(fromEnv: string | undefined): { generated: string | null } {
    if (fromEnv) {
      this.store.setSetting(ADMIN_HASH_KEY, hashToken(fromEnv));
      return { generated: null };
    }
    if (this.store.getSetting(ADMIN_HASH_KEY)) return { generated: null };
    return { generated: this.resetAdmin() };
  }

  /** Generates a new admin token, replacing the old one; returns it (shown once). */
  resetAdmin(): string {
    const token = newSecret('tga');
    this.store.setSetting(ADMIN_HASH_KEY, hashToken(token));
    return token;
  }

  isAdmin(token: string): boolean {
    const stored = this.store.getSetting(ADMIN_HASH_KEY);
    if (!stored || token.length === 0) return false;
    return timingSafeEqual(Buffer.from(hashToken(token), 'hex'), Buffer.from(stored, 'hex'));
  }
}
