/**
 * The fal queue driver (`POST {base}/{endpoint}`, `…/requests/{id}/status[/stream]`,
 * `…/requests/{id}`, `PUT …/requests/{id}/cancel`), over the fal protocol module.
 *
 * - Status: `IN_QUEUE` → queued (with `queue_position`), `IN_PROGRESS` → running, `COMPLETED` →
 *   succeeded, or failed when it carries `error` (`error_type: request_cancelled` → cancelled).
 * - Progress: from the log lines (`?logs=1`: tqdm percentages, `step i/n`); 1 once succeeded.
 * - Outputs: every `{url, content_type}` file of the result (`images`, `video`, `audio` …), read
 *   from `response_url` once COMPLETED; `raw` is then the result body (the status body before).
 * - Errors: `{detail}` / `{error: {code, message}, request_id}` / model errors; `request_id`.
 * - `stream()` reads `…/status/stream` (server-sent events), one status per change.
 * - The request URLs are under the app (`owner/alias`): reads need the service unless this client
 *   submitted the request (it then uses the URLs the submit answered).
 */
import { isObject, str } from '../../protocols/common.js';
import * as fal from '../../protocols/fal.js';
import { codeForStatus, TaskgateError, type TaskgateErrorCode } from '../errors.js';
import {
  finishedOr, getEach, headerIds, invalidResponse, is2xx, retryAfterOf, serviceOf, task, withKey,
  type CallContext, type Driver, type DriverContext, type SubmitContext,
} from '../driver.js';
import { readSse } from '../sse.js';
import type { WireResponse } from '../transport.js';
import type { Task } from '../types.js';

const CANCELLED_TYPE = 'request_cancelled';

/** A status body as a neutral task (a COMPLETED one without error: succeeded, outputs not yet read). */
export function taskFromStatus(id: string, st: fal.FalStatus, service: string | null, raw: unknown, logs: readonly fal.FalLog[] = st.logs): Task {
  switch (st.status) {
    case 'IN_QUEUE':
      return task(id, 'queued', raw, { service, queuePosition: st.queuePosition });
    case 'IN_PROGRESS':
      return task(id, 'running', raw, { service, progress: fal.progressFromLogs(logs) });
    case 'COMPLETED':
      if (st.error === null) return task(id, 'succeeded', raw, { service });
      return task(id, st.errorType === CANCELLED_TYPE ? 'cancelled' : 'failed', raw, {
        service, error: { code: st.errorType ?? 'request_failed', message: st.error },
      });
  }
}

/** A succeeded request's result body as a neutral task. */
export function taskFromResult(id: string, result: unknown, service: string | null): Task {
  const outputs = fal.resultFiles(isObject(result) || Array.isArray(result) ? result : null).map((f) => ({ url: f.url, contentType: f.contentType ?? null }));
  return task(id, 'succeeded', result, { service, outputs });
}

/** A webhook body (`{request_id, status: OK | ERROR, payload, error}`) as a neutral task; null when it is not one. */
export function taskFromWebhook(body: unknown): Task | null {
  const hook = fal.parseWebhook(body);
  if (!hook) return null;
  if (hook.status === 'OK') return { ...taskFromResult(hook.requestId, hook.payload, null), raw: body };
  const detail = fal.parseError(hook.payload);
  const code = detail?.errorType ?? 'request_failed';
  return task(hook.requestId, code === CANCELLED_TYPE ? 'cancelled' : 'failed', body, {
    error: { code, message: hook.error ?? detail?.message ?? 'The request failed' },
  });
}

export function queueDriver(d: DriverContext): Driver {
  const endpoint: fal.FalEndpoint = { baseUrl: d.baseUrl, apiKey: d.token };

  const falError = (res: WireResponse): TaskgateError => {
    const parsed = fal.parseError(res.body, res.headers.get('x-fal-error-type'));
    const body = isObject(res.body) ? res.body : {};
    const envelopeCode = isObject(body.error) ? str(body.error.code) : undefined;
    const message = parsed?.message ?? `HTTP ${res.status}`;
    let code: TaskgateErrorCode = codeForStatus(res.status);
    if (parsed?.policyViolation) code = 'forbidden';
    else if (res.status === 403 && /not allowed/i.test(message)) code = 'token_mismatched';
    else if (res.status === 404 && /^App not found/i.test(message)) code = 'no_api';
    const ids = headerIds(res);
    return new TaskgateError({
      code, status: res.status, dialect: d.dialect, body: res.body, message, traceId: ids.traceId,
      requestId: str(body.request_id) ?? res.headers.get('x-fal-request-id') ?? ids.requestId,
      wireCode: envelopeCode ?? parsed?.errorType ?? null, retryAfterMs: retryAfterOf(res),
    });
  };

  const urlsOf = (id: string, ctx: CallContext): fal.FalRequestUrls => {
    const urls = d.memory.get(id)?.urls;
    if (urls?.statusUrl && urls.responseUrl && urls.cancelUrl) return { statusUrl: urls.statusUrl, responseUrl: urls.responseUrl, cancelUrl: urls.cancelUrl };
    return fal.requestUrls(endpoint, serviceOf(d, id, ctx), id);
  };
  const serviceFor = (id: string, ctx: CallContext): string | null => d.memory.get(id)?.service ?? ctx.service ?? null;

  /** The result of a COMPLETED request without error. */
  const result = async (id: string, urls: fal.FalRequestUrls, ctx: CallContext): Promise<Task> => {
    const res = await d.transport.send(fal.resultRequest(endpoint, urls.responseUrl), 'read', ctx.signal);
    if (!is2xx(res.status) || res.status === 202) throw res.status === 202 ? invalidResponse(d, res, 'a completed fal result') : falError(res);
    return taskFromResult(id, res.body, serviceFor(id, ctx));
  };

  const driver: Driver = {
    async submit(service, input, ctx: SubmitContext) {
      const req = withKey(fal.submitRequest(endpoint, service, input, ctx.webhookUrl ?? null), ctx.idempotencyKey);
      const res = await d.transport.send(req, ctx.idempotencyKey === null ? 'create' : 'keyed-create', ctx.signal);
      if (!is2xx(res.status)) throw falError(res);
      const sub = fal.parseSubmitted(res.body);
      if (!sub) throw invalidResponse(d, res, 'an accepted fal queue submit');
      const urls: Record<string, string> = {};
      if (sub.statusUrl) urls.statusUrl = sub.statusUrl;
      if (sub.responseUrl) urls.responseUrl = sub.responseUrl;
      if (sub.cancelUrl) urls.cancelUrl = sub.cancelUrl;
      d.memory.set(sub.requestId, { service, urls });
      return task(sub.requestId, 'queued', res.body, { service, queuePosition: sub.queuePosition });
    },

    async get(id, ctx: CallContext) {
      const urls = urlsOf(id, ctx);
      const res = await d.transport.send(fal.statusRequest(endpoint, urls.statusUrl, true), 'read', ctx.signal);
      if (!is2xx(res.status)) throw falError(res);
      const st = fal.parseStatus(res.body);
      if (!st) throw invalidResponse(d, res, 'a fal queue status');
      const current = taskFromStatus(id, st, serviceFor(id, ctx), res.body);
      return current.status === 'succeeded' ? result(id, urls, ctx) : current;
    },

    getMany: (ids, ctx) => getEach(driver, ids, ctx),

    async cancel(id, ctx: CallContext) {
      const urls = urlsOf(id, ctx);
      const res = await d.transport.send(fal.cancelRequest(endpoint, urls.cancelUrl), 'read', ctx.signal);
      const outcome = fal.parseCancel(res.body);
      if (outcome === 'ALREADY_COMPLETED') return finishedOr(driver, id, ctx, falError(res));
      if (!is2xx(res.status) || outcome === 'NOT_FOUND') throw falError(res);
      return driver.get(id, ctx);
    },

    async *events(id, ctx) {
      const urls = urlsOf(id, ctx);
      const req = fal.statusRequest(endpoint, `${urls.statusUrl.replace(/\?.*$/, '')}/stream`, true);
      const res = await d.transport.open(req, ctx.signal);
      if (!res.ok || !res.body) {
        await res.body?.cancel().catch(() => undefined);
        throw new TaskgateError({ code: codeForStatus(res.status), status: res.status, dialect: d.dialect, message: `status stream answered HTTP ${res.status}` });
      }
      // Each event carries only the log lines that are new since the previous one.
      const logs: fal.FalLog[] = [];
      for await (const event of readSse(res.body)) {
        const body = parseJson(event.data);
        const st = fal.parseStatus(body);
        if (!st) continue;
        logs.push(...st.logs);
        const current = taskFromStatus(id, st, serviceFor(id, ctx), body, logs);
        if (current.status === 'succeeded') {
          yield await result(id, urls, ctx);
          return;
        }
        yield current;
        if (st.status === 'COMPLETED') return;
      }
    },
  };
  return driver;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
