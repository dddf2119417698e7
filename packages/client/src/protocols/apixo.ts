/**
 * APIXO (seed 002; taskgate's `/api/v1` dialect), client side.
 *
 * - Submit: `POST {base}/api/v1/generateTask/{model}` with `{request_type, callback_url?, input}`
 *   → `{code: 200, message: "success", data: {taskId}}`.
 * - Status: `GET {base}/api/v1/statusTask/{model}?taskId=…` → `data: {taskId, state, createTime,
 *   resultJson?, costTime?, completeTime?, failCode?, failMsg?}`, `state` ∈ pending | processing |
 *   success | failed; `resultJson` is a JSON *string* `{"resultUrls": [...]}`; times Unix ms.
 * - Every answer is `{code, message, data}` and `code` mirrors the HTTP status, but a client must
 *   read the body's `code`: an answer may come with HTTP 200 and an error `code` in the body.
 *   Errors carry `data: {error}`; a refusal may name a failure code (`data.failCode`).
 * - Callbacks: the status answer itself, POSTed to `callback_url`.
 * - There is no idempotency key and no cancel (a taskgate adds `cancelTask`, {@link cancelTaskRequest},
 *   and honours `Idempotency-Key`). Result URLs expire after 24 h.
 *
 * `base` is the host root as APIXO's docs write it (`https://api.apixo.ai`); `/api/v1/…` is added.
 */
import { bearer, encodePath, isObject, joinUrl, num, str, type JsonObject, type JsonValue, type ProtocolRequest } from './common.js';

/** Where and as whom to call an APIXO platform. */
export interface ApixoEndpoint {
  /** The host root (no `/api/v1`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; null sends none. */
  apiKey: string | null;
}

/** Task failure codes APIXO documents (UPPER_SNAKE; a platform may send others). */
export const FAIL_CODES = {
  contentViolation: 'CONTENT_VIOLATION',
  processingTimeout: 'PROCESSING_TIMEOUT',
  generationFailed: 'GENERATION_FAILED',
  taskCancelled: 'TASK_CANCELLED',
  insufficientCredits: 'INSUFFICIENT_CREDITS',
  modelUnavailable: 'MODEL_UNAVAILABLE',
} as const;

/**
 * `POST {base}/api/v1/generateTask/{model}`. `request_type` is `callback` when a callback URL is
 * given (APIXO servers, taskgate among them, refuse `async` together with a `callback_url`), else
 * `async`.
 */
export function generateTaskRequest(endpoint: ApixoEndpoint, model: string, input: JsonObject, options: { callbackUrl?: string | null } = {}): ProtocolRequest {
  const body: JsonObject = options.callbackUrl
    ? { request_type: 'callback', callback_url: options.callbackUrl, input }
    : { request_type: 'async', input };
  return { method: 'POST', url: joinUrl(endpoint.baseUrl, `api/v1/generateTask/${encodePath(model)}`), headers: bearer(endpoint.apiKey), body };
}

/** `GET {base}/api/v1/statusTask/{model}?taskId=…`. */
export function statusTaskRequest(endpoint: ApixoEndpoint, model: string, taskId: string): ProtocolRequest {
  const url = `${joinUrl(endpoint.baseUrl, `api/v1/statusTask/${encodePath(model)}`)}?taskId=${encodeURIComponent(taskId)}`;
  return { method: 'GET', url, headers: bearer(endpoint.apiKey) };
}

/**
 * `POST {base}/api/v1/cancelTask/{model} {taskId}` (a taskgate extension; APIXO documents no
 * cancel): answers the task's status once cancelled (`failed` / `TASK_CANCELLED`), or 400 when it
 * had already finished (it is left as it is).
 */
export function cancelTaskRequest(endpoint: ApixoEndpoint, model: string, taskId: string): ProtocolRequest {
  return { method: 'POST', url: joinUrl(endpoint.baseUrl, `api/v1/cancelTask/${encodePath(model)}`), headers: bearer(endpoint.apiKey), body: { taskId } };
}

/** The `{code, message, data}` envelope. */
export interface Envelope {
  /** The answer's own status: read this, not (only) the HTTP status. */
  code: number;
  message: string;
  data: JsonValue;
}

/** Reads the envelope; null when `body` is not one (no integer `code`). */
export function parseEnvelope(body: unknown): Envelope | null {
  if (!isObject(body) || !Number.isInteger(body.code)) return null;
  return { code: body.code as number, message: typeof body.message === 'string' ? body.message : '', data: body.data ?? null };
}

const is2xx = (status: number): boolean => status >= 200 && status < 300;

/** Whether the answer is a success: HTTP 2xx and the body's `code` 2xx (documented: 200). */
export function isSuccess(httpStatus: number, envelope: Envelope | null): envelope is Envelope {
  return is2xx(httpStatus) && envelope !== null && is2xx(envelope.code);
}

/**
 * The status an answer means: the body's `code` when it is an error status (400–599; errors may
 * come with HTTP 200), else the HTTP status.
 */
export function effectiveStatus(httpStatus: number, envelope: Envelope | null): number {
  const code = envelope?.code;
  return code !== undefined && code >= 400 && code <= 599 ? code : httpStatus;
}

/** An error answer's details: `data.error` (or the message) and a failure code if it names one. */
export interface ApixoError {
  code: number;
  message: string;
  failCode: string | null;
}

export function parseError(envelope: Envelope): ApixoError {
  const data = isObject(envelope.data) ? envelope.data : {};
  return {
    code: envelope.code,
    message: str(data.error) ?? str(data.failMsg) ?? envelope.message,
    failCode: str(data.failCode) ?? null,
  };
}

/** The task id of an accepted submit; null if the answer has none. */
export function parseSubmitted(envelope: Envelope): string | null {
  return isObject(envelope.data) ? (str(envelope.data.taskId) ?? null) : null;
}

export type ApixoState = 'pending' | 'processing' | 'success' | 'failed';
const STATES: ReadonlySet<string> = new Set<ApixoState>(['pending', 'processing', 'success', 'failed']);

/** A status answer's `data`, read. */
export interface ApixoTask {
  taskId: string;
  state: ApixoState;
  /** Unix ms. */
  createTime: number | null;
  completeTime: number | null;
  /** Processing time in ms. */
  costTime: number | null;
  /** `resultJson.resultUrls` of a successful task (empty otherwise). */
  resultUrls: string[];
  /** `resultJson` parsed (a success's whole result, `resultUrls` included); null when absent. */
  result: JsonObject | null;
  failCode: string | null;
  failMsg: string | null;
}

/**
 * Reads a status answer's `data` (or a callback's). Null when it is junk: no `taskId`, an unknown
 * `state`, or a success whose `resultJson` is not a JSON object with a `resultUrls` string array.
 */
export function parseStatus(data: unknown): ApixoTask | null {
  if (!isObject(data)) return null;
  const taskId = str(data.taskId);
  const state = str(data.state);
  if (taskId === undefined || state === undefined || !STATES.has(state)) return null;
  let result: JsonObject | null = null;
  let resultUrls: string[] = [];
  if (state === 'success') {
    result = parseResultJson(data.resultJson);
    const urls = result?.resultUrls;
    if (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string')) return null;
    resultUrls = urls as string[];
  }
  return {
    taskId, state: state as ApixoState, result, resultUrls,
    createTime: num(data.createTime) ?? null,
    completeTime: num(data.completeTime) ?? null,
    costTime: num(data.costTime) ?? null,
    failCode: str(data.failCode) ?? null,
    failMsg: str(data.failMsg) ?? null,
  };
}

/** `resultJson` is documented as a JSON string; an object is accepted as well. */
function parseResultJson(value: unknown): JsonObject | null {
  if (isObject(value)) return value;
  if (typeof value !== 'string') return null;
  try {
    const parsed: unknown = JSON.parse(value);
    return isObject(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/** A callback delivery (the status envelope); null when it is not a readable task status. */
export function parseCallback(body: unknown): ApixoTask | null {
  const envelope = parseEnvelope(body);
  return envelope && envelope.code === 200 ? parseStatus(envelope.data) : null;
}
