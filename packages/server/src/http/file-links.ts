/**
 * Signed, expiring result-file links:
 *   {base}/files/<key>/<name>?exp=<unix s>&kid=<key id>&sig=<base64url HMAC-SHA256>
 * The HMAC covers the path, the expiry and the key id. Every link a dialect or a webhook hands
 * out is signed when it is rendered (a retrieve signs anew), so a link lives `files.urlTtlSeconds`
 * from the read that gave it. Keys are shared by every node: either given in the configuration
 * (`files.signingKeys`, first signs, all verify) or kept in the store's settings (made on first
 * start). `rotate` adds a new store key that signs from then on; the previous ones still verify
 * for `files.keyOverlapSeconds`. Other nodes pick a new key up when a link names a key id they do
 * not know, and at least every REFRESH_MS.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/ports.js';
import type { OutputFile } from '../core/types.js';

const KEYS_SETTING = 'file_url_keys';
const REFRESH_MS = 30_000;
const MISS_RELOAD_MS = 1000;
/** Expiries are rounded up to the minute, so reads within a minute hand out the same link. */
const ROUND_S = 60;

export interface KeyStore {
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
}

interface SigningKey {
  id: string;
  secret: Buffer;
  /** Epoch ms after which it no longer verifies; null: in force. */
  retireAt: number | null;
}

interface StoredKey {
  id: string;
  key: string;
  retireAt: number | null;
}

/** Renders a stored file's absolute, signed URL. */
export type FileLinks = (file: Pick<OutputFile, 'path'>) => string;

export type LinkCheck = { ok: true; maxAgeSeconds: number } | { ok: false; reason: 'unsigned' | 'expired' | 'invalid' };

export interface FileSigningOptions {
  store: KeyStore;
  clock: Clock;
  ttlSeconds: number;
  overlapSeconds: number;
  /** Keys from the configuration; when given, the store keeps none and `rotate` is refused. */
  configured?: ReadonlyArray<{ id: string; secret: string }>;
}

export class FileUrlSigner {
  private keys: SigningKey[] = [];
  private loadedAt = 0;
  private missReloadAt = 0;
  private reloading: Promise<void> | null = null;

  private constructor(private readonly opts: FileSigningOptions) {}

  static async load(opts: FileSigningOptions): Promise<FileUrlSigner> {
    const signer = new FileUrlSigner(opts);
    if (opts.configured?.length) {
      signer.keys = opts.configured.map((k) => ({ id: k.id, secret: Buffer.from(k.secret, 'utf8'), retireAt: null }));
    } else {
      await signer.reload();
      if (signer.keys.length === 0) {
        await opts.store.setSetting(KEYS_SETTING, JSON.stringify([newKey()]));
        // Two nodes starting at once: both read back whichever write won.
        await signer.reload();
      }
    }
    return signer;
  }

  get fromConfig(): boolean {
    return Boolean(this.opts.configured?.length);
  }

  /** Links under `base` (scheme + host, no trailing slash). */
  links(base: string): FileLinks {
    return (file) => `${base}${this.sign(file.path)}`;
  }

  /** `path?exp=…&kid=…&sig=…`, valid for the configured lifetime from now. */
  sign(path: string): string {
    this.refreshIfStale();
    const key = this.keys[0]!;
    const now = this.opts.clock.now() / 1000;
    const exp = Math.ceil((now + this.opts.ttlSeconds) / ROUND_S) * ROUND_S;
    return `${path}?exp=${exp}&kid=${key.id}&sig=${mac(key.secret, path, exp, key.id)}`;
  }

  /** Checks a request's path and query; reloads the keys once if it names an unknown key id. */
  async check(path: string, query: Record<string, unknown>): Promise<LinkCheck> {
    const { exp, kid, sig } = query;
    if (exp === undefined && kid === undefined && sig === undefined) return { ok: false, reason: 'unsigned' };
    if (typeof exp !== 'string' || !/^\d{1,12}$/.test(exp) || typeof kid !== 'string' || typeof sig !== 'string') return { ok: false, reason: 'invalid' };
    let key = this.keys.find((k) => k.id === kid);
    // An unknown key id may be one another node just made: reload, at most once a second.
    if (!key && !this.fromConfig && this.opts.clock.now() - this.missReloadAt >= MISS_RELOAD_MS) {
      this.missReloadAt = this.opts.clock.now();
      await this.reload();
      key = this.keys.find((k) => k.id === kid);
    }
    if (!key) return { ok: false, reason: 'invalid' };
    const expected = Buffer.from(mac(key.secret, path, Number(exp), kid));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'invalid' };
    const now = this.opts.clock.now();
    // A retired key's links stop at its retirement, even if they say later.
    const until = Math.min(Number(exp) * 1000, key.retireAt ?? Infinity);
    if (until <= now) return { ok: false, reason: key.retireAt !== null && key.retireAt <= now ? 'invalid' : 'expired' };
    return { ok: true, maxAgeSeconds: Math.floor((until - now) / 1000) };
  }

  /**
   * A new key signs from now on; the ones in force keep verifying for `overlapSeconds`, so links
   * handed out before the rotation work until then (or their own expiry, if sooner).
   */
  async rotate(overlapSeconds = this.opts.overlapSeconds): Promise<{ keyId: string; previousRetireAt: number }> {
    if (this.fromConfig) throw new Error('file signing keys come from the configuration (files.signingKeys): rotate them there');
    await this.reload();
    const now = this.opts.clock.now();
    const previousRetireAt = now + overlapSeconds * 1000;
    const kept: StoredKey[] = this.keys
      .filter((k) => k.retireAt === null || k.retireAt > now)
      .map((k) => ({ id: k.id, key: k.secret.toString('hex'), retireAt: k.retireAt === null ? previousRetireAt : Math.min(k.retireAt, previousRetireAt) }));
    const fresh = newKey();
    await this.opts.store.setSetting(KEYS_SETTING, JSON.stringify([fresh, ...kept]));
    await this.reload();
    return { keyId: fresh.id, previousRetireAt };
  }

  private refreshIfStale(): void {
    if (this.fromConfig || this.reloading || this.opts.clock.now() - this.loadedAt < REFRESH_MS) return;
    this.reload().catch(() => undefined);
  }

  private async reload(): Promise<void> {
    if (this.fromConfig) return;
    if (this.reloading) return this.reloading;
    this.reloading = (async () => {
      try {
        const raw = await this.opts.store.getSetting(KEYS_SETTING);
        const stored = raw ? (JSON.parse(raw) as StoredKey[]) : [];
        if (stored.length > 0) this.keys = stored.map((k) => ({ id: k.id, secret: Buffer.from(k.key, 'hex'), retireAt: k.retireAt }));
        this.loadedAt = this.opts.clock.now();
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }
}

function newKey(): StoredKey {
  return { id: randomBytes(4).toString('hex'), key: randomBytes(32).toString('hex'), retireAt: null };
}

function mac(secret: Buffer, path: string, exp: number, kid: string): string {
  return createHmac('sha256', secret).update(`file-url\n${path}\n${exp}\n${kid}`).digest('base64url');
}
