/** Webhook delivery workers (filled in by the webhooks issue). */
import type { WebhookDispatcherOptions } from './types.js';

export class WebhookDispatcher {
  constructor(readonly opts: WebhookDispatcherOptions) {}

  get workerId(): string {
    return this.opts.workerId;
  }

  start(): void {}

  /** Stops claiming; in-flight deliveries give their leases back. */
  async stop(): Promise<void> {}

  /** Stops without releasing anything (what a killed process leaves behind). */
  halt(): void {}
}
