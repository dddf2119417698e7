/**
 * The APIXO driver (`/api/v1/generateTask/{model}`, `/api/v1/statusTask/{model}`, taskgate's
 * `/api/v1/cancelTask/{model}`), over the apixo protocol module.
 *
 * - Status: `pending` → queued, `processing` → running, `success` → succeeded, `failed` → failed
 *   (`failCode: TASK_CANCELLED` → cancelled).
 * - Progress: `data.progress` while processing (a taskgate extension); 1 once succeeded.
 * - Outputs: `resultJson.resultUrls` (no content types: APIXO gives none).
 * - Errors: the envelope's `code` (read even under HTTP 200) and `data.error`; `data.failCode`
 *   `INSUFFICIENT_CREDITS` → `used_up`, `CONTENT_VIOLATION` → `forbidden`, else by status.
 * - Every route names the model: reads need the service.
 */
import * as apixo from '../../protocols/apixo.js';
import { isObject } from '../../protocols/common.js';
import { codeForStatus, TaskgateError, type TaskgateErrorCode } from '../errors.js';
import {
  finishedOr, fraction, getEach, headerIds, invalidResponse, retryAfterOf, serviceOf, task, withKey,
  type CallContext, type Driver, type DriverContext, type SubmitContext,
} from '../driver.js';
import type { WireResponse } from '../transport.js';
import type { Task } from '../types.js';

const FAIL_CODE_ERRORS: Readonly<Record<string, TaskgateErrorCode>> = {
  [apixo.FAIL_CODES.insufficientCredits]: 'used_up',
  [apixo.FAIL_CODES.contentViolation]: 'forbidden',
};

/** A status answer's `data` (or a callback's) as a neutral task; null when it is not one. */
export function taskFromStatus(data: unknown, service: string | null, raw: unknown): Task | null {
  const s = apixo.parseStatus(data);
  if (!s) return null;
  switch (s.state) {
    case 'pending':
      return task(s.taskId, 'queued', raw, { service });
    case 'processing':
      return task(s.taskId, 'running', raw, { service, progress: isObject(data) ? fraction(data.progress) : null });
    case 'success':
      return task(s.taskId, 'succeeded', raw, { service, outputs: s.resultUrls.map((url) => ({ url, contentType: null })) });
    case 'failed': {
      const code = s.failCode ?? apixo.FAIL_CODES.generationFailed;
      const status = code === apixo.FAIL_CODES.taskCancelled ? 'cancelled' : 'failed';
      return task(s.taskId, status, raw, { service, error: { code, message: s.failMsg ?? '' } });
    }
  }
}

/** A callback body (the status envelope) as a neutral task; null when it is not one. */
export function taskFromCallback(body: unknown): Task | null {
  const envelope = apixo.parseEnvelope(body);
  return envelope && envelope.code === 200 ? taskFromStatus(envelope.data, null, body) : null;
}

export function apixoDriver(d: DriverContext): Driver {
  const endpoint: apixo.ApixoEndpoint = { baseUrl: d.baseUrl, apiKey: d.token };

  /** The envelope of a successful answer, or the mapped error. */
  const ok = (res: WireResponse): apixo.Envelope => {
    const envelope = apixo.parseEnvelope(res.body);
    if (apixo.isSuccess(res.status, envelope)) return envelope;
    throw apixoError(res, envelope);
  };

  const apixoError = (res: WireResponse, envelope: apixo.Envelope | null): TaskgateError => {
    const status = apixo.effectiveStatus(res.status, envelope);
    const parsed = envelope ? apixo.parseError(envelope) : null;
    const mapped = parsed?.failCode ? FAIL_CODE_ERRORS[parsed.failCode] : undefined;
    return new TaskgateError({
      code: mapped ?? codeForStatus(status), status, dialect: d.dialect, body: res.body, ...headerIds(res),
      message: parsed?.message || `HTTP ${status}`, wireCode: parsed?.failCode ?? (envelope ? String(envelope.code) : null),
      retryAfterMs: retryAfterOf(res),
    });
  };

  const read = (res: WireResponse, service: string): Task => {
    const envelope = ok(res);
    const found = taskFromStatus(envelope.data, service, res.body);
    if (!found) throw invalidResponse(d, res, 'an APIXO task status');
    return found;
  };

  const driver: Driver = {
    async submit(service, input, ctx: SubmitContext) {
      const req = withKey(apixo.generateTaskRequest(endpoint, service, input, { callbackUrl: ctx.webhookUrl ?? null }), ctx.idempotencyKey);
      const res = await d.transport.send(req, ctx.idempotencyKey === null ? 'create' : 'keyed-create', ctx.signal);
      const taskId = apixo.parseSubmitted(ok(res));
      if (taskId === null) throw invalidResponse(d, res, 'an accepted APIXO generateTask');
      d.memory.set(taskId, { service });
      return task(taskId, 'queued', res.body, { service });
    },

    async get(id, ctx: CallContext) {
      const service = serviceOf(d, id, ctx);
      return read(await d.transport.send(apixo.statusTaskRequest(endpoint, service, id), 'read', ctx.signal), service);
    },

    getMany: (ids, ctx) => getEach(driver, ids, ctx),

    async cancel(id, ctx: CallContext) {
      const service = serviceOf(d, id, ctx);
      const res = await d.transport.send(apixo.cancelTaskRequest(endpoint, service, id), 'read', ctx.signal);
      const envelope = apixo.parseEnvelope(res.body);
      // 400 is also how a cancel of a finished task is answered: then the task is returned as it is.
      if (apixo.effectiveStatus(res.status, envelope) === 400) return finishedOr(driver, id, ctx, apixoError(res, envelope));
      return read(res, service);
    },
  };
  return driver;
}
