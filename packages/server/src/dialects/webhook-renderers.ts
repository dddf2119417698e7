/**
 * Webhook payload renderers by dialect: each dialect renders its own clients' callback shape
 * (`dialects/<dialect>/webhook.ts`), reusing the renderers its polling endpoints answer with.
 */
import type { ServiceRegistry } from '../core/services.js';
import type { WebhookRenderer } from '../webhooks/types.js';
import { DIALECT as APIXO } from './apixo/plugin.js';
import { apixoWebhook } from './apixo/webhook.js';
import { DIALECT as QUEUE } from './queue/parse.js';
import { queueWebhook } from './queue/webhook.js';
import { ModelCatalog } from './replicate/models.js';
import { DIALECT as REPLICATE } from './replicate/plugin.js';
import { replicateWebhook } from './replicate/webhook.js';
import { DIALECT as TASK_API } from './task-api/plugin.js';
import type { TaskApiShape } from './task-api/render.js';
import { taskApiWebhook } from './task-api/webhook.js';

/** What the renderers need of the configuration: each service's task API result shape. */
export interface RendererConfig {
  services: Readonly<Record<string, { shape?: TaskApiShape }>>;
}

/** The task API's callback envelopes (seeds 000/001), generic result shape. */
export const fallbackRenderer: WebhookRenderer = taskApiWebhook(() => 'generic');

/** The renderers of every dialect, for this configuration and service registry. */
export function createWebhookRenderers(config: RendererConfig, services: ServiceRegistry): Readonly<Record<string, WebhookRenderer>> {
  const taskApi = taskApiWebhook((service) => config.services[service]?.shape ?? 'generic');
  return {
    [TASK_API]: taskApi,
    [APIXO]: apixoWebhook,
    [QUEUE]: queueWebhook,
    [REPLICATE]: replicateWebhook(new ModelCatalog(services, REPLICATE), taskApi),
  };
}
