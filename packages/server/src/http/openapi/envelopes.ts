/**
 * The dialects' envelope fields (what wraps a service's input: callback URLs, async flags, ids,
 * webhook filters …) as zod schemas, for the OpenAPI document. Their limits and enums are the
 * constants the hand-written parsers check (MAX_TASK_ID, MAX_BATCH, REQUEST_TYPES,
 * WEBHOOK_EVENTS, MAX_CALLBACK_URL …), imported from them, so a changed limit changes both.
 * The service input itself is each provider's own validator (`Provider.inputSchema`).
 */
import { z } from 'zod';
import { MAX_TASK_ID as APIXO_MAX_TASK_ID, REQUEST_TYPES } from '../../dialects/apixo/parse.js';
import { MAX_WAIT_SECONDS, WEBHOOK_EVENTS } from '../../dialects/replicate/parse.js';
import { MAX_BATCH, MAX_TASK_ID } from '../../dialects/task-api/plugin.js';
import type { JsonObject } from '../../core/types.js';
import { MAX_CALLBACK_URL } from '../callback-url.js';

const callbackUrl = z.url({ protocol: /^https?$/ }).max(MAX_CALLBACK_URL);
const taskId = z.string().min(1).max(MAX_TASK_ID);

/** The task API create body's own fields, besides the service's input fields (same level). */
export const taskApiCreateFields = z.object({
  callback_url: callbackUrl.optional().describe('Answer at once with the task id; the result is POSTed here (webhook).'),
  async: z.boolean().optional().describe('Answer at once with the task id even where the service could wait for the result.'),
});

/** `POST /v1/{vendor}/tasks`: retrieve one, a batch, or cancel one (a taskgate extension). */
export const taskApiTasksBody = z.union([
  z.object({ action: z.literal('retrieve'), id: taskId.optional(), task_id: taskId.optional() }).describe('One task (id or task_id).'),
  z.object({ action: z.literal('retrieve_batch'), ids: z.array(z.string()).max(MAX_BATCH) }).describe(`Up to ${MAX_BATCH} tasks.`),
  z.object({ action: z.literal('cancel'), id: taskId.optional(), task_id: taskId.optional() }).describe('Cancel one task.'),
]);

/** APIXO generateTask: the service input sits in `input`. */
export const apixoGenerateBody = z.object({
  request_type: z.enum(REQUEST_TYPES).optional().describe('Default: "callback" when callback_url is given, else "async".'),
  callback_url: callbackUrl.optional(),
  input: z.record(z.string(), z.unknown()),
});
export const apixoTaskIdQuery = z.object({ taskId: z.string().min(1).max(APIXO_MAX_TASK_ID) });
export const apixoCancelBody = z.object({ taskId: z.string().min(1).max(APIXO_MAX_TASK_ID) });

/** fal queue submit: the body is the service input; the webhook is a query parameter. */
export const queueSubmitQuery = z.object({ fal_webhook: callbackUrl.optional() });
export const queueReadQuery = z.object({ logs: z.enum(['0', '1', 'true', 'false']).optional().describe('1 or true: include the log lines.') });

/** Replicate create; `version` only on `POST /v1/predictions` (the model route's path names it). */
export function replicateCreateBody(withVersion: boolean) {
  const base = z.strictObject({
    input: z.record(z.string(), z.unknown()),
    webhook: callbackUrl.optional(),
    webhook_events_filter: z.array(z.enum(WEBHOOK_EVENTS)).optional(),
    stream: z.boolean().optional().describe('Deprecated by Replicate; a stream URL is always returned.'),
  });
  return withVersion ? base.extend({ version: z.string().min(1).describe('The model: "owner/name", "owner/name:version" or a version id.') }) : base;
}
export const replicatePreferHeader = z.object({
  prefer: z.string().regex(/^wait(=\d+)?$/).optional().describe(`"wait" or "wait=N" (1–${MAX_WAIT_SECONDS} s): hold the request until the prediction finishes.`),
});
export const replicateListQuery = z.object({ cursor: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/).optional() });

/** A zod schema as an OpenAPI 3.1 (JSON Schema 2020-12) object, input side. */
export function jsonSchema(schema: z.ZodType): JsonObject {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  return json;
}
