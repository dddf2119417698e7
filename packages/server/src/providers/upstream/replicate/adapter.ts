/**
 * Upstream adapter for Replicate (`https://api.replicate.com/v1`, and taskgate's own Replicate
 * dialect at `…/v1`). The wire format lives in `@taskgate/client` (replicate module); this file
 * translates it to the engine's model and classifies failures.
 *
 * - Submit: create by model (`owner/name` → `POST /models/{owner}/{name}/predictions`) or by
 *   version (`owner/name:<version>` or a bare version id → `POST /predictions {version}`), with
 *   `webhook` + `webhook_events_filter: ["completed"]` when taskgate has a callback URL.
 * - Recovery `lookup`: Replicate has no idempotency key, but echoes a prediction's `input` in
 *   every answer, `GET /predictions` (newest first) included. The submit adds one field to the
 *   input, {@link MARKER} = the task's idempotency key (its public task id, nothing secret);
 *   `lookup` pages through the recent predictions for it. Models ignore inputs they do not know
 *   (Replicate's long-standing behaviour; taskgate's providers take loose inputs), so the field
 *   reaches the model and does nothing. `lookup` answers null ("never created", so another
 *   channel may take the task) only when it searched the whole window ({@link LOOKUP_WINDOW_MS}
 *   back, or the list's end) and the list does show inputs; otherwise it throws (asked again later).
 * - Poll: `GET urls.get`, one per task (`batchSize` 1: no batch query). Cancel: `POST urls.cancel`.
 *   URLs naming another host than the channel's (a list's `next` too) are moved onto its origin:
 *   the key is only ever sent where the operator pointed it.
 *
 * | prediction                                                   | status                        |
 * |--------------------------------------------------------------|-------------------------------|
 * | starting                                                     | queued                        |
 * | processing                                                   | running (progress from logs)  |
 * | succeeded                                                    | succeeded, outputs = URLs in `output` |
 * | failed, `error` speaks of NSFW / sensitive (E005) / moderation | failed `forbidden`          |
 * | failed, `error` speaks of a timeout (E6716, "timed out")     | failed `timeout`              |
 * | failed, anything else                                        | failed `api_error` (the error text) |
 * | canceled                                                     | cancelled                     |
 * | 404 on get                                                   | failed `api_error`: gone      |
 * | junk answer, 5xx, 429                                        | transient (polled again)      |
 *
 * Submit failures: 400/403/422 whose detail speaks of moderation (taskgate answers 403
 * "… content moderation"; Replicate itself refuses content in the prediction, as a failure) →
 * rejected `forbidden`; 402 (no credit) and 404 (the channel's model) → unavailable (fail over);
 * the rest as http.ts classifies statuses.
 */
import { replicate } from '@taskgate/client';
import type { JsonObject } from '../../../core/types.js';
import {
  UpstreamAmbiguous, UpstreamRejected, UpstreamUnavailable,
  type ChannelSettings, type UpstreamAdapter, type UpstreamCall, type UpstreamRef, type UpstreamStatus,
} from '../../../core/upstream.js';
import { failFromStatus, send, type Phase, type UpstreamResponse } from '../http.js';
import { onChannelOrigin } from '../origin.js';
import { settleAll } from '../settle.js';

export const PROTOCOL = 'replicate';
/** The input field carrying the idempotency key, found again by `lookup`. */
export const MARKER = 'taskgate_key';
/** How far back `lookup` searches; inputs are removed about an hour after a prediction ends. */
export const LOOKUP_WINDOW_MS = 60 * 60 * 1000;
/** Most list pages (100 predictions each) one lookup reads. */
export const LOOKUP_PAGES = 20;

const REFUSED = /moderation|nsfw|sensitive|content[ _-]?polic|safety/i;
const FAILED_MODERATION = /nsfw|flagged as sensitive|\(E005\)|moderation|safety checker|content[ _-]?polic/i;
const FAILED_TIMEOUT = /timed out|timeout|\(E6716\)/i;

const is2xx = (status: number): boolean => status >= 200 && status < 300;

/** A failed prediction's error text → the task error (table above). */
export function failureOf(error: string | null): UpstreamStatus {
  const message = error ?? 'The prediction failed upstream';
  const code = FAILED_MODERATION.test(message) ? 'forbidden' : FAILED_TIMEOUT.test(message) ? 'timeout' : 'api_error';
  return { state: 'failed', raw: 'failed', error: { code, message } };
}

export function toStatus(p: replicate.Prediction): UpstreamStatus {
  switch (p.status) {
    case 'starting':
      return { state: 'queued', raw: p.status, progress: null };
    case 'processing':
      return { state: 'running', raw: p.status, progress: replicate.progressFromLogs(p.logs) };
    case 'succeeded':
      return { state: 'succeeded', raw: p.status, outputs: replicate.outputUrls(p.output).map((url) => ({ url })) };
    case 'failed':
      return failureOf(p.error);
    case 'canceled':
      return { state: 'cancelled', raw: p.status };
  }
}

const describe = (res: UpstreamResponse): string => replicate.parseError(res.json)?.detail ?? 'no error body';

/** A non-2xx answer to a read: at a poll or lookup a rejection says nothing about the task. */
function readFailed(res: UpstreamResponse, phase: Phase, what: string): never {
  try {
    failFromStatus(res, phase, `replicate ${what}: ${describe(res)}`);
  } catch (err) {
    if (err instanceof UpstreamRejected) throw new UpstreamUnavailable(err.message);
    throw err;
  }
}

function submitFailed(res: UpstreamResponse): never {
  const error = replicate.parseError(res.json);
  const message = `replicate create: ${error?.detail ?? 'no error body'}`;
  const moderation = error !== null && (res.status === 400 || res.status === 403 || res.status === 422) && REFUSED.test(error.detail);
  if (!moderation && (res.status === 402 || res.status === 404)) throw new UpstreamUnavailable(`${message} (HTTP ${res.status})`);
  failFromStatus(res, 'submit', message, moderation);
}

export function createReplicateAdapter(settings: ChannelSettings): UpstreamAdapter {
  if (!replicate.parseModelRef(settings.model)) {
    throw new Error(`channel ${settings.name}: "${settings.model}" is not a Replicate model (owner/name), owner/name:version or version id`);
  }
  const endpoint: replicate.ReplicateEndpoint = { baseUrl: settings.baseUrl, apiKey: settings.apiKey };
  const timeout = settings.requestTimeoutMs;

  const refOf = (p: replicate.Prediction): UpstreamRef => ({
    id: p.id,
    urls: {
      get: p.urls.get ? onChannelOrigin(p.urls.get, settings.baseUrl) : replicate.getRequest(endpoint, p.id).url,
      cancel: p.urls.cancel ? onChannelOrigin(p.urls.cancel, settings.baseUrl) : replicate.cancelRequest(endpoint, p.id).url,
    },
    data: { model: settings.model },
  });

  async function pollOne(ref: UpstreamRef, call: UpstreamCall): Promise<UpstreamStatus> {
    const res = await send(replicate.getRequest(endpoint, ref.urls.get ?? ref.id), call, timeout, 'poll');
    if (res.status === 404) {
      return { state: 'failed', raw: 'not_found', error: { code: 'api_error', message: 'The upstream no longer knows the prediction (404)' } };
    }
    if (!is2xx(res.status)) readFailed(res, 'poll', 'get');
    const p = replicate.parsePrediction(res.json);
    if (!p || p.id !== ref.id) throw new UpstreamUnavailable(`replicate get: unreadable answer (HTTP ${res.status})`);
    return toStatus(p);
  }

  return {
    protocol: PROTOCOL,
    recovery: 'lookup',
    batchSize: 1,

    async submit(req, call) {
      const input: JsonObject = { ...req.input, [MARKER]: req.idempotencyKey };
      const request = replicate.createRequest(endpoint, settings.model, input, { webhook: req.callbackUrl, webhookEventsFilter: ['completed'] });
      const res = await send(request, call, timeout, 'submit');
      if (!is2xx(res.status)) submitFailed(res);
      const p = replicate.parsePrediction(res.json);
      // It answered, but not with a prediction: it may have created one all the same (lookup finds it).
      if (!p) throw new UpstreamAmbiguous(`replicate create: HTTP ${res.status} without a prediction`);
      return refOf(p);
    },

    poll(refs, call) {
      return settleAll(refs.map((ref) => async () => new Map([[ref.id, await pollOne(ref, call)]])), call, PROTOCOL);
    },

    async cancel(ref, call) {
      const res = await send(replicate.cancelRequest(endpoint, ref.urls.cancel ?? ref.id), call, timeout, 'cancel');
      if (is2xx(res.status) || res.status === 404) return;
      failFromStatus(res, 'cancel', `replicate cancel: ${describe(res)}`);
    },

    async lookup(key, call) {
      const since = Date.now() - LOOKUP_WINDOW_MS;
      let next: string | null = null;
      let inputsShown = false;
      for (let page = 0; page < LOOKUP_PAGES; page++) {
        const res = await send(replicate.listRequest(endpoint, next), call, timeout, 'lookup');
        if (!is2xx(res.status)) readFailed(res, 'lookup', 'list');
        const list = replicate.parsePage(res.json);
        if (!list) throw new UpstreamUnavailable(`replicate list: unreadable answer (HTTP ${res.status})`);
        for (const p of list.results) {
          if (p.input) inputsShown = true;
          if (p.input?.[MARKER] === key) return refOf(p);
        }
        const times = list.results.map((p) => (p.createdAt === null ? NaN : Date.parse(p.createdAt))).filter((t) => !Number.isNaN(t));
        if (list.next === null || (times.length > 0 && Math.min(...times) < since)) {
          if (list.results.length > 0 && !inputsShown) throw new UpstreamUnavailable('replicate list: predictions show no input; cannot tell whether the task was created');
          return null;
        }
        next = onChannelOrigin(list.next, settings.baseUrl);
      }
      throw new UpstreamUnavailable(`replicate list: not found in the ${LOOKUP_PAGES} newest pages; cannot tell yet`);
    },
  };
}
