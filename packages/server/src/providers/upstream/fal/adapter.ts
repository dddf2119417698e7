/**
 * Upstream adapter for the fal queue (`https://queue.fal.run`, seed 004, and taskgate's own queue
 * dialect at `…/v1/queue`). The wire format lives in `@taskgate/client` (fal module); this file
 * translates it to the engine's model and classifies failures.
 *
 * - Submit: `POST {base}/{endpoint}` with the input (`?fal_webhook=` when taskgate has a callback
 *   URL; an upstream answering 400 "webhook not supported", as seed 004's does, created nothing
 *   and is sent the submit once more without it). fal has no idempotency key and no way to find a
 *   request by a client reference: `recovery: 'none'` (an unanswered submit ends the task, refunded).
 * - The returned `status_url`, `response_url` and `cancel_url` are kept in `ref.urls` and used as
 *   given (they drop the endpoint's subpath), moved onto the channel's origin if they name another
 *   host (the key goes nowhere else); built the fal client's way if an answer lacks them.
 * - Poll: one status request per task (`batchSize` 1, `?logs=1` for progress); a COMPLETED
 *   request's outputs come from its result (`GET response_url`): every object with a `url`.
 * - Cancel: `PUT cancel_url`; ALREADY_COMPLETED and NOT_FOUND are fine (nothing left to stop).
 *
 * | upstream                                                  | status                          |
 * |-----------------------------------------------------------|---------------------------------|
 * | IN_QUEUE                                                  | queued                          |
 * | IN_PROGRESS                                               | running (progress from logs)    |
 * | COMPLETED, result 2xx                                     | succeeded, outputs = result URLs|
 * | COMPLETED, result 202                                     | running (result not ready yet)  |
 * | COMPLETED + `error` / result error answer, by error type: |                                 |
 * |   content_policy_violation (or a model error saying so)   | failed `forbidden`              |
 * |   request_timeout, startup_timeout                        | failed `timeout`                |
 * |   validation_error, other model (422 detail list) errors  | failed `bad_request`            |
 * |   request_cancelled, client_cancelled                     | cancelled                       |
 * |   a taskgate error code (a chained taskgate)              | failed with that code           |
 * |   anything else (runtime_error, runner_* …, none)         | failed `api_error`              |
 * | status or result 404 (Request not found)                  | failed `api_error`: gone        |
 * | junk status / result, 5xx without an error type           | transient (polled again)        |
 *
 * Submit failures: moderation (`content_policy_violation`, or 400/403/422 whose detail speaks of
 * moderation: taskgate answers 403 "… content moderation") → rejected `forbidden`; 402 and 404
 * (the channel's account or endpoint, not the client's request) → unavailable (fail over); the
 * rest as http.ts classifies statuses.
 */
import { fal } from '@taskgate/client';
import { isErrorCode, type ErrorCode } from '../../../core/errors.js';
import type { JsonObject } from '../../../core/types.js';
import {
  UpstreamAmbiguous, UpstreamRejected, UpstreamUnavailable,
  type ChannelSettings, type UpstreamAdapter, type UpstreamCall, type UpstreamOutput, type UpstreamRef, type UpstreamStatus,
} from '../../../core/upstream.js';
import { failFromStatus, send, type Phase, type UpstreamResponse } from '../http.js';
import { onChannelOrigin } from '../origin.js';
import { settleAll } from '../settle.js';

export const PROTOCOL = 'fal';

/** Words of a content refusal in an error's text. */
const MODERATION = /moderation|content[ _-]?polic|nsfw|flagged/i;
const ERROR_TYPE_HEADER = 'x-fal-error-type';

const TYPE_CODES: Record<string, ErrorCode> = {
  content_policy_violation: 'forbidden',
  request_timeout: 'timeout',
  startup_timeout: 'timeout',
  validation_error: 'bad_request',
  runtime_error: 'api_error',
};
const CANCELLED_TYPES: ReadonlySet<string> = new Set(['request_cancelled', 'client_cancelled']);

const is2xx = (status: number): boolean => status >= 200 && status < 300;

/** A failure of a completed request, by its error type (table above). */
export function failureOf(errorType: string | null, message: string, raw: string): UpstreamStatus {
  if (errorType !== null && CANCELLED_TYPES.has(errorType)) return { state: 'cancelled', raw };
  const code: ErrorCode = errorType === null ? 'api_error' : (TYPE_CODES[errorType] ?? (isErrorCode(errorType) ? errorType : 'api_error'));
  const text = message || 'The upstream request failed';
  return { state: 'failed', raw, error: { code, message: code === 'api_error' && errorType !== null && errorType !== 'runtime_error' ? `${errorType}: ${text}` : text } };
}

function errorOf(res: UpstreamResponse): fal.FalError | null {
  return fal.parseError(res.json, res.headers.get(ERROR_TYPE_HEADER));
}

/** Throws what a non-2xx answer to a read means; at a poll a rejection says nothing about the task. */
function readFailed(res: UpstreamResponse, phase: Phase, what: string): never {
  try {
    failFromStatus(res, phase, `fal ${what}: ${errorOf(res)?.message ?? 'no error body'}`);
  } catch (err) {
    if (err instanceof UpstreamRejected) throw new UpstreamUnavailable(err.message);
    throw err;
  }
}

function submitFailed(res: UpstreamResponse): never {
  const error = errorOf(res);
  const message = `fal submit: ${error?.message ?? 'no error body'}`;
  const refusal = res.status === 400 || res.status === 403 || res.status === 422;
  const moderation = error !== null && (error.policyViolation || (refusal && MODERATION.test(error.message)));
  if (!moderation && (res.status === 402 || res.status === 404)) throw new UpstreamUnavailable(`${message} (HTTP ${res.status})`);
  failFromStatus(res, 'submit', message, moderation);
}

/** `seed` and `prompt` of a result (taskgate's renderers show them again). */
function keptFields(body: JsonObject): JsonObject {
  const kept: JsonObject = {};
  if (typeof body.seed === 'number') kept.seed = body.seed;
  if (typeof body.prompt === 'string') kept.prompt = body.prompt;
  return kept;
}

export function outputsOf(body: JsonObject): UpstreamOutput[] {
  return fal.resultFiles(body).map((f) => {
    const out: UpstreamOutput = { url: f.url };
    if (f.contentType) out.contentType = f.contentType;
    if (f.fileName) out.name = f.fileName;
    return out;
  });
}

export function createFalAdapter(settings: ChannelSettings): UpstreamAdapter {
  const endpoint: fal.FalEndpoint = { baseUrl: settings.baseUrl, apiKey: settings.apiKey };
  const timeout = settings.requestTimeoutMs;

  function urlsOf(ref: UpstreamRef): fal.FalRequestUrls {
    const model = typeof ref.data.endpoint === 'string' ? ref.data.endpoint : settings.model;
    const built = fal.requestUrls(endpoint, model, ref.id);
    return { statusUrl: ref.urls.status ?? built.statusUrl, responseUrl: ref.urls.response ?? built.responseUrl, cancelUrl: ref.urls.cancel ?? built.cancelUrl };
  }

  /** The result of a COMPLETED request; `status.error`, when set, already says it failed. */
  async function completed(ref: UpstreamRef, status: fal.FalStatus, call: UpstreamCall): Promise<UpstreamStatus> {
    const res = await send(fal.resultRequest(endpoint, urlsOf(ref).responseUrl), call, timeout, 'poll');
    if (res.status === 404) return gone('result');
    if (res.status === 202) return { state: 'running', raw: 'COMPLETED', progress: null };
    if (is2xx(res.status)) {
      if (status.error !== null) return failureOf(status.errorType, status.error, 'COMPLETED');
      if (typeof res.json !== 'object' || res.json === null || Array.isArray(res.json)) {
        throw new UpstreamUnavailable(`fal result: unreadable answer (HTTP ${res.status})`);
      }
      const body = res.json as JsonObject;
      return { state: 'succeeded', raw: 'COMPLETED', outputs: outputsOf(body), data: keptFields(body) };
    }
    const error = errorOf(res);
    // A rate limit or a refused key is about the channel, not the request: polled again later.
    if (res.status === 429 || res.status === 401 || (res.status === 403 && !error?.policyViolation)) readFailed(res, 'poll', 'result');
    // A failure of the request itself, not of the way to it (a proxy's 502 says nothing of the task).
    const isTaskFailure = error !== null && (error.errorType !== null || error.modelError || status.error !== null || res.status < 500);
    if (!isTaskFailure) {
      if (status.error !== null) return failureOf(status.errorType, status.error, 'COMPLETED');
      readFailed(res, 'poll', 'result');
    }
    if (error.policyViolation) return failureOf('content_policy_violation', error.message, 'COMPLETED');
    if (error.modelError) return { state: 'failed', raw: 'COMPLETED', error: { code: 'bad_request', message: error.message } };
    return failureOf(error.errorType ?? status.errorType, status.error ?? error.message, 'COMPLETED');
  }

  async function pollOne(ref: UpstreamRef, call: UpstreamCall): Promise<UpstreamStatus> {
    const res = await send(fal.statusRequest(endpoint, urlsOf(ref).statusUrl, true), call, timeout, 'poll');
    if (res.status === 404) return gone('status');
    if (!is2xx(res.status)) readFailed(res, 'poll', 'status');
    const status = fal.parseStatus(res.json);
    if (!status) throw new UpstreamUnavailable(`fal status: unreadable answer (HTTP ${res.status})`);
    switch (status.status) {
      case 'IN_QUEUE':
        return { state: 'queued', raw: 'IN_QUEUE', progress: null };
      case 'IN_PROGRESS':
        return { state: 'running', raw: 'IN_PROGRESS', progress: fal.progressFromLogs(status.logs) };
      case 'COMPLETED':
        // The status's error type is enough to end a failed request; without one, the result tells.
        if (status.error !== null && status.errorType !== null) return failureOf(status.errorType, status.error, 'COMPLETED');
        return completed(ref, status, call);
    }
  }

  return {
    protocol: PROTOCOL,
    recovery: 'none',
    batchSize: 1,

    async submit(req, call) {
      const attempt = (webhook: string | null) => send(fal.submitRequest(endpoint, settings.model, req.input, webhook), call, timeout, 'submit');
      let res = await attempt(req.callbackUrl);
      if (res.status === 400 && req.callbackUrl !== null && /webhook not supported/i.test(errorOf(res)?.message ?? '')) {
        call.log.info({ channel: settings.name }, 'the upstream takes no fal_webhook; submitting for polling only');
        res = await attempt(null);
      }
      if (!is2xx(res.status)) submitFailed(res);
      const submitted = fal.parseSubmitted(res.json);
      // It answered, but not with a request id: it may have queued the request all the same.
      if (!submitted) throw new UpstreamAmbiguous(`fal submit: HTTP ${res.status} without a request_id`);
      const built = fal.requestUrls(endpoint, settings.model, submitted.requestId);
      const own = (url: string | undefined, fallback: string): string => (url === undefined ? fallback : onChannelOrigin(url, settings.baseUrl));
      return {
        id: submitted.requestId,
        urls: { status: own(submitted.statusUrl, built.statusUrl), response: own(submitted.responseUrl, built.responseUrl), cancel: own(submitted.cancelUrl, built.cancelUrl) },
        data: { endpoint: settings.model },
      };
    },

    poll(refs, call) {
      return settleAll(refs.map((ref) => async () => new Map([[ref.id, await pollOne(ref, call)]])), call, PROTOCOL);
    },

    async cancel(ref, call) {
      const res = await send(fal.cancelRequest(endpoint, urlsOf(ref).cancelUrl), call, timeout, 'cancel');
      if (is2xx(res.status) || res.status === 404) return;
      const outcome = fal.parseCancel(res.json);
      if (outcome === 'ALREADY_COMPLETED' || outcome === 'NOT_FOUND') return;
      failFromStatus(res, 'cancel', `fal cancel: ${errorOf(res)?.message ?? 'no error body'}`);
    },
  };
}

/** Seed 004: "404 Request not found: do not keep retrying" — the request is gone upstream. */
function gone(what: string): UpstreamStatus {
  return { state: 'failed', raw: 'NOT_FOUND', error: { code: 'api_error', message: `The upstream no longer knows the request (${what}: 404 Request not found)` } };
}
