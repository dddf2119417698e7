/**
 * The dialects' envelope fields (what wraps a service's input: callback URLs, async flags, ids,
 * webhook filters …) for the OpenAPI document. The schemas are the dialects' own: each parser
 * checks its fields with them (in its own words and envelope), so the document shows what is
 * checked. The service input itself is each provider's own validator (`Provider.inputSchema`).
 */
import { z } from 'zod';
import { cancelBody as apixoCancel, generateEnvelope, statusQuery } from '../../dialects/apixo/parse.js';
import { MAX_WAIT_SECONDS, createEnvelope, versionField } from '../../dialects/replicate/parse.js';
import { createFields, tasksBody } from '../../dialects/task-api/plugin.js';
import type { JsonObject } from '../../core/types.js';
import { callbackUrlSchema } from '../callback-url.js';

export const taskApiCreateFields = createFields;
export const taskApiTasksBody = tasksBody;
export const apixoGenerateBody = generateEnvelope;
export const apixoTaskIdQuery = statusQuery;
export const apixoCancelBody = apixoCancel;

/** fal queue submit: the body is the service input; the webhook is a query parameter (queue/parse.ts checks it as a callback URL). */
export const queueSubmitQuery = z.object({ fal_webhook: callbackUrlSchema.optional() });
export const queueReadQuery = z.object({ logs: z.enum(['0', '1', 'true', 'false']).optional().describe('1 or true: include the log lines.') });

/** Replicate create; `version` only on `POST /v1/predictions` (the model route's path names it). */
export function replicateCreateBody(withVersion: boolean) {
  return withVersion ? createEnvelope.extend({ version: versionField }) : createEnvelope;
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
