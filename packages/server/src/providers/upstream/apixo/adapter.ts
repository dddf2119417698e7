/**
 * Upstream adapter for APIXO (seed 002, and taskgate's own `/api/v1` dialect). The wire format
 * lives in `@taskgate/client` (apixo module); this file translates and classifies.
 *
 * - Submit: `POST {base}/api/v1/generateTask/{model}` `{request_type, callback_url?, input}`.
 *   APIXO has no idempotency key and no way to find a task by a client reference, so an
 *   ambiguous submit cannot be recovered (`recovery: 'none'`: the engine ends the task, refunded).
 * - Poll: `GET {base}/api/v1/statusTask/{model}?taskId=`, one task a request (`batchSize` 1).
 * - Cancel: `POST /api/v1/cancelTask/{model} {taskId}`, a taskgate extension (APIXO has none; a
 *   platform without it refuses, which the poller logs: cancel is best effort).
 *
 * Answers are classified by the body's `code` (APIXO may send an error with HTTP 200), falling
 * back to the HTTP status: 2xx → success; 429 → rate limited (Retry-After); 5xx → unavailable
 * (a submit's 504: ambiguous); 401 / 403 → unavailable (the channel's key or credits), except a
 * content refusal (`data.failCode: CONTENT_VIOLATION`) → rejected `forbidden`; other 4xx →
 * rejected. A submit answered 2xx without a readable task id is ambiguous. On a poll, junk (no
 * envelope, unknown state, unreadable `resultJson`) is transient, and so is every error of the
 * request except a well-formed 404 envelope: the upstream does not know the task, which fails
 * (`api_error`) instead of being polled until its deadline.
 *
 * | `data.state` | `failCode`           | status                               |
 * |--------------|----------------------|--------------------------------------|
 * | pending      |                      | queued                               |
 * | processing   |                      | running                              |
 * | success      |                      | succeeded, outputs = `resultUrls`    |
 * | failed       | CONTENT_VIOLATION    | failed `forbidden`                   |
 * | failed       | PROCESSING_TIMEOUT   | failed `timeout`                     |
 * | failed       | TASK_CANCELLED       | cancelled                            |
 * | failed       | anything else / none | failed `api_error` (code in message) |
 */
import { apixo } from '@taskgate/client';
import type { ErrorCode } from '../../../core/errors.js';
import {
  UpstreamAmbiguous, UpstreamRejected, UpstreamUnavailable,
  type ChannelSettings, type UpstreamAdapter, type UpstreamCall, type UpstreamRef, type UpstreamStatus,
} from '../../../core/upstream.js';
import { failFromStatus, send, type Phase, type UpstreamResponse } from '../http.js';
import { settleAll } from '../settle.js';

export const PROTOCOL = 'apixo';

const FAILED_AS: Readonly<Record<string, ErrorCode>> = {
  [apixo.FAIL_CODES.contentViolation]: 'forbidden',
  [apixo.FAIL_CODES.processingTimeout]: 'timeout',
};

export function createApixoAdapter(settings: ChannelSettings): UpstreamAdapter {
  const endpoint: apixo.ApixoEndpoint = { baseUrl: settings.baseUrl, apiKey: settings.apiKey };
  const modelOf = (ref: UpstreamRef): string => (typeof ref.data.model === 'string' ? ref.data.model : settings.model);

  async function pollOne(ref: UpstreamRef, call: UpstreamCall): Promise<Map<string, UpstreamStatus>> {
    const res = await send(apixo.statusTaskRequest(endpoint, modelOf(ref), ref.id), call, settings.requestTimeoutMs, 'poll');
    const envelope = apixo.parseEnvelope(res.json);
    if (apixo.isSuccess(res.status, envelope)) {
      const task = apixo.parseStatus(envelope.data);
      if (!task || task.taskId !== ref.id) throw new UpstreamUnavailable(`APIXO statusTask: unreadable task status (HTTP ${res.status})`);
      return new Map([[ref.id, toStatus(task)]]);
    }
    const status = apixo.effectiveStatus(res.status, envelope);
    if (status === 404 && envelope !== null) {
      const { message } = apixo.parseError(envelope);
      return new Map([[ref.id, { state: 'failed', raw: 'not_found', error: { code: 'api_error', message: `The upstream does not know the task: ${message}` } }]]);
    }
    try {
      answerFailed(res, envelope, 'poll');
    } catch (err) {
      // Only the task's own status may end it; an error of the request is polled again later.
      if (err instanceof UpstreamRejected) throw new UpstreamUnavailable(err.message);
      throw err;
    }
  }

  return {
    protocol: PROTOCOL,
    recovery: 'none',
    batchSize: 1,

    async submit(req, call) {
      const request = apixo.generateTaskRequest(endpoint, settings.model, req.input, { callbackUrl: req.callbackUrl });
      const res = await send(request, call, settings.requestTimeoutMs, 'submit');
      const envelope = apixo.parseEnvelope(res.json);
      if (!apixo.isSuccess(res.status, envelope)) answerFailed(res, envelope, 'submit');
      const taskId = apixo.parseSubmitted(envelope);
      if (taskId === null) throw new UpstreamAmbiguous(`APIXO generateTask: HTTP ${res.status}, code ${envelope.code} without a taskId`);
      return { id: taskId, urls: {}, data: { model: settings.model } };
    },

    async poll(refs, call) {
      return settleAll(refs.map((ref) => () => pollOne(ref, call)), call, PROTOCOL);
    },

    async cancel(ref, call) {
      const res = await send(apixo.cancelTaskRequest(endpoint, modelOf(ref), ref.id), call, settings.requestTimeoutMs, 'cancel');
      const envelope = apixo.parseEnvelope(res.json);
      if (apixo.isSuccess(res.status, envelope)) return;
      const message = envelope ? apixo.parseError(envelope).message : 'no envelope';
      failFromStatus({ ...res, status: apixo.effectiveStatus(res.status, envelope) }, 'cancel', `APIXO cancelTask: ${message}`);
    },
  };
}

/** Throws the typed error an unsuccessful answer means (see the top of the file). */
function answerFailed(res: UpstreamResponse, envelope: apixo.Envelope | null, phase: Phase): never {
  const what = phase === 'submit' ? 'APIXO generateTask' : 'APIXO statusTask';
  const status = apixo.effectiveStatus(res.status, envelope);
  if (status < 400) {
    // 2xx (or a stray 1xx/3xx) whose body is not a success envelope: junk.
    const detail = `${what}: unreadable answer (HTTP ${res.status}${envelope ? `, code ${envelope.code}` : ''})`;
    throw phase === 'submit' ? new UpstreamAmbiguous(detail) : new UpstreamUnavailable(detail);
  }
  const error = envelope ? apixo.parseError(envelope) : null;
  const message = `${what}: ${error ? `${error.message}${error.failCode ? ` (${error.failCode})` : ''}` : 'no envelope'}`;
  const moderation = error?.failCode === apixo.FAIL_CODES.contentViolation;
  failFromStatus({ ...res, status }, phase, res.status === status ? message : `${message}, HTTP ${res.status}`, moderation);
}

/** One task status → the engine's status (table at the top). */
export function toStatus(task: apixo.ApixoTask): UpstreamStatus {
  switch (task.state) {
    case 'pending':
      return { state: 'queued', raw: task.state, progress: null };
    case 'processing':
      return { state: 'running', raw: task.state, progress: null };
    case 'success':
      return { state: 'succeeded', raw: task.state, outputs: task.resultUrls.map((url) => ({ url })) };
    case 'failed': {
      const failCode = task.failCode ?? '';
      if (failCode === apixo.FAIL_CODES.taskCancelled) return { state: 'cancelled', raw: `failed:${failCode}` };
      const code = FAILED_AS[failCode] ?? 'api_error';
      const detail = task.failMsg ?? 'Upstream task failed';
      const message = code === 'api_error' && failCode !== '' ? `${failCode}: ${detail}` : detail;
      return { state: 'failed', raw: failCode === '' ? 'failed' : `failed:${failCode}`, error: { code, message } };
    }
  }
}
