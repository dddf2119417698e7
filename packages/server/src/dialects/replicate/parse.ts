/**
 * Parsing the Replicate wire: the create body (`version`, `input`, `webhook`,
 * `webhook_events_filter`, the deprecated `stream`), the `Prefer: wait[=N]` header and the list
 * cursor. Invalid fields become a 422 naming each field, as Replicate answers them.
 */
import { z } from 'zod';
import { GatewayError } from '../../core/errors.js';
import { callbackUrlSchema, checkCallbackUrl, type CallbackPolicy } from '../../http/callback-url.js';
import type { JsonObject, JsonValue, WebhookEvent as TaskWebhookEvent } from '../../core/types.js';
import { isJsonObject } from '../../core/types.js';
import { InvalidFieldsError, type InvalidField } from './errors.js';

export const WEBHOOK_EVENTS = ['start', 'output', 'logs', 'completed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Longest a `Prefer: wait` create holds the request (Replicate: 1–60 s; bare `wait` = 60). */
export const MAX_WAIT_SECONDS = 60;

/**
 * The create body's envelope: `parseCreate` checks each field with these schemas (in its own
 * words, every problem listed) and the OpenAPI document shows them; `input` is the service's own
 * (its provider validates it). `version` only on `POST /predictions`.
 */
export const createEnvelope = z.strictObject({
  input: z.record(z.string(), z.unknown()),
  webhook: callbackUrlSchema.optional(),
  webhook_events_filter: z.array(z.enum(WEBHOOK_EVENTS)).optional(),
  stream: z.boolean().optional().describe('Deprecated by Replicate; a stream URL is always returned.'),
});
export const versionField = z.string().trim().min(1).describe('The model: "owner/name", "owner/name:version" or a version id.');

export interface CreateRequest {
  /** The model reference of `POST /predictions`; null on the model route (the path names it). */
  version: string | null;
  input: JsonObject;
  /** Where to deliver webhooks (the task's callback URL); null if none. */
  webhook: string | null;
  /** Which webhook events the client wants; null = Replicate's default (all). */
  eventsFilter: WebhookEvent[] | null;
}

const typeName = (v: JsonValue): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/**
 * Validates a create body; `withVersion` for `POST /predictions` (the body names the model). The
 * webhook's address is checked against `policy` (SSRF) and reported with the other fields.
 */
export async function parseCreate(body: JsonObject, withVersion: boolean, policy: CallbackPolicy): Promise<CreateRequest> {
  const problems: InvalidField[] = [];
  const allowed = [...Object.keys(createEnvelope.shape), ...(withVersion ? ['version'] : [])];
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      problems.push({ type: 'additional_property_not_allowed', field: key, description: `Additional property ${key} is not allowed` });
    }
  }

  let version: string | null = null;
  if (withVersion) {
    const v = body.version;
    if (v === undefined) problems.push({ type: 'required', field: 'version', description: 'version is required' });
    else {
      const parsed = versionField.safeParse(v);
      if (parsed.success) version = parsed.data;
      else problems.push({ type: 'invalid_type', field: 'version', description: `Invalid type. Expected: non-empty string, given: ${typeName(v)}` });
    }
  }

  const input = body.input;
  if (input === undefined) problems.push({ type: 'required', field: 'input', description: 'input is required' });
  else if (!isJsonObject(input)) {
    problems.push({ type: 'invalid_type', field: 'input', description: `Invalid type. Expected: object, given: ${typeName(input)}` });
  }

  const stream = body.stream;
  if (stream !== undefined && !createEnvelope.shape.stream.safeParse(stream).success) {
    problems.push({ type: 'invalid_type', field: 'stream', description: `Invalid type. Expected: boolean, given: ${typeName(stream)}` });
  }

  const webhook = await parseWebhook(body.webhook, policy, problems);
  const eventsFilter = parseEventsFilter(body.webhook_events_filter, problems);

  if (problems.length > 0 || !isJsonObject(input)) throw new InvalidFieldsError(problems);
  return { version, input, webhook, eventsFilter };
}

async function parseWebhook(value: JsonValue | undefined, policy: CallbackPolicy, problems: InvalidField[]): Promise<string | null> {
  try {
    return await checkCallbackUrl(value, 'webhook', policy);
  } catch (err) {
    problems.push({ type: 'invalid', field: 'webhook', description: (err as Error).message });
    return null;
  }
}

function parseEventsFilter(value: JsonValue | undefined, problems: InvalidField[]): WebhookEvent[] | null {
  if (value === undefined || value === null) return null;
  const events = createEnvelope.shape.webhook_events_filter.safeParse(value).data;
  if (events === undefined) {
    problems.push({
      type: 'invalid',
      field: 'webhook_events_filter',
      description: `webhook_events_filter must be an array of events from: ${WEBHOOK_EVENTS.join(', ')}`,
    });
    return null;
  }
  // In the canonical order, without repeats.
  return WEBHOOK_EVENTS.filter((e) => events.includes(e));
}

/**
 * The task's webhook events for a filter: `start` → start, `logs` → progress, `output` and
 * `completed` → completed (outputs arrive all at once, with the completed event). No filter means
 * Replicate's default: every event.
 */
export function taskWebhookEvents(filter: readonly WebhookEvent[] | null): TaskWebhookEvent[] {
  const wanted = new Set(filter ?? WEBHOOK_EVENTS);
  const events: TaskWebhookEvent[] = [];
  if (wanted.has('start')) events.push('start');
  if (wanted.has('logs')) events.push('progress');
  if (wanted.has('output') || wanted.has('completed')) events.push('completed');
  return events;
}

/**
 * The seconds a `Prefer: wait` asks to hold the create (bare `wait` = 60, larger values capped
 * at 60); null without a wait preference. Other preferences in the header are ignored.
 */
export function parsePreferWait(header: string | string[] | undefined): number | null {
  if (header === undefined) return null;
  const prefs = (Array.isArray(header) ? header.join(',') : header).split(',');
  for (const pref of prefs) {
    const [token = ''] = pref.split(';');
    const eq = token.indexOf('=');
    const name = (eq === -1 ? token : token.slice(0, eq)).trim().toLowerCase();
    if (name !== 'wait') continue;
    if (eq === -1) return MAX_WAIT_SECONDS;
    const raw = token.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (!/^\d{1,6}$/.test(raw) || Number(raw) < 1) {
      throw new InvalidFieldsError([
        { type: 'invalid', field: 'Prefer', description: `Prefer: wait must be "wait" or "wait=N" with N from 1 to ${MAX_WAIT_SECONDS} seconds` },
      ]);
    }
    return Math.min(Number(raw), MAX_WAIT_SECONDS);
  }
  return null;
}

/** The `cursor` of a list request (a prediction id), or undefined for the first page. */
export function parseCursor(query: unknown): string | undefined {
  const cursor = isJsonObject(query) ? query.cursor : undefined;
  if (cursor === undefined || cursor === '') return undefined;
  if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(cursor)) {
    throw new GatewayError('bad_request', 'Invalid cursor; use the next URL of the previous page');
  }
  return cursor;
}

/**
 * Turns the provider's input validation error (`bad_request` "Invalid field prompt: …") into a
 * 422 naming the field under `input`; anything else is passed through.
 */
export function inputFieldError(err: unknown): unknown {
  if (!(err instanceof GatewayError) || err.code !== 'bad_request') return err;
  const match = /^Invalid field (\S+): ([\s\S]*)$/.exec(err.message);
  const inner = match?.[1];
  const field = inner === undefined || inner === 'input' ? 'input' : `input.${inner}`;
  const description = match?.[2] ?? err.message;
  return new InvalidFieldsError([{ type: 'invalid', field, description }]);
}
