/**
 * Parses APIXO requests: the generateTask body `{request_type?, callback_url?, input}`, the
 * statusTask `taskId` query and the cancelTask body `{taskId}` (a taskgate extension). Every
 * problem is a `bad_request` naming the field.
 */
import { z } from 'zod';
import { GatewayError } from '../../core/errors.js';
import { callbackUrlSchema, checkCallbackUrl, type CallbackPolicy } from '../../http/callback-url.js';
import type { JsonObject } from '../../core/types.js';
import { isJsonObject } from '../../core/types.js';

export const REQUEST_TYPES = ['async', 'callback'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

export const MAX_TASK_ID = 200;

/**
 * The generateTask body, statusTask query and cancelTask body as schemas: the parsers below check
 * each field with them (in their own words) and the OpenAPI document shows them. `input` is the
 * service's own (its provider validates it).
 */
export const generateEnvelope = z.object({
  request_type: z.enum(REQUEST_TYPES).optional().describe('Default: "callback" when callback_url is given, else "async".'),
  callback_url: callbackUrlSchema.optional(),
  input: z.record(z.string(), z.unknown()),
});
export const taskIdField = z.string().min(1).max(MAX_TASK_ID);
export const statusQuery = z.object({ taskId: taskIdField });
export const cancelBody = z.object({ taskId: taskIdField });

export interface GenerateRequest {
  requestType: RequestType;
  callbackUrl: string | null;
  /** The provider input (`input`), validated by the provider at create. */
  input: JsonObject;
}

/** Validates the body; the callback URL's address is checked against `policy` (SSRF). */
export async function parseGenerate(body: JsonObject, policy: CallbackPolicy): Promise<GenerateRequest> {
  const callbackUrl = await checkCallbackUrl(body.callback_url, 'Field callback_url', policy);
  const requestType = parseRequestType(body.request_type, callbackUrl);
  if (requestType === 'callback' && callbackUrl === null) {
    throw new GatewayError('bad_request', 'Missing required field: callback_url (required when request_type is "callback")');
  }
  if (requestType === 'async' && callbackUrl !== null) {
    throw new GatewayError('bad_request', 'Field callback_url is only used with request_type "callback"');
  }
  const { input } = body;
  if (input === undefined || input === null) throw new GatewayError('bad_request', 'Missing required field: input');
  if (!isJsonObject(input)) throw new GatewayError('bad_request', 'Field input must be a JSON object');
  return { requestType, callbackUrl, input };
}

/** Absent → "callback" when a callback_url is given (the client's evident intent), else "async". */
function parseRequestType(value: unknown, callbackUrl: string | null): RequestType {
  if (value === undefined || value === null) return callbackUrl === null ? 'async' : 'callback';
  const parsed = generateEnvelope.shape.request_type.safeParse(value);
  if (!parsed.success || parsed.data === undefined) throw new GatewayError('bad_request', 'Field request_type must be "async" or "callback"');
  return parsed.data;
}

/** The `taskId` query parameter: exactly one non-empty string. */
export function parseTaskId(query: unknown): string {
  const value = isJsonObject(query) ? query.taskId : undefined;
  if (value === undefined || value === '') throw new GatewayError('bad_request', 'Missing required query parameter: taskId');
  if (typeof value !== 'string') throw new GatewayError('bad_request', 'Query parameter taskId must be given once');
  if (!taskIdField.safeParse(value).success) throw new GatewayError('bad_request', `Query parameter taskId is longer than ${MAX_TASK_ID} characters`);
  return value;
}

/** The cancelTask body's `taskId`: a non-empty string, as statusTask's query parameter. */
export function parseCancel(body: JsonObject): string {
  const value = body.taskId;
  if (value === undefined || value === null || value === '') throw new GatewayError('bad_request', 'Missing required field: taskId');
  if (typeof value !== 'string') throw new GatewayError('bad_request', 'Field taskId must be a string');
  if (!taskIdField.safeParse(value).success) throw new GatewayError('bad_request', `Field taskId is longer than ${MAX_TASK_ID} characters`);
  return value;
}

/**
 * Provider validation errors name the field inside `input` (`Invalid field prompt: …`); in this
 * dialect the field lives at `input.prompt`, so the message says so.
 */
export function inputFieldError(err: unknown): unknown {
  if (!(err instanceof GatewayError) || err.code !== 'bad_request') return err;
  const message = err.message.replace(/^Invalid field (?!input\b)/, 'Invalid field input.');
  return message === err.message ? err : new GatewayError('bad_request', message, { cause: err });
}
