/**
 * Renders tasks in the task API's wire shapes (seeds 000, 001, 003): the synchronous success body
 * per service shape, the failure envelope, the error envelope and the `retrieve` item.
 */
import { actionsOf } from '../../core/follow-ups.js';
import type { JsonObject, Task } from '../../core/types.js';
import type { FileLinks } from '../../http/file-links.js';
import { fileUrl } from '../../http/request.js';

export type TaskApiShape = 'midjourney' | 'suno' | 'video' | 'generic';

const seconds = (ms: number): number => ms / 1000;

function businessFields(task: Task, shape: TaskApiShape, links: FileLinks): JsonObject {
  const output = task.output ?? { files: [] };
  const files = output.files;
  const finished = seconds(task.finishedAt ?? task.createdAt);
  switch (shape) {
    case 'midjourney': {
      const image = files.find((f) => f.kind === 'image');
      return {
        image_id: image?.id ?? null,
        image_url: image ? fileUrl(image, links) : null,
        image_width: image?.width ?? null,
        image_height: image?.height ?? null,
        // The follow-ups this image offers (a create with `action` + this `image_id`).
        actions: actionsOf(task),
      };
    }
    case 'suno':
      return {
        data: files.map((f) => ({
          id: f.id,
          title: typeof output.data?.title === 'string' ? output.data.title : '',
          prompt: typeof output.data?.prompt === 'string' ? output.data.prompt : '',
          audio_url: fileUrl(f, links),
          duration: f.durationSec ?? null,
          state: 'succeeded',
          created_at: finished,
        })),
      };
    case 'video':
      return {
        data: files.map((f) => ({
          id: f.id,
          video_url: fileUrl(f, links),
          width: f.width ?? null,
          height: f.height ?? null,
          duration: f.durationSec ?? null,
          state: 'succeeded',
          created_at: seconds(task.createdAt),
          complete_at: finished,
        })),
      };
    case 'generic':
      return {
        data: files.map((f) => ({
          id: f.id,
          url: fileUrl(f, links),
          content_type: f.contentType,
          ...(f.width !== undefined ? { width: f.width } : {}),
          ...(f.height !== undefined ? { height: f.height } : {}),
          ...(f.durationSec !== undefined ? { duration: f.durationSec } : {}),
        })),
        ...(output.seed !== undefined ? { seed: output.seed } : {}),
      };
  }
}

/** The body a synchronous create returns on success (and `retrieve`'s `response`). */
export function successBody(task: Task, shape: TaskApiShape, links: FileLinks): JsonObject {
  return { success: true, task_id: task.id, trace_id: task.traceId, ...businessFields(task, shape, links) };
}

/** The failure envelope of a finished task (callback style: it carries `success: false`). */
export function failureBody(task: Task): JsonObject & { error: { code: string; message: string } } {
  const error = task.error ?? { code: 'api_error', message: 'Task failed' };
  return { success: false, task_id: task.id, trace_id: task.traceId, error: { code: error.code, message: error.message } };
}

/** The synchronous error envelope: no `success` field, only `error` and `trace_id`. */
export function errorBody(err: { code: string; message: string }, traceId: string, extra: JsonObject = {}): JsonObject {
  return { error: { code: err.code, message: err.message }, trace_id: traceId, ...extra };
}

/** The answer of an accepted asynchronous create. */
export function acceptedBody(task: Task): JsonObject {
  return { success: true, task_id: task.id, trace_id: task.traceId };
}

/** One `retrieve` item: no status field; completion is `finished_at` present / `response` set. */
export function retrieveItem(task: Task, shape: TaskApiShape, links: FileLinks): JsonObject {
  const item: JsonObject = { id: task.id, request: task.request, trace_id: task.traceId, created_at: seconds(task.createdAt) };
  if (task.startedAt !== null) item.started_at = seconds(task.startedAt);
  if (task.state === 'succeeded') item.response = successBody(task, shape, links);
  else if (task.state === 'failed' || task.state === 'cancelled') item.response = failureBody(task);
  if (task.finishedAt !== null) item.finished_at = seconds(task.finishedAt);
  if (task.progress !== null && task.finishedAt === null) item.progress = task.progress;
  return item;
}
