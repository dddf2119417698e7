/**
 * The task API (XHuoAPI / AceDataCloud style; taskgate's `/v1` dialect), client side.
 *
 * - Create: `POST {base}/{service}/{action}` with the model input, plus `async: true` to get
 *   `{success: true, task_id, trace_id}` at once, and `callback_url` to be called back.
 *   Wait-capable services answer a create without `async` with the result inline.
 * - Query: `POST {base}/{service}/tasks` with `{action: "retrieve", id}` or
 *   `{action: "retrieve_batch", ids}` (at most {@link MAX_BATCH}), and on a taskgate
 *   `{action: "cancel", id}` ({@link cancelRequest}). A task has no status field: it
 *   is done when `finished_at` is present (or `response` is set); `response` is the body the
 *   synchronous call returned: the success body, or `{success: false, error: {code, message}}`.
 * - Errors: `{error: {code, message}, trace_id}` (no `success` field) with the HTTP status of the
 *   code (`bad_request` 400, `invalid_token` 401, `forbidden` 403 = moderation, `too_many_requests`
 *   429, `api_error` 500, `timeout` 504, …).
 * - Callbacks: the success body or the failure envelope, always with `success` and `task_id`.
 * - Follow-ups (Midjourney style): a create on the same service with `{action, image_id}`, where
 *   `action` is one the result's `actions` lists (`upscale1`…`upscale4`, `variation1`…`variation4`,
 *   `reroll`) and `image_id` the result's own ({@link followUpInput}).
 *
 * `base` is the API base as the platform's docs write it, ending in `/v1`
 * (`https://api.xhuoapi.ai/v1`; for a taskgate, `https://gateway.example/v1`).
 */
import { bearer, encodePath, isObject, joinUrl, num, str, type JsonObject, type ProtocolRequest } from './common.js';

/** Most ids one `retrieve_batch` may ask about. */
export const MAX_BATCH = 100;

/** Where and as whom to call a task API platform. */
export interface TaskApiEndpoint {
  /** API base ending in `/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; null sends none. */
  apiKey: string | null;
}

export interface CreateOptions {
  /** Answer at once with the task id (default true), instead of waiting for the result. */
  async?: boolean;
  /** Where the platform POSTs the result when the task finishes. */
  callbackUrl?: string | null;
  /** Sent as `Idempotency-Key` (taskgate honours it: a retry returns the first task). */
  idempotencyKey?: string;
}

/** The service part of a `service/action` model (`flux/dev` → `flux`): the tasks endpoint's vendor. */
export function vendorOf(model: string): string {
  const slash = model.indexOf('/');
  return slash < 0 ? model : model.slice(0, slash);
}

/** `POST {base}/{service}/{action}`: creates a task. `model` is `service/action` (`flux/dev`). */
export function createRequest(endpoint: TaskApiEndpoint, model: string, input: JsonObject, options: CreateOptions = {}): ProtocolRequest {
  const body: JsonObject = { ...input };
  delete body.callback_url;
  body.async = options.async ?? true;
  if (options.callbackUrl) body.callback_url = options.callbackUrl;
  const headers = bearer(endpoint.apiKey);
  if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
  return { method: 'POST', url: joinUrl(endpoint.baseUrl, encodePath(model)), headers, body };
}

/** The input of a follow-up on an image: `{action, image_id}` (send it with {@link createRequest}). */
export function followUpInput(action: string, imageId: string): JsonObject {
  return { action, image_id: imageId };
}

/** `POST {base}/{vendor}/tasks {action: "retrieve", id}`. */
export function retrieveRequest(endpoint: TaskApiEndpoint, vendor: string, id: string): ProtocolRequest {
  return { method: 'POST', url: tasksUrl(endpoint, vendor), headers: bearer(endpoint.apiKey), body: { action: 'retrieve', id } };
}

/** `POST {base}/{vendor}/tasks {action: "retrieve_batch", ids}`; at most {@link MAX_BATCH} ids. */
export function retrieveBatchRequest(endpoint: TaskApiEndpoint, vendor: string, ids: readonly string[]): ProtocolRequest {
  if (ids.length > MAX_BATCH) throw new RangeError(`retrieve_batch takes at most ${MAX_BATCH} ids, got ${ids.length}`);
  return { method: 'POST', url: tasksUrl(endpoint, vendor), headers: bearer(endpoint.apiKey), body: { action: 'retrieve_batch', ids: [...ids] } };
}

/**
 * `POST {base}/{vendor}/tasks {action: "cancel", id}` (a taskgate extension): answers the task as
 * `retrieve` shows it once cancelled (a failure `response` with code `cancelled`), or 409
 * `already_completed` when it had finished (it is left as it is).
 */
export function cancelRequest(endpoint: TaskApiEndpoint, vendor: string, id: string): ProtocolRequest {
  return { method: 'POST', url: tasksUrl(endpoint, vendor), headers: bearer(endpoint.apiKey), body: { action: 'cancel', id } };
}

function tasksUrl(endpoint: TaskApiEndpoint, vendor: string): string {
  return joinUrl(endpoint.baseUrl, `${encodeURIComponent(vendor)}/tasks`);
}

/** A task API error: the sync envelope's `error`, or a failed task's. */
export interface TaskApiError {
  /** `bad_request`, `forbidden`, `api_error`, … or a service's own code. */
  code: string;
  message: string;
}

/** The synchronous error envelope `{error: {code, message}, trace_id}`; null if `body` is not one. */
export function parseError(body: unknown): (TaskApiError & { traceId: string | null }) | null {
  if (!isObject(body) || body.success === true) return null;
  const error = readError(body.error);
  return error ? { ...error, traceId: str(body.trace_id) ?? null } : null;
}

function readError(value: unknown): TaskApiError | null {
  if (!isObject(value)) return null;
  const code = str(value.code);
  if (code === undefined) return null;
  return { code, message: typeof value.message === 'string' ? value.message : '' };
}

/** An accepted create. */
export interface Created {
  taskId: string;
  traceId: string | null;
  /** The whole answer: a synchronous create carries the result's business fields here. */
  body: JsonObject;
}

/** `{success: true, task_id, trace_id, …}`; null if `body` is not an accepted create. */
export function parseCreated(body: unknown): Created | null {
  if (!isObject(body) || body.success !== true) return null;
  const taskId = str(body.task_id);
  return taskId === undefined ? null : { taskId, traceId: str(body.trace_id) ?? null, body };
}

/** A finished task's `response`: the success body, or the failure. */
export type TaskResponse =
  | { success: true; /** The business fields (`image_url`, `data`, …), as the sync call returns them. */ body: JsonObject }
  | { success: false; error: TaskApiError };

/**
 * Reads a `response` (or a callback body): `success: true` → the result; `success: false`, or a
 * bare error envelope, → the error. Null when it is neither.
 */
export function parseResponse(value: unknown): TaskResponse | null {
  if (!isObject(value)) return null;
  if (value.success === true) return { success: true, body: value };
  const error = readError(value.error);
  return error ? { success: false, error } : null;
}

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed';

/** One `retrieve` / `retrieve_batch` item, read. */
export interface TaskInfo {
  id: string;
  /** Derived: no `started_at` → queued; started → running; done → by `response.success`. */
  state: TaskState;
  /** The create's body as the platform stored it. */
  request: JsonObject | null;
  /** Set once the task is done. */
  response: TaskResponse | null;
  /** Unix seconds (float), as the platform writes them. */
  createdAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** A fraction 0–1 while running (a percentage above 1 is divided by 100); null if not given. */
  progress: number | null;
  traceId: string | null;
}

/**
 * Reads one task item. Done = `finished_at` present or a `response` set. Null when the item is
 * junk: no id, or done with a `response` that is neither a result nor an error.
 */
export function parseTask(item: unknown): TaskInfo | null {
  if (!isObject(item)) return null;
  const id = str(item.id) ?? str(item.task_id);
  if (id === undefined) return null;
  const finishedAt = num(item.finished_at) ?? null;
  const startedAt = num(item.started_at) ?? null;
  const hasResponse = isObject(item.response) && Object.keys(item.response).length > 0;
  const response = hasResponse ? parseResponse(item.response) : null;
  if ((finishedAt !== null || hasResponse) && response === null) return null;
  let state: TaskState;
  if (response) state = response.success ? 'succeeded' : 'failed';
  else state = startedAt === null ? 'queued' : 'running';
  const raw = num(item.progress);
  const progress = raw === undefined || response ? null : Math.min(1, Math.max(0, raw > 1 ? raw / 100 : raw));
  return {
    id, state, response, finishedAt, startedAt, progress,
    request: isObject(item.request) ? item.request : null,
    createdAt: num(item.created_at) ?? null,
    traceId: str(item.trace_id) ?? null,
  };
}

/** A `retrieve_batch` answer: the items that could be read; `unreadable` counts the others. */
export interface Batch {
  items: TaskInfo[];
  unreadable: number;
}

/** `{items: [...], count}`; null if `body` has no `items` array. Unknown ids are simply absent. */
export function parseBatch(body: unknown): Batch | null {
  if (!isObject(body) || !Array.isArray(body.items)) return null;
  const items: TaskInfo[] = [];
  for (const raw of body.items) {
    const task = parseTask(raw);
    if (task) items.push(task);
  }
  return { items, unreadable: body.items.length - items.length };
}

/** A callback delivery: the success body or the failure envelope, both with `task_id`. */
export function parseCallback(body: unknown): { taskId: string; traceId: string | null; response: TaskResponse } | null {
  if (!isObject(body)) return null;
  const taskId = str(body.task_id);
  const response = parseResponse(body);
  return taskId === undefined || response === null ? null : { taskId, traceId: str(body.trace_id) ?? null, response };
}

/** One URL in a result body. */
export interface ResultUrl {
  url: string;
  /** The field it was found in (`image_url`, `url`, `audio_url`, `video_url`). */
  field: string;
  /** The index in `data`, or null for a top-level field. */
  index: number | null;
  /** `content_type` of its `data` item, when given. */
  contentType?: string;
  /** The platform's own id of the file, when given: a Midjourney result's `image_id` (what a follow-up names). */
  id?: string;
}

/** URL fields of the task API's result shapes, most specific first. */
const URL_FIELDS = ['url', 'audio_url', 'video_url', 'image_url'] as const;

/**
 * Every URL field of a success body, in order: the top level (`image_url`: Midjourney; also
 * `video_url`, `audio_url`, `url`), then each `data[]` item (`url`: generic; `audio_url`: Suno;
 * `video_url`: Veo / Sora; `image_url`: a Suno cover or a video thumbnail).
 */
export function resultUrls(body: JsonObject): ResultUrl[] {
  const found: ResultUrl[] = [];
  const scan = (obj: JsonObject, index: number | null): void => {
    const contentType = index === null ? undefined : str(obj.content_type);
    for (const field of URL_FIELDS) {
      const url = str(obj[field]);
      // The Midjourney shape names its image: `image_id` beside `image_url`.
      const id = index === null && field === 'image_url' ? str(obj.image_id) : undefined;
      if (url !== undefined) found.push({ url, field, index, ...(contentType ? { contentType } : {}), ...(id ? { id } : {}) });
    }
  };
  scan(body, null);
  if (Array.isArray(body.data)) body.data.forEach((item, i) => isObject(item) && scan(item, i));
  return found;
}

/**
 * The result files of a success body: one per `data[]` item (its first URL field in the order
 * `url`, `audio_url`, `video_url`, `image_url`, so a Suno clip is its audio, not its cover), plus
 * the top level's first URL field (a Midjourney image); duplicates dropped.
 */
export function resultFiles(body: JsonObject): ResultUrl[] {
  const files: ResultUrl[] = [];
  const seen = new Set<string>();
  let current: number | null | undefined;
  for (const found of resultUrls(body)) {
    if (found.index === current) continue; // a second URL of the same item
    current = found.index;
    if (seen.has(found.url)) continue;
    seen.add(found.url);
    files.push(found);
  }
  return files;
}
