/**
 * Signing secrets, one per token (owner): `whsec_` + base64 of 24 random bytes, as Standard
 * Webhooks expects. Created on first use; a rotation adds a new one and keeps the previous one
 * signing for an overlap, so deliveries carry two signatures meanwhile.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, WebhookStore } from '../core/ports.js';

export class WebhookSecrets {
  constructor(
    private readonly store: WebhookStore,
    private readonly clock: Clock,
    private readonly overlapSeconds: number,
  ) {}

  /** The secrets in force for the owner, newest first; creates the first one if there is none. */
  async active(ownerId: string): Promise<string[]> {
    const now = this.clock.now();
    const secrets = await this.store.activeSecrets(ownerId, now);
    if (secrets.length > 0) return secrets;
    // Two first uses at once must agree on one secret: only one insert can win.
    await this.store.ensureSecret(ownerId, newSecret(), now);
    return this.store.activeSecrets(ownerId, now);
  }

  /** The current (newest) secret. */
  async current(ownerId: string): Promise<string> {
    return (await this.active(ownerId))[0]!;
  }

  /** Adds a new secret; the old ones keep signing for `overlapSeconds` (default from config). */
  async rotate(ownerId: string, overlapSeconds = this.overlapSeconds): Promise<{ secret: string; previousExpireAt: number }> {
    await this.active(ownerId);
    const now = this.clock.now();
    const secret = newSecret();
    const previousExpireAt = now + overlapSeconds * 1000;
    await this.store.addSecret(ownerId, secret, now, previousExpireAt);
    return { secret, previousExpireAt };
  }
}

function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}
