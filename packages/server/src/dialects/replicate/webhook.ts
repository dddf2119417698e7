/**
 * Replicate's webhook body: the prediction object as `GET /v1/predictions/{id}` renders it (URLs
 * under `{base}/v1`), for every event (`start`, `logs`, `output`/`completed`) — the task as it is
 * when the delivery's payload is fixed, with its provider log lines.
 */
import type { WebhookRenderer } from '../../webhooks/types.js';
import type { ModelCatalog } from './models.js';
import { DIALECT } from './plugin.js';
import { prediction } from './render.js';
import { streamUrl } from './stream.js';

/** Where the Replicate dialect is mounted (gateway.ts registers it under `/v1`). */
export const API_PREFIX = '/v1';

/**
 * The renderer over the gateway's model catalog; a task whose service no longer has a Replicate
 * model (config changed) is rendered by `otherwise`.
 */
export function replicateWebhook(models: ModelCatalog, otherwise: WebhookRenderer): WebhookRenderer {
  return async (task, event, base, extras) => {
    const model = models.ofTask(task);
    if (!model) return otherwise(task, event, base, extras);
    const apiRoot = `${base}${API_PREFIX}`;
    return prediction(task, model, DIALECT, { links: extras.links, apiRoot, logs: await extras.logs(), streamUrl: streamUrl(task, apiRoot) });
  };
}
