/**
 * The fal webhook body: `{request_id, gateway_request_id, status: "OK" | "ERROR", payload, error}`.
 * On success `payload` is the result (what `GET …/requests/{id}` answers) and `error` is null; on a
 * failure or cancellation `error` is the message and `payload` the error detail, as the result
 * endpoint answers it (`{detail, error_type}`). The gateway never retries a request under a new
 * id, so `gateway_request_id` equals `request_id`.
 */
import { isTerminal } from '../../core/types.js';
import type { WebhookRenderer } from '../../webhooks/types.js';
import { failureBody, failureOf, queueStatus, resultBody } from './render.js';

export const queueWebhook: WebhookRenderer = (task, _event, _base, extras) => {
  const ids = { request_id: task.id, gateway_request_id: task.id };
  if (task.state === 'succeeded') return { ...ids, status: 'OK', payload: resultBody(task, extras.links), error: null };
  if (isTerminal(task.state)) {
    const failure = failureOf(task);
    return { ...ids, status: 'ERROR', payload: failureBody(failure), error: failure.message };
  }
  // fal only calls back when a request is done; an unfinished one says where it is.
  return { ...ids, status: queueStatus(task), payload: null, error: null };
};
