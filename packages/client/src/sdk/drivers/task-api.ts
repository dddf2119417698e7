/**
 * The task API driver (`/v1/{service}/{action}`, `POST /v1/{vendor}/tasks`), over the task-api
 * protocol module.
 *
 * - Status: the item has none; `started_at` absent → queued, present → running, `response` set →
 *   succeeded or failed (a failure with code `cancelled` → cancelled).
 * - Progress: the item's `progress` while running (a taskgate extension); 1 once succeeded.
 * - Outputs: the result's files (`data[].url`/`audio_url`/`video_url`, `image_url`), with
 *   `content_type` where the item gives it.
 * - Errors: the envelope's `error.code` as is (it is the SDK's vocabulary), `trace_id`.
 * - The tasks endpoint is per vendor (`flux` of `flux/dev`): reads need the service.
 */
import { isObject } from '../../protocols/common.js';
import * as taskApi from '../../protocols/task-api.js';
import { codeForStatus, TaskgateError } from '../errors.js';
import {
  finishedOr, headerIds, invalidResponse, is2xx, retryAfterOf, serviceOf, task, type CallContext, type Driver, type DriverContext, type SubmitContext,
} from '../driver.js';
import type { WireResponse } from '../transport.js';
import type { Task } from '../types.js';

/** A `retrieve` item (or a callback body turned into one) as a neutral task. */
export function taskFromInfo(info: taskApi.TaskInfo, service: string | null, raw: unknown): Task {
  const response = info.response;
  if (response === null) {
    return task(info.id, info.state === 'queued' ? 'queued' : 'running', raw, { service, progress: info.state === 'running' ? info.progress : null });
  }
  if (response.success) {
    const outputs = taskApi.resultFiles(response.body).map((f) => ({ url: f.url, contentType: f.contentType ?? null }));
    return task(info.id, 'succeeded', raw, { service, outputs });
  }
  const status = response.error.code === 'cancelled' ? 'cancelled' : 'failed';
  return task(info.id, status, raw, { service, error: { ...response.error } });
}

/** A callback body (`{success, task_id, …}` or the failure envelope) as a neutral task; null if it is not one. */
export function taskFromCallback(body: unknown): Task | null {
  const cb = taskApi.parseCallback(body);
  if (!cb) return null;
  const info: taskApi.TaskInfo = {
    id: cb.taskId, state: cb.response.success ? 'succeeded' : 'failed', request: null, response: cb.response,
    createdAt: null, startedAt: null, finishedAt: null, progress: null, traceId: cb.traceId,
  };
  return taskFromInfo(info, null, body);
}

export function taskApiError(d: DriverContext, res: WireResponse): TaskgateError {
  const parsed = taskApi.parseError(res.body);
  const ids = headerIds(res);
  return new TaskgateError({
    code: parsed?.code ?? codeForStatus(res.status), status: res.status, dialect: d.dialect, body: res.body,
    message: parsed?.message || `HTTP ${res.status}`, wireCode: parsed?.code ?? null,
    traceId: parsed?.traceId ?? ids.traceId, requestId: ids.requestId,
    retryAfterMs: retryAfterOf(res),
  });
}

export function taskApiDriver(d: DriverContext): Driver {
  const endpoint: taskApi.TaskApiEndpoint = { baseUrl: d.baseUrl, apiKey: d.token };

  const read = (res: WireResponse, service: string): Task => {
    if (!is2xx(res.status)) throw taskApiError(d, res);
    const info = taskApi.parseTask(res.body);
    if (!info) throw invalidResponse(d, res, 'a task API task');
    return taskFromInfo(info, service, res.body);
  };

  const driver: Driver = {
    async submit(service, input, ctx: SubmitContext) {
      const req = taskApi.createRequest(endpoint, service, input, {
        async: true, callbackUrl: ctx.webhookUrl ?? null, ...(ctx.idempotencyKey === null ? {} : { idempotencyKey: ctx.idempotencyKey }),
      });
      const res = await d.transport.send(req, ctx.idempotencyKey === null ? 'create' : 'keyed-create', ctx.signal);
      if (!is2xx(res.status)) throw taskApiError(d, res);
      const created = taskApi.parseCreated(res.body);
      if (!created) throw invalidResponse(d, res, 'an accepted task API create');
      d.memory.set(created.taskId, { service });
      return task(created.taskId, 'queued', res.body, { service });
    },

    async get(id, ctx: CallContext) {
      const service = serviceOf(d, id, ctx);
      const res = await d.transport.send(taskApi.retrieveRequest(endpoint, taskApi.vendorOf(service), id), 'read', ctx.signal);
      return read(res, service);
    },

    async getMany(ids, ctx: CallContext) {
      // One retrieve_batch per vendor (the tasks endpoint only shows its own vendor's tasks) and per 100 ids.
      const byVendor = new Map<string, string[]>();
      const services = new Map<string, string>();
      for (const id of ids) {
        const service = serviceOf(d, id, ctx);
        services.set(id, service);
        const vendor = taskApi.vendorOf(service);
        byVendor.set(vendor, [...(byVendor.get(vendor) ?? []), id]);
      }
      const found = new Map<string, Task>();
      for (const [vendor, group] of byVendor) {
        for (let i = 0; i < group.length; i += taskApi.MAX_BATCH) {
          const chunk = group.slice(i, i + taskApi.MAX_BATCH);
          const res = await d.transport.send(taskApi.retrieveBatchRequest(endpoint, vendor, chunk), 'read', ctx.signal);
          if (!is2xx(res.status)) throw taskApiError(d, res);
          const items = isObject(res.body) && Array.isArray(res.body.items) ? res.body.items : null;
          if (!items) throw invalidResponse(d, res, 'a task API retrieve_batch');
          for (const raw of items) {
            const info = taskApi.parseTask(raw);
            if (info) found.set(info.id, taskFromInfo(info, services.get(info.id) ?? null, raw));
          }
        }
      }
      return ids.map((id) => found.get(id)).filter((t): t is Task => t !== undefined);
    },

    async cancel(id, ctx: CallContext) {
      const service = serviceOf(d, id, ctx);
      const res = await d.transport.send(taskApi.cancelRequest(endpoint, taskApi.vendorOf(service), id), 'read', ctx.signal);
      if (res.status === 409) return finishedOr(driver, id, ctx, taskApiError(d, res));
      return read(res, service);
    },
  };
  return driver;
}
