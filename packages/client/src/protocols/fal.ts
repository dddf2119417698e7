/**
 * The fal queue (`https://queue.fal.run`; taskgate's queue dialect at `…/v1/queue`; seed 004),
 * client side. Checked against `@fal-ai/client` 1.x.
 *
 * - Auth: `Authorization: Key <key>`.
 * - Submit: `POST {base}/{endpoint}` (`fal-ai/flux/dev`; `?fal_webhook=<url>` to be called back)
 *   → `{request_id, status_url, response_url, cancel_url, queue_position?}`. The returned URLs
 *   are under the *app* (`fal-ai/flux`), not the endpoint: use them as given.
 * - Status: `GET status_url[?logs=1]` → `{status: IN_QUEUE | IN_PROGRESS | COMPLETED,
 *   queue_position?, logs?}`; a failed request is COMPLETED with `error` (and `error_type`).
 * - Result: `GET response_url` → the app's output (202 + the status while incomplete); a failed
 *   request answers an error status with `{detail, error_type}` and `X-Fal-Error-Type`, a model
 *   input error 422 with `detail: [{loc, msg, type}]` (`type: content_policy_violation` for
 *   moderation).
 * - Cancel: `PUT cancel_url` → 202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED | 404 NOT_FOUND.
 * - Webhook body: `{request_id, gateway_request_id, status: OK | ERROR, payload, error}`.
 * fal has no idempotency key and no way to look a request up by a client reference.
 */
import { encodePath, isObject, joinUrl, num, str, type JsonObject, type JsonValue, type ProtocolRequest } from './common.js';

/** A fal request: like {@link ProtocolRequest}, but cancel is a `PUT`. */
export type FalRequest = Omit<ProtocolRequest, 'method'> & { method: ProtocolRequest['method'] | 'PUT' };

export interface FalEndpoint {
  /** `https://queue.fal.run` (another taskgate: `https://gateway.example/v1/queue`). */
  baseUrl: string;
  /** Sent as `Authorization: Key <apiKey>`; null sends none. */
  apiKey: string | null;
}

export type FalQueueStatus = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED';

/** fal endpoint ids whose first segment is a namespace (`workflows/owner/alias/...`). */
const NAMESPACES = new Set(['workflows', 'comfy']);

export function falAuth(apiKey: string | null | undefined): Record<string, string> {
  return apiKey ? { authorization: `Key ${apiKey}` } : {};
}

/** The app of an endpoint (`fal-ai/flux/dev` → `fal-ai/flux`; `workflows/o/a/x` → `workflows/o/a`). */
export function appOf(endpoint: string): string {
  const parts = endpoint.split('/').filter((p) => p !== '');
  const size = parts[0] !== undefined && NAMESPACES.has(parts[0]) ? 3 : 2;
  return parts.slice(0, size).join('/');
}

export interface FalRequestUrls {
  statusUrl: string;
  responseUrl: string;
  cancelUrl: string;
}

/** The URLs of a request built as the fal client builds them (when an answer lacks them). */
export function requestUrls(endpoint: FalEndpoint, model: string, requestId: string): FalRequestUrls {
  const responseUrl = joinUrl(endpoint.baseUrl, `${encodePath(appOf(model))}/requests/${encodeURIComponent(requestId)}`);
  return { responseUrl, statusUrl: `${responseUrl}/status`, cancelUrl: `${responseUrl}/cancel` };
}

/** `POST {base}/{endpoint}[?fal_webhook=…]` with the input as the body. */
export function submitRequest(endpoint: FalEndpoint, model: string, input: JsonObject, webhookUrl?: string | null): FalRequest {
  let url = joinUrl(endpoint.baseUrl, encodePath(model));
  if (webhookUrl) url += `?fal_webhook=${encodeURIComponent(webhookUrl)}`;
  return { method: 'POST', url, headers: falAuth(endpoint.apiKey), body: input };
}

/** `GET status_url`, with `?logs=1` when `logs`. */
export function statusRequest(endpoint: FalEndpoint, statusUrl: string, logs = false): FalRequest {
  const url = new URL(statusUrl);
  if (logs) url.searchParams.set('logs', '1');
  return { method: 'GET', url: url.toString(), headers: falAuth(endpoint.apiKey) };
}

/** `GET response_url`. */
export function resultRequest(endpoint: FalEndpoint, responseUrl: string): FalRequest {
  return { method: 'GET', url: responseUrl, headers: falAuth(endpoint.apiKey) };
}

/** `PUT cancel_url`. */
export function cancelRequest(endpoint: FalEndpoint, cancelUrl: string): FalRequest {
  return { method: 'PUT', url: cancelUrl, headers: falAuth(endpoint.apiKey) };
}

export interface FalSubmitted extends Partial<FalRequestUrls> {
  requestId: string;
  status: FalQueueStatus | null;
  queuePosition: number | null;
}

const STATUSES: ReadonlySet<string> = new Set(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
const isStatus = (v: unknown): v is FalQueueStatus => typeof v === 'string' && STATUSES.has(v);
const httpUrl = (v: unknown): string | undefined => {
  const s = str(v);
  return s !== undefined && /^https?:\/\//i.test(s) ? s : undefined;
};

/** A submit answer; null without a `request_id`. URLs missing from it are left undefined. */
export function parseSubmitted(body: unknown): FalSubmitted | null {
  if (!isObject(body)) return null;
  const requestId = str(body.request_id);
  if (requestId === undefined) return null;
  const out: FalSubmitted = { requestId, status: isStatus(body.status) ? body.status : null, queuePosition: num(body.queue_position) ?? null };
  const statusUrl = httpUrl(body.status_url);
  const responseUrl = httpUrl(body.response_url);
  const cancelUrl = httpUrl(body.cancel_url);
  if (statusUrl) out.statusUrl = statusUrl;
  if (responseUrl) out.responseUrl = responseUrl;
  if (cancelUrl) out.cancelUrl = cancelUrl;
  return out;
}

export interface FalLog {
  message: string;
  level: string | null;
  timestamp: string | null;
}

export interface FalStatus {
  status: FalQueueStatus;
  queuePosition: number | null;
  logs: FalLog[];
  /** Set on a COMPLETED request that failed. */
  error: string | null;
  /** The machine type of the failure (`request_timeout`, `content_policy_violation` …), when given. */
  errorType: string | null;
}

/** A status answer; null when it is not one. */
export function parseStatus(body: unknown): FalStatus | null {
  if (!isObject(body) || !isStatus(body.status)) return null;
  const logs: FalLog[] = [];
  if (Array.isArray(body.logs)) {
    for (const l of body.logs) {
      if (isObject(l) && typeof l.message === 'string') logs.push({ message: l.message, level: str(l.level) ?? null, timestamp: str(l.timestamp) ?? null });
    }
  }
  const error = typeof body.error === 'string' ? body.error : isObject(body.error) ? (str(body.error.message) ?? JSON.stringify(body.error)) : null;
  return { status: body.status, queuePosition: num(body.queue_position) ?? null, logs, error: error === '' ? null : error, errorType: str(body.error_type) ?? null };
}

/**
 * Progress from log lines, as far as they tell: the last tqdm-style percentage (`76%|███ | 7/10`)
 * or the last `step i/n`; null otherwise.
 */
export function progressFromLogs(logs: readonly FalLog[]): number | null {
  for (let i = logs.length - 1; i >= 0; i--) {
    const line = logs[i]?.message ?? '';
    const pct = /^\s*(\d{1,3})%\s*\|/.exec(line);
    if (pct?.[1]) return Math.min(100, Number(pct[1])) / 100;
    const step = /\bstep\s+(\d+)\s*\/\s*(\d+)/i.exec(line);
    if (step?.[1] && step[2] && Number(step[2]) > 0) return Math.min(1, Number(step[1]) / Number(step[2]));
  }
  return null;
}

export interface FalFile {
  url: string;
  contentType?: string;
  fileName?: string;
  width?: number;
  height?: number;
}

/**
 * Every file of a result, found generically: any object with an http(s) `url` (fal's `Image`
 * `{url, content_type, width, height}` and `File` `{url, content_type, file_name, file_size}`),
 * under any key (`images`, `image`, `video`, `audio`, `audio_file` …), depth-first, each URL once.
 */
export function resultFiles(body: JsonValue): FalFile[] {
  const files: FalFile[] = [];
  const seen = new Set<string>();
  const visit = (value: JsonValue, depth: number): void => {
    if (depth > 8) return;
    if (Array.isArray(value)) {
      for (const v of value) visit(v, depth + 1);
      return;
    }
    if (!isObject(value)) return;
    const url = httpUrl(value.url);
    if (url !== undefined) {
      if (seen.has(url)) return;
      seen.add(url);
      const file: FalFile = { url };
      const type = str(value.content_type);
      const name = str(value.file_name);
      const width = num(value.width);
      const height = num(value.height);
      if (type !== undefined) file.contentType = type;
      if (name !== undefined) file.fileName = name;
      if (width !== undefined) file.width = width;
      if (height !== undefined) file.height = height;
      files.push(file);
      return;
    }
    for (const v of Object.values(value)) visit(v, depth + 1);
  };
  visit(body, 0);
  return files;
}

export interface FalError {
  /** `error_type` / `X-Fal-Error-Type`, or the first model error's `type`; null when none is given. */
  errorType: string | null;
  message: string;
  /** A model error (`detail` as a list of `{loc, msg, type}`), like a 422 validation failure. */
  modelError: boolean;
  /** Some error is a content policy violation (moderation). */
  policyViolation: boolean;
}

const POLICY = 'content_policy_violation';

/**
 * A fal error answer: request errors `{detail: string, error_type}` (+ `X-Fal-Error-Type`),
 * model errors `{detail: [{loc, msg, type}]}`, and the gateway envelope `{error: {code, message}}`
 * (auth, rate limit). Null when the body carries none of them and there is no error-type header.
 */
export function parseError(body: unknown, headerErrorType?: string | null): FalError | null {
  const header = headerErrorType ? headerErrorType.trim() : '';
  const obj = isObject(body) ? body : {};
  const bodyType = str(obj.error_type);
  if (Array.isArray(obj.detail)) {
    const items = obj.detail.filter(isObject);
    const types = items.map((i) => str(i.type)).filter((t): t is string => t !== undefined);
    const message = items.map((i) => str(i.msg)).filter((m) => m !== undefined).join('; ') || 'Model error';
    const errorType = header || bodyType || (types.includes(POLICY) ? POLICY : types[0]) || null;
    return { errorType, message, modelError: true, policyViolation: types.includes(POLICY) || errorType === POLICY };
  }
  let message = str(obj.detail);
  if (message === undefined && isObject(obj.error)) message = str(obj.error.message) ?? str(obj.error.code);
  if (message === undefined && typeof obj.error === 'string') message = obj.error;
  const errorType = header || bodyType || null;
  if (message === undefined && errorType === null) return null;
  return { errorType, message: message ?? errorType ?? 'Request failed', modelError: false, policyViolation: errorType === POLICY };
}

export type FalCancelOutcome = 'CANCELLATION_REQUESTED' | 'ALREADY_COMPLETED' | 'NOT_FOUND';

/** The `status` of a cancel answer; null when absent. */
export function parseCancel(body: unknown): FalCancelOutcome | null {
  const s = isObject(body) ? body.status : undefined;
  return s === 'CANCELLATION_REQUESTED' || s === 'ALREADY_COMPLETED' || s === 'NOT_FOUND' ? s : null;
}

export interface FalWebhook {
  requestId: string;
  gatewayRequestId: string | null;
  status: 'OK' | 'ERROR';
  payload: JsonValue;
  error: string | null;
}

/** A webhook body fal POSTs when a request completes; null when it is not one. */
export function parseWebhook(body: unknown): FalWebhook | null {
  if (!isObject(body)) return null;
  const requestId = str(body.request_id);
  if (requestId === undefined || (body.status !== 'OK' && body.status !== 'ERROR')) return null;
  return {
    requestId, gatewayRequestId: str(body.gateway_request_id) ?? null, status: body.status,
    payload: body.payload ?? null, error: typeof body.error === 'string' ? body.error : null,
  };
}
