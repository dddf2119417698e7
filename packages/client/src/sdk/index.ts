/**
 * The SDK: `createClient` (one client over the task API, APIXO, the fal queue and Replicate),
 * `TaskgateError`, `verifyWebhook` and `parseWebhook`, and the public types.
 */
export { createClient } from './client.js';
export { TaskgateError, type TaskgateErrorCode, type TaskgateErrorInit } from './errors.js';
export { parseWebhook, verifyWebhook, type VerifiedWebhook, type VerifyOptions, type WebhookHeaders } from './webhooks.js';
export * from './types.js';
