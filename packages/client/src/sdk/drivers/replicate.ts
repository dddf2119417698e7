/**
 * The Replicate driver (`POST /v1/models/{owner}/{name}/predictions` or `/v1/predictions`,
 * `GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`, `urls.stream`), over the
 * replicate protocol module.
 *
 * - Status: `starting` → queued, `processing` → running, `succeeded`, `failed`, `canceled` →
 *   cancelled.
 * - Progress: from `logs` (tqdm percentages, `step i/n`); 1 once succeeded.
 * - Outputs: every http(s) URL in `output` (no content types: Replicate gives none).
 * - Errors: problem+json `{title, detail, status}` (422 names `invalid_fields`); code by status,
 *   `wireCode` the title. A failed prediction's error is `{code: 'prediction_failed', message}`.
 * - `stream()` reads `urls.stream` (server-sent `logs`, `output`, `error`, `done`): each log line
 *   updates the progress (`raw` stays the last prediction read), `done` reads the final prediction.
 * - Reads need only the id.
 */
import * as replicate from '../../protocols/replicate.js';
import { codeForStatus, TaskgateError } from '../errors.js';
import {
  finishedOr, getEach, headerIds, invalidResponse, is2xx, retryAfterOf, task, withKey,
  type CallContext, type Driver, type DriverContext, type SubmitContext,
} from '../driver.js';
import { readSse } from '../sse.js';
import type { WireResponse } from '../transport.js';
import type { Task } from '../types.js';

/** A prediction as a neutral task. */
export function taskFromPrediction(p: replicate.Prediction, raw: unknown): Task {
  const service = p.model;
  switch (p.status) {
    case 'starting':
      return task(p.id, 'queued', raw, { service });
    case 'processing':
      return task(p.id, 'running', raw, { service, progress: replicate.progressFromLogs(p.logs) });
    case 'succeeded':
      return task(p.id, 'succeeded', raw, { service, outputs: replicate.outputUrls(p.output).map((url) => ({ url, contentType: null })) });
    case 'failed':
      return task(p.id, 'failed', raw, { service, error: { code: 'prediction_failed', message: p.error ?? 'Prediction failed' } });
    case 'canceled':
      return task(p.id, 'cancelled', raw, { service });
  }
}

/** A webhook body (the prediction) as a neutral task; null when it is not one. */
export function taskFromWebhook(body: unknown): Task | null {
  const p = replicate.parsePrediction(body);
  return p ? taskFromPrediction(p, body) : null;
}

export function replicateDriver(d: DriverContext): Driver {
  const endpoint: replicate.ReplicateEndpoint = { baseUrl: d.baseUrl, apiKey: d.token };

  const replicateError = (res: WireResponse): TaskgateError => {
    const parsed = replicate.parseError(res.body);
    const fields = parsed && parsed.fields.length > 0 ? ` (${parsed.fields.join(', ')})` : '';
    return new TaskgateError({
      code: codeForStatus(res.status), status: res.status, dialect: d.dialect, body: res.body, ...headerIds(res),
      message: parsed ? `${parsed.detail}${fields}` : `HTTP ${res.status}`, wireCode: parsed?.title ?? null,
      retryAfterMs: retryAfterOf(res),
    });
  };

  const read = (res: WireResponse): { task: Task; prediction: replicate.Prediction } => {
    if (!is2xx(res.status)) throw replicateError(res);
    const prediction = replicate.parsePrediction(res.body);
    if (!prediction) throw invalidResponse(d, res, 'a Replicate prediction');
    const known = d.memory.get(prediction.id);
    d.memory.set(prediction.id, { service: prediction.model ?? known?.service ?? '', urls: { ...prediction.urls } });
    return { task: taskFromPrediction(prediction, res.body), prediction };
  };

  const driver: Driver = {
    async submit(service, input, ctx: SubmitContext) {
      let req;
      try {
        req = replicate.createRequest(endpoint, service, input, ctx.webhookUrl ? { webhook: ctx.webhookUrl, webhookEventsFilter: ['completed'] } : {});
      } catch (err) {
        throw new TaskgateError({ code: 'invalid_argument', status: 0, retryable: false, dialect: d.dialect, message: (err as Error).message, cause: err });
      }
      const res = await d.transport.send(withKey(req, ctx.idempotencyKey), ctx.idempotencyKey === null ? 'create' : 'keyed-create', ctx.signal);
      return read(res).task;
    },

    async get(id, ctx: CallContext) {
      return read(await d.transport.send(replicate.getRequest(endpoint, id), 'read', ctx.signal)).task;
    },

    getMany: (ids, ctx) => getEach(driver, ids, ctx),

    async cancel(id, ctx: CallContext) {
      const res = await d.transport.send(replicate.cancelRequest(endpoint, id), 'read', ctx.signal);
      // Replicate returns a finished prediction unchanged; a platform that refuses instead is read again.
      if (res.status === 400 || res.status === 409) return finishedOr(driver, id, ctx, replicateError(res));
      return read(res).task;
    },

    async *events(id, ctx) {
      const first = read(await d.transport.send(replicate.getRequest(endpoint, id), 'read', ctx.signal));
      let current = first.task;
      yield current;
      if (current.status !== 'queued' && current.status !== 'running') return;
      const url = first.prediction.urls.stream;
      if (!url) return; // no stream: the caller polls
      // The stream URL is a capability URL: Replicate's clients send no token to it.
      const res = await d.transport.open({ method: 'GET', url, headers: {} }, ctx.signal);
      if (!res.ok || !res.body) {
        await res.body?.cancel().catch(() => undefined);
        throw new TaskgateError({ code: codeForStatus(res.status), status: res.status, dialect: d.dialect, message: `prediction stream answered HTTP ${res.status}` });
      }
      let logs = '';
      for await (const event of readSse(res.body)) {
        if (event.event === 'logs') {
          logs = logs === '' ? event.data : `${logs}\n${event.data}`;
          const progress = replicate.progressFromLogs(logs) ?? current.progress;
          if (current.status !== 'running' || progress !== current.progress) {
            current = { ...current, status: 'running', progress };
            yield current;
          }
        } else if (event.event === 'done') {
          yield await driver.get(id, ctx);
          return;
        }
      }
    },
  };
  return driver;
}
