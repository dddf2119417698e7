/**
 * The SDK's one error type. Every failure a client call can reject with is a {@link TaskgateError}:
 * an HTTP error answer (mapped from the dialect's own envelope by its driver), a network failure,
 * a request timeout, an abort, a `wait` that ran out of time, or an answer the SDK cannot read.
 */
import type { Dialect } from './types.js';

/**
 * The codes a {@link TaskgateError} carries. HTTP errors use the task API's vocabulary (taskgate's
 * own) in every dialect, so one `switch` works whichever dialect a client speaks; the dialect's
 * own code is kept in {@link TaskgateError.wireCode}. The last group is the SDK's own.
 */
export type TaskgateErrorCode =
  // HTTP answers (the task API's codes; other dialects are mapped onto them)
  | 'bad_request' | 'no_token' | 'api_not_implemented' | 'invalid_token' | 'token_expired' | 'token_mismatched'
  | 'disabled' | 'used_up' | 'forbidden' | 'no_api' | 'not_found' | 'already_completed' | 'conflict'
  | 'idempotency_mismatch' | 'too_many_requests' | 'api_error' | 'timeout' | 'http_error'
  // the SDK's own
  | 'network_error' | 'request_timeout' | 'aborted' | 'service_required' | 'invalid_response' | 'invalid_argument'
  | 'webhook_headers' | 'webhook_timestamp' | 'webhook_signature'
  // a code the platform sent that is not in this list (a service's own)
  | (string & {});

export interface TaskgateErrorInit {
  code: TaskgateErrorCode;
  /** The HTTP status; 0 when no answer was received (network, timeout, abort) or none applies. */
  status: number;
  message: string;
  traceId?: string | null;
  requestId?: string | null;
  retryable?: boolean;
  dialect?: Dialect | null;
  wireCode?: string | null;
  body?: unknown;
  retryAfterMs?: number | null;
  cause?: unknown;
}

/**
 * A failed call. `code` is stable across dialects (see {@link TaskgateErrorCode}); `status` is the
 * HTTP status (0 for network errors, timeouts and aborts); `traceId` / `requestId` are what the
 * platform's support asks for.
 *
 * @example
 * ```ts
 * try {
 *   await client.submit('flux/dev', { prompt: '' });
 * } catch (err) {
 *   if (err instanceof TaskgateError && err.code === 'bad_request') console.error(err.message, err.traceId);
 *   else throw err;
 * }
 * ```
 */
export class TaskgateError extends Error {
  override readonly name = 'TaskgateError';
  readonly code: TaskgateErrorCode;
  readonly status: number;
  /** The platform's trace id of the request (task API / APIXO `trace_id`, taskgate's `x-trace-id`). */
  readonly traceId: string | null;
  /** The platform's request id (`x-request-id`, the fal queue's `request_id`). */
  readonly requestId: string | null;
  /** Whether trying again later may succeed (429, 5xx, network errors, timeouts). */
  readonly retryable: boolean;
  readonly dialect: Dialect | null;
  /** The dialect's own code (`UNAUTHORIZED`, `INSUFFICIENT_CREDITS`, a problem title …), when it gave one. */
  readonly wireCode: string | null;
  /** The error answer's body as received (parsed JSON, or text). */
  readonly body: unknown;
  /** The answer's `Retry-After`, in ms, when it had one. */
  readonly retryAfterMs: number | null;

  constructor(init: TaskgateErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    this.traceId = init.traceId ?? null;
    this.requestId = init.requestId ?? null;
    this.retryable = init.retryable ?? isRetryableStatus(init.status);
    this.dialect = init.dialect ?? null;
    this.wireCode = init.wireCode ?? null;
    this.body = init.body;
    this.retryAfterMs = init.retryAfterMs ?? null;
  }
}

/** 429 and 5xx: worth another try later. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** The code an HTTP status means when the envelope names none of the task API's codes. */
export function codeForStatus(status: number): TaskgateErrorCode {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return 'bad_request';
    case 401:
      return 'invalid_token';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 408:
      return 'request_timeout';
    case 409:
      return 'conflict';
    case 429:
      return 'too_many_requests';
    case 504:
      return 'timeout';
    default:
      return status >= 500 ? 'api_error' : 'http_error';
  }
}

/** `Retry-After` (delta seconds or an HTTP date) in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** The error of an abort: `code: 'aborted'`, the signal's reason kept as `cause`. */
export function abortError(signal: AbortSignal | undefined, dialect: Dialect | null = null): TaskgateError {
  const reason: unknown = signal?.reason;
  const detail = reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : '';
  return new TaskgateError({ code: 'aborted', status: 0, message: `The operation was aborted${detail}`, retryable: false, dialect, cause: reason });
}
