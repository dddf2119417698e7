/**
 * Renders tasks and errors in APIXO's wire shapes (seed 002): every body is `{code, message,
 * data}` with `code` mirroring the HTTP status; task status carries `state`, a `resultJson`
 * *string*, Unix-millisecond times and UPPER_SNAKE failure codes.
 */
import type { GatewayError } from '../../core/errors.js';
import type { JsonObject, Task, TaskState } from '../../core/types.js';
import type { FileLinks } from '../../http/file-links.js';
import { fileUrl } from '../../http/request.js';

export type ApixoState = 'pending' | 'processing' | 'success' | 'failed';

export interface Envelope {
  code: number;
  message: string;
  data: JsonObject;
}

const STATES: Record<TaskState, ApixoState> = {
  queued: 'pending',
  running: 'processing',
  succeeded: 'success',
  failed: 'failed',
  cancelled: 'failed',
};

/** Internal error codes → APIXO failure codes; anything else is a generic GENERATION_FAILED. */
const FAIL_CODES: Readonly<Record<string, string>> = {
  forbidden: 'CONTENT_VIOLATION',
  timeout: 'PROCESSING_TIMEOUT',
  cancelled: 'TASK_CANCELLED',
  used_up: 'INSUFFICIENT_CREDITS',
  disabled: 'MODEL_UNAVAILABLE',
  no_api: 'MODEL_UNAVAILABLE',
};

export function failCode(internalCode: string): string {
  return FAIL_CODES[internalCode] ?? 'GENERATION_FAILED';
}

/** The HTTP statuses APIXO documents; other statuses are folded into 400 or 500. */
const STATUS_MESSAGES: Readonly<Record<number, string>> = {
  400: 'Invalid request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  429: 'Too many requests',
  500: 'Server error',
  503: 'Service unavailable',
};

/** The HTTP status (and body `code`) an error answers with in this dialect. */
export function apixoStatus(err: GatewayError): number {
  // APIXO answers a missing API key like a wrong one: 401 (the task API uses 400 no_token).
  if (err.code === 'no_token') return 401;
  if (STATUS_MESSAGES[err.status] !== undefined) return err.status;
  return err.status < 500 ? 400 : 500;
}

export function success(data: JsonObject): Envelope {
  return { code: 200, message: 'success', data };
}

/**
 * Refusals that APIXO names with one of its failure codes: a client that checks `failCode` sees
 * the same code whether the gateway refused the create or the upstream failed the task.
 */
const REFUSAL_FAIL_CODES: ReadonlySet<string> = new Set(['forbidden', 'used_up']);

/** The error envelope: `{code, message, data: {error}}` (seed 002's error example), plus `failCode` for refusals. */
export function errorEnvelope(err: GatewayError): { status: number; body: Envelope } {
  const status = apixoStatus(err);
  const data: JsonObject = { error: err.message };
  if (REFUSAL_FAIL_CODES.has(err.code)) data.failCode = failCode(err.code);
  return { status, body: { code: status, message: STATUS_MESSAGES[status] ?? 'Error', data } };
}

/**
 * `data` of a status answer (and of a callback delivery, and of a cancelTask answer), in the
 * seed's field order; a processing task adds `progress` (a taskgate extension). Built by
 * adding fields to one object: on Node 20 `{ ...head, more }` costs ~1 µs per poll.
 */
export function statusData(task: Task, links: FileLinks): JsonObject {
  const data: JsonObject = { taskId: task.id, state: STATES[task.state] };
  const completeTime = task.finishedAt;
  if (task.state === 'succeeded' && completeTime !== null) {
    const urls = (task.output?.files ?? []).map((f) => fileUrl(f, links));
    data.resultJson = JSON.stringify({ resultUrls: urls });
    data.costTime = completeTime - task.createdAt;
    data.createTime = task.createdAt;
    data.completeTime = completeTime;
    return data;
  }
  if (task.state === 'failed' || task.state === 'cancelled') {
    const error = task.error ?? { code: task.state === 'cancelled' ? 'cancelled' : 'api_error', message: 'Task failed' };
    data.failCode = failCode(error.code);
    data.failMsg = error.message;
    data.createTime = task.createdAt;
    if (completeTime !== null) data.completeTime = completeTime;
    return data;
  }
  data.createTime = task.createdAt;
  // A taskgate extension: how far a processing task is (0..1), once its provider has reported.
  if (task.state === 'running' && task.progress !== null) data.progress = task.progress;
  return data;
}
