/** The token owner's webhook API: signing secret, rotation, delivery log, redelivery. */
import type { FastifyInstance } from 'fastify';
import type { WebhookStore } from '../core/ports.js';
import type { WebhookSecrets } from '../webhooks/secrets.js';
import type { DialectContext } from './context.js';

export interface WebhooksApiDeps {
  store: WebhookStore;
  secrets: WebhookSecrets;
}

export function webhooksApiPlugin(_ctx: DialectContext, _deps: WebhooksApiDeps) {
  return async function register(_app: FastifyInstance): Promise<void> {
    // routes arrive with the webhooks issue
  };
}
