/**
 * Upstream adapter for the task API (seeds 000/001/003: XHuoAPI / AceDataCloud style, and
 * taskgate's own `/v1` dialect). The wire format lives in `@taskgate/client` (task-api module);
 * this file translates it to the engine's model and classifies failures.
 *
 * - Submit: `POST {base}/{service}/{action}` with the input, `async: true`, `callback_url` when
 *   taskgate has one, and `Idempotency-Key: <task id>`. The upstream returns the first task for
 *   a repeated key, so an ambiguous submit is simply sent again (`recovery: 'idempotent'`).
 * - Poll: `POST {base}/{vendor}/tasks {action: "retrieve_batch", ids}`, up to 100 ids a call.
 *   An id missing from `items`, or an item that cannot be read, is left out (transient).
 * - Cancel: `{action: "cancel", id}` on the tasks endpoint, a taskgate extension (another
 *   taskgate cancels; a platform without it refuses, which the poller logs: cancel is best effort).
 *   409 `already_completed` (the task had finished) is no failure. No lookup: the protocol has none.
 * - Follow-up: the same create (same service, same headers, idempotent) with `{action, image_id}`,
 *   `image_id` being the upstream's own id of the parent's image (a Midjourney result's
 *   `image_id`, kept on the copied file as `upstreamId`). A parent whose result named no image id
 *   is refused (`api_not_implemented`).
 *
 * Mapping of a task item (no status field upstream; `raw` is the word derived from it):
 * | upstream                                        | status                              |
 * |-------------------------------------------------|-------------------------------------|
 * | no `finished_at`, no `started_at`               | queued (`progress` if given)        |
 * | no `finished_at`, `started_at`                  | running (`progress` if given)       |
 * | `response.success === true`                     | succeeded, outputs = result files   |
 * | `response.success === false`, code `cancelled`  | cancelled                           |
 * | `response.success === false`, one of our codes  | failed with that code (unchanged)   |
 * | `response.success === false`, another code      | failed `api_error` (code in message)|
 */
import { taskApi } from '@taskgate/client';
import { isErrorCode, type ErrorCode } from '../../../core/errors.js';
import type { JsonObject } from '../../../core/types.js';
import {
  UpstreamAmbiguous, UpstreamRejected, UpstreamUnavailable,
  type ChannelSettings, type SubmitRequest, type UpstreamAdapter, type UpstreamCall, type UpstreamOutput, type UpstreamRef, type UpstreamStatus,
} from '../../../core/upstream.js';
import { failFromStatus, send, type UpstreamResponse } from '../http.js';
import { settleAll } from '../settle.js';

export const PROTOCOL = 'task-api';

/**
 * Codes about the channel's own credentials or account, not about the client's request: another
 * channel may work, so they fail over (`UpstreamUnavailable`) instead of failing the task.
 */
const CHANNEL_CODES: ReadonlySet<string> = new Set(['no_token', 'invalid_token', 'token_expired', 'token_mismatched', 'disabled', 'used_up']);

const is2xx = (status: number): boolean => status >= 200 && status < 300;

export function createTaskApiAdapter(settings: ChannelSettings): UpstreamAdapter {
  const endpoint: taskApi.TaskApiEndpoint = { baseUrl: settings.baseUrl, apiKey: settings.apiKey };
  const modelOf = (ref: UpstreamRef): string => (typeof ref.data.model === 'string' ? ref.data.model : settings.model);

  async function pollBatch(vendor: string, ids: string[], call: UpstreamCall): Promise<Map<string, UpstreamStatus>> {
    const res = await send(taskApi.retrieveBatchRequest(endpoint, vendor, ids), call, settings.requestTimeoutMs, 'poll');
    if (!is2xx(res.status)) {
      try {
        failFromStatus(res, 'poll', `task API retrieve_batch: ${describeError(res)}`);
      } catch (err) {
        // An error of the whole call says nothing about the tasks: never a reason to fail them.
        if (err instanceof UpstreamRejected) throw new UpstreamUnavailable(err.message);
        throw err;
      }
    }
    const batch = taskApi.parseBatch(res.json);
    if (!batch) throw new UpstreamUnavailable(`task API retrieve_batch: unreadable answer (HTTP ${res.status})`);
    if (batch.unreadable > 0) call.log.warn({ channel: settings.name, unreadable: batch.unreadable }, 'upstream task items could not be read; polled again later');
    const asked = new Set(ids);
    const statuses = new Map<string, UpstreamStatus>();
    for (const task of batch.items) if (asked.has(task.id)) statuses.set(task.id, toStatus(task));
    return statuses;
  }

  async function create(input: JsonObject, req: SubmitRequest, call: UpstreamCall): Promise<UpstreamRef> {
    const request = taskApi.createRequest(endpoint, settings.model, input, {
      async: true, callbackUrl: req.callbackUrl, idempotencyKey: req.idempotencyKey,
    });
    const res = await send(request, call, settings.requestTimeoutMs, 'submit');
    if (!is2xx(res.status)) submitFailed(res);
    const created = taskApi.parseCreated(res.json);
    // The upstream answered but not with a task id: it may have created the task all the same.
    if (!created) throw new UpstreamAmbiguous(`task API submit: HTTP ${res.status} without a task_id`);
    const data: JsonObject = { model: settings.model };
    if (created.traceId !== null) data.trace_id = created.traceId;
    return { id: created.taskId, urls: {}, data };
  }

  return {
    protocol: PROTOCOL,
    recovery: 'idempotent',
    batchSize: taskApi.MAX_BATCH,

    submit: (req, call) => create(req.input, req, call),

    async submitFollowUp(req, call) {
      const imageId = req.followUp.file.upstreamId;
      if (imageId === undefined) throw new UpstreamRejected('api_not_implemented', 'task API follow-up: the upstream named no image_id for this image');
      return create(taskApi.followUpInput(req.followUp.action, imageId), req, call);
    },

    async cancel(ref, call) {
      const res = await send(taskApi.cancelRequest(endpoint, taskApi.vendorOf(modelOf(ref)), ref.id), call, settings.requestTimeoutMs, 'cancel');
      if (is2xx(res.status) || res.status === 409) return;
      failFromStatus(res, 'cancel', `task API cancel: ${describeError(res)}`);
    },

    async poll(refs, call) {
      const byVendor = new Map<string, string[]>();
      for (const ref of refs) {
        const vendor = taskApi.vendorOf(modelOf(ref));
        const ids = byVendor.get(vendor) ?? [];
        ids.push(ref.id);
        byVendor.set(vendor, ids);
      }
      const parts: Array<() => Promise<Map<string, UpstreamStatus>>> = [];
      for (const [vendor, ids] of byVendor) {
        for (let i = 0; i < ids.length; i += taskApi.MAX_BATCH) {
          const chunk = ids.slice(i, i + taskApi.MAX_BATCH);
          parts.push(() => pollBatch(vendor, chunk, call));
        }
      }
      return settleAll(parts, call, PROTOCOL);
    },
  };
}

function describeError(res: UpstreamResponse): string {
  const error = taskApi.parseError(res.json);
  return error ? `${error.code}: ${error.message}` : 'no error envelope';
}

/**
 * A refused submit: moderation (`forbidden`) → rejected `forbidden`; channel credential codes →
 * unavailable (fail over); otherwise as the HTTP status says (http.ts), a rejection keeping the
 * upstream's code when it is one of ours (`bad_request`, `no_api`, …).
 */
function submitFailed(res: UpstreamResponse): never {
  const error = taskApi.parseError(res.json);
  const message = `task API submit: ${describeError(res)}`;
  if (error && CHANNEL_CODES.has(error.code) && res.status !== 429) throw new UpstreamUnavailable(`${message} (HTTP ${res.status})`);
  try {
    failFromStatus(res, 'submit', message, error?.code === 'forbidden');
  } catch (err) {
    if (err instanceof UpstreamRejected && error && isErrorCode(error.code) && error.code !== err.code) throw new UpstreamRejected(error.code, err.message);
    throw err;
  }
}

/** One task item → the engine's status (table at the top). */
export function toStatus(task: taskApi.TaskInfo): UpstreamStatus {
  const response = task.response;
  if (response === null) return { state: task.state === 'queued' ? 'queued' : 'running', raw: task.state, progress: task.progress };
  if (!response.success) {
    const { code, message } = response.error;
    if (code === 'cancelled') return { state: 'cancelled', raw: 'cancelled' };
    const ours: ErrorCode = isErrorCode(code) ? code : 'api_error';
    return { state: 'failed', raw: `failed:${code}`, error: { code: ours, message: ours === code ? message || 'Upstream task failed' : `${code}: ${message}` } };
  }
  const outputs = taskApi.resultFiles(response.body).map((f): UpstreamOutput => {
    const out: UpstreamOutput = f.contentType ? { url: f.url, contentType: f.contentType } : { url: f.url };
    if (f.id !== undefined) out.upstreamId = f.id; // a Midjourney image_id: what a follow-up names
    return out;
  });
  return { state: 'succeeded', raw: 'succeeded', outputs, data: keptFields(response.body) };
}

/**
 * Result fields worth keeping besides the files: `seed` (generic shape) and a Suno clip's `title`
 * and `prompt` (first `data` item), which taskgate's renderers show again.
 */
function keptFields(body: JsonObject): JsonObject {
  const kept: JsonObject = {};
  if (typeof body.seed === 'number') kept.seed = body.seed;
  const first = Array.isArray(body.data) ? body.data[0] : undefined;
  const item = typeof first === 'object' && first !== null && !Array.isArray(first) ? first : body;
  if (typeof item.title === 'string') kept.title = item.title;
  if (typeof item.prompt === 'string') kept.prompt = item.prompt;
  return kept;
}
