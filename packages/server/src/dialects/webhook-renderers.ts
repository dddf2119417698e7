/** Webhook payload renderers by dialect (each dialect renders its own clients' shape). */
import type { WebhookRenderer } from '../webhooks/types.js';
import { failureBody, successBody } from './task-api/render.js';

/** The task API's callback envelopes (seeds 000/001), generic result shape. */
export const fallbackRenderer: WebhookRenderer = (task, _event, base) =>
  task.state === 'succeeded' ? successBody(task, 'generic', base) : failureBody(task);

export const WEBHOOK_RENDERERS: Readonly<Record<string, WebhookRenderer>> = {};
