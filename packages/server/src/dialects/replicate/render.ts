/**
 * Renders tasks as Replicate prediction objects: `{id, model, version, input, logs, output,
 * data_removed, error, status, created_at, started_at, completed_at, urls, metrics?, source}`.
 * ISO timestamps; `output` is an array of file URLs for image models (like flux-dev) and a single
 * URL for a model that produced one audio or video file (like musicgen or video models).
 */
import type { JsonObject, JsonValue, Task, TaskLog, TaskState } from '../../core/types.js';
import { isJsonObject, isTerminal } from '../../core/types.js';
import type { FileLinks } from '../../http/file-links.js';
import { fileUrl } from '../../http/request.js';
import type { ModelRef } from './models.js';

export type PredictionStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';

export const STATUS: Record<TaskState, PredictionStatus> = {
  queued: 'starting',
  running: 'processing',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'canceled',
};

export interface RenderOptions {
  /** Signs output file URLs under the gateway's base URL. */
  links: FileLinks;
  /** Where this dialect is mounted, absolute (`https://host/v1`), for `urls`. */
  apiRoot: string;
  /** The task's provider log lines; null leaves `logs` out (lists, like Replicate's). */
  logs: TaskLog[] | null;
  /** The capability URL of the SSE stream; null leaves `urls.stream` out. */
  streamUrl: string | null;
  /** Report a non-terminal task as `starting` (a create answer: never `processing`). */
  startingUnlessDone?: boolean;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const seconds = (ms: number): number => Math.round(ms) / 1000;

/** The input as the client sent it (Replicate echoes it); the provider input for other dialects. */
function inputOf(task: Task, dialect: string): JsonObject {
  const sent = task.request.input;
  return task.dialect === dialect && isJsonObject(sent) ? sent : task.input;
}

export function outputOf(task: Task, links: FileLinks): JsonValue {
  if (task.state !== 'succeeded' || !task.output) return null;
  const files = task.output.files;
  const urls = files.map((f) => fileUrl(f, links));
  const [only] = files;
  if (files.length === 1 && only && only.kind !== 'image') return urls[0] ?? null;
  return urls;
}

export function prediction(task: Task, model: ModelRef, dialect: string, opts: RenderOptions): JsonObject {
  const status = opts.startingUnlessDone && !isTerminal(task.state) ? 'starting' : STATUS[task.state];
  const urls: JsonObject = {
    get: `${opts.apiRoot}/predictions/${task.id}`,
    cancel: `${opts.apiRoot}/predictions/${task.id}/cancel`,
  };
  if (opts.streamUrl !== null) urls.stream = opts.streamUrl;
  const body: JsonObject = {
    id: task.id,
    model: model.name,
    version: model.version,
    input: inputOf(task, dialect),
  };
  if (opts.logs !== null) body.logs = opts.logs.map((l) => l.message).join('\n');
  Object.assign(body, {
    output: outputOf(task, opts.links),
    data_removed: false,
    error: task.state === 'failed' ? (task.error?.message ?? 'Prediction failed') : null,
    status,
    source: 'api',
    created_at: iso(task.createdAt),
    started_at: iso(task.startedAt),
    completed_at: iso(task.finishedAt),
    urls,
  });
  if (isTerminal(task.state) && task.finishedAt !== null) {
    body.metrics = {
      predict_time: task.startedAt === null ? 0 : seconds(task.finishedAt - task.startedAt),
      total_time: seconds(task.finishedAt - task.createdAt),
    };
  }
  return body;
}

/** A page of a listing: newest first, `next` is the URL of the following page (null at the end). */
export function page(results: JsonObject[], next: string | null): JsonObject {
  // `previous` stays null: the core lists only backwards (older than a cursor).
  return { previous: null, next, results };
}
