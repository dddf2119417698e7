/**
 * The task API's callback bodies (seeds 000/001): a finished task is POSTed as the success
 * envelope — `{success: true, task_id, trace_id, …}` with the same business fields as the
 * synchronous success body of its service's shape — or the failure envelope `{success: false,
 * task_id, trace_id, error: {code, message}}` (a cancelled task: code `cancelled`).
 */
import type { Task } from '../../core/types.js';
import { isTerminal } from '../../core/types.js';
import type { WebhookRenderer } from '../../webhooks/types.js';
import { failureBody, retrieveItem, successBody, type TaskApiShape } from './render.js';

/** The renderer, given how each service's results are shaped (config `services.*.shape`). */
export function taskApiWebhook(shapeOf: (service: string) => TaskApiShape): WebhookRenderer {
  return (task, _event, _base, extras) => {
    if (task.state === 'succeeded') return successBody(task, shapeOf(task.service), extras.links);
    if (isTerminal(task.state)) return failureBody(withError(task));
    // Only `completed` is ever asked for in this dialect; an unfinished task is shown as `retrieve`
    // shows it (no `success` field, so no receiver mistakes it for a result).
    return retrieveItem(task, shapeOf(task.service), extras.links);
  };
}

function withError(task: Task): Task {
  if (task.error) return task;
  return { ...task, error: task.state === 'cancelled' ? { code: 'cancelled', message: 'The task was cancelled' } : null };
}
