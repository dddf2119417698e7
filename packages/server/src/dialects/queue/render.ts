/**
 * Renders tasks in the queue dialect's wire shapes (seed 004, fal-compatible): the submit answer,
 * the status body, the result (fal flux-like for images; `audio` / `video` files otherwise) and
 * the failure of a finished task.
 */
import { statusForCode } from '../../core/errors.js';
import type { JsonObject, OutputFile, Task, TaskLog } from '../../core/types.js';
import type { FileLinks } from '../../http/file-links.js';
import { fileUrl } from '../../http/request.js';

export type QueueStatus = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED';

/** The URLs a client uses for one request; they point back at this gateway. */
export interface RequestUrls {
  response_url: string;
  status_url: string;
  cancel_url: string;
}

/** `{base}{prefix}/{app}/requests/{id}` and its `/status` and `/cancel`. */
export function requestUrls(base: string, prefix: string, app: string, id: string): RequestUrls {
  const response = `${base}${prefix}/${app}/requests/${encodeURIComponent(id)}`;
  return { response_url: response, status_url: `${response}/status`, cancel_url: `${response}/cancel` };
}

export function queueStatus(task: Task): QueueStatus {
  if (task.state === 'queued') return 'IN_QUEUE';
  if (task.state === 'running') return 'IN_PROGRESS';
  return 'COMPLETED';
}

/** What a status body adds to the task: its real queue position and (when asked) log lines. */
export interface StatusExtras {
  /** Queued tasks of the same service ahead of this one; used only while IN_QUEUE. */
  position: number;
  /** The log lines to include, or null when the client did not ask for them (`?logs=1`). */
  logs: TaskLog[] | null;
}

/** The answer of a submit. */
export function submitBody(task: Task, urls: RequestUrls, position: number): JsonObject {
  return { status: queueStatus(task), request_id: task.id, ...urls, queue_position: position };
}

/** The status body: `logs` is always present (null unless asked for); failures are COMPLETED + error. */
export function statusBody(task: Task, urls: RequestUrls, extras: StatusExtras): JsonObject {
  const status = queueStatus(task);
  const body: JsonObject = { status, request_id: task.id, ...urls };
  if (status === 'IN_QUEUE') body.queue_position = extras.position;
  body.logs = extras.logs === null ? null : extras.logs.map(renderLog);
  if (status === 'COMPLETED') {
    body.metrics = { inference_time: inferenceSeconds(task) };
    if (task.state !== 'succeeded') {
      const { message, errorType } = failureOf(task);
      body.error = message;
      body.error_type = errorType;
    }
  }
  return body;
}

function renderLog(log: TaskLog): JsonObject {
  return {
    message: log.message,
    level: log.level.toUpperCase(),
    source: 'USER',
    timestamp: new Date(log.at).toISOString(),
  };
}

/** Seconds the provider worked on the task (null if it never started). */
export function inferenceSeconds(task: Task): number | null {
  if (task.startedAt === null || task.finishedAt === null) return null;
  return Math.max(0, task.finishedAt - task.startedAt) / 1000;
}

/** The output of a succeeded task, shaped like fal's models render theirs. */
export function resultBody(task: Task, links: FileLinks): JsonObject {
  const output = task.output ?? { files: [] };
  const body: JsonObject = {};
  const images = output.files.filter((f) => f.kind === 'image');
  const audio = output.files.find((f) => f.kind === 'audio');
  const video = output.files.find((f) => f.kind === 'video');
  if (images.length > 0) {
    body.images = images.map((f) => ({ url: fileUrl(f, links), width: f.width ?? null, height: f.height ?? null, content_type: f.contentType }));
  }
  if (audio) body.audio = falFile(audio, links);
  if (video) body.video = falFile(video, links);
  body.timings = { inference: inferenceSeconds(task) };
  if (output.seed !== undefined) body.seed = output.seed;
  if (images.length > 0) body.has_nsfw_concepts = images.map(() => false);
  // Provider extras (prompt, title …) last, never overriding the fields above.
  for (const [key, value] of Object.entries(output.data ?? {})) if (!(key in body)) body[key] = value;
  return body;
}

/** fal's `File`: `{url, content_type, file_name, file_size}`. */
function falFile(file: OutputFile, links: FileLinks): JsonObject {
  return { url: fileUrl(file, links), content_type: file.contentType, file_name: file.path.split('/').pop() ?? '', file_size: file.bytes };
}

/** How a task failure is told: the result's HTTP status, the message and a machine error type. */
export interface Failure {
  status: number;
  message: string;
  errorType: string;
}

/**
 * fal reports input and content-policy rejections as 422 and infrastructure failures with
 * `error_type` (request_timeout → 504); other codes keep the gateway catalog's status.
 */
const FAILURE_TYPES: Record<string, { status?: number; errorType: string }> = {
  forbidden: { status: 422, errorType: 'content_policy_violation' },
  bad_request: { status: 422, errorType: 'validation_error' },
  timeout: { errorType: 'request_timeout' },
  cancelled: { errorType: 'request_cancelled' },
  api_error: { errorType: 'runtime_error' },
};

export function failureOf(task: Task): Failure {
  const error = task.error ?? { code: 'api_error', message: 'The request failed' };
  const known = FAILURE_TYPES[error.code];
  return { status: known?.status ?? statusForCode(error.code), message: error.message, errorType: known?.errorType ?? error.code };
}

/** The body a failed or cancelled task's result answers with (`{detail, error_type}`, as fal does). */
export function failureBody(failure: Failure): JsonObject {
  return { detail: failure.message, error_type: failure.errorType };
}
