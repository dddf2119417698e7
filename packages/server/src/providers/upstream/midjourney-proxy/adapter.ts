/**
 * Upstream adapter for midjourney-proxy (novicezk/midjourney-proxy and the relays speaking its
 * protocol). The wire format lives in `@taskgate/client` (midjourney-proxy module); this file
 * translates it to the engine's model and classifies failures.
 *
 * - Submit: `POST {base}/mj/submit/imagine` with the task's input (`prompt`, `base64Array`, …),
 *   `notifyHook` = taskgate's callback URL when it has one (a client's own `notifyHook` is never
 *   passed on: the upstream would call wherever it says) and `state` = the task id (shown in the
 *   proxy's own task list, for the operator). The answer's `code` decides, whatever the HTTP status.
 * - Follow-up: `POST {base}/mj/submit/change {taskId, action, index, notifyHook?, state}` naming
 *   the parent's upstream task id: upscaleN → `UPSCALE` index N, variationN → `VARIATION` index
 *   N, reroll → `REROLL` (no index). Its answer reads like imagine's (code 21: the proxy already
 *   upscaled that image, and answers that task's id).
 * - Recovery `none`: the proxy has no idempotency key and no search by a client reference, so an
 *   unanswered submit ends the task (`api_error`, refunded).
 * - Poll: `POST {base}/mj/task/list-by-condition {ids}`, up to 100 ids a call; an id the answer
 *   leaves out, or an item that cannot be read, is transient. A proxy without that route (404)
 *   is asked `GET /mj/task/{id}/fetch` per task instead. No cancel.
 * - `notifyHook` bodies are the task object, sent once: they only make the poll due (the engine
 *   never trusts a callback's body), so a missed one costs only the poll interval.
 *
 * | submit `code`                 | thrown                                    |
 * |-------------------------------|-------------------------------------------|
 * | 1, 21 (exists), 22 (queued)   | — the reference (`result` = task id; none: ambiguous) |
 * | 23 queue full                 | rate limited (fail over; Retry-After if sent) |
 * | 24 banned prompt              | rejected `forbidden`                      |
 * | 4 validation error            | rejected `bad_request`                    |
 * | 3 (no account), 9, any other  | unavailable (fail over)                   |
 * | no `code` in a 2xx answer     | ambiguous                                 |
 * | HTTP errors                   | as http.ts classifies (401 wrong secret, 404 no such route: unavailable) |
 *
 * | task `status`                 | status                                    |
 * |-------------------------------|-------------------------------------------|
 * | NOT_START, SUBMITTED          | queued (progress)                         |
 * | IN_PROGRESS, MODAL            | running (progress from "NN%")             |
 * | SUCCESS with `imageUrl`       | succeeded, outputs = [imageUrl]           |
 * | SUCCESS without `imageUrl`    | left out (transient)                      |
 * | FAILURE (whatever `progress` says, "100%" included: new-api #163) | failed: `failReason` of a banned / sensitive prompt → `forbidden`, of a timeout → `timeout`, else `api_error` |
 * | CANCEL                        | cancelled                                 |
 */
import { midjourneyProxy as mj } from '@taskgate/client';
import type { FollowUpKind, JsonObject } from '../../../core/types.js';
import {
  UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable,
  type ChannelSettings, type UpstreamAdapter, type UpstreamCall, type UpstreamRef, type UpstreamStatus,
} from '../../../core/upstream.js';
import { failFromStatus, retryAfterMs, send, type UpstreamResponse } from '../http.js';
import { settleAll } from '../settle.js';

export const PROTOCOL = 'midjourney-proxy';

const FAILED_MODERATION = /banned|sensitive|敏感|moderat|community standards|prohibited|blocked|nsfw|violat/i;
const FAILED_TIMEOUT = /timed? ?out|timeout|超时/i;

const is2xx = (status: number): boolean => status >= 200 && status < 300;

/** A failed task's reason → the task error (table above). */
export function failureOf(reason: string | null): UpstreamStatus {
  const message = reason ?? 'The Midjourney task failed upstream';
  const code = FAILED_MODERATION.test(message) ? 'forbidden' : FAILED_TIMEOUT.test(message) ? 'timeout' : 'api_error';
  return { state: 'failed', raw: 'FAILURE', error: { code, message } };
}

/** One task → the engine's status (table above); null when it says nothing usable yet. */
export function toStatus(task: mj.MjTask, base: string): UpstreamStatus | null {
  switch (task.status) {
    case 'NOT_START':
    case 'SUBMITTED':
      return { state: 'queued', raw: task.status, progress: task.progress };
    case 'IN_PROGRESS':
    case 'MODAL':
      return { state: 'running', raw: task.status, progress: task.progress };
    case 'SUCCESS': {
      if (task.imageUrl === null) return null;
      let url: string;
      try {
        // Some relays answer a path on themselves (`/mj/image/{id}`).
        url = new URL(task.imageUrl, `${base}/`).toString();
      } catch {
        return null;
      }
      return { state: 'succeeded', raw: task.status, outputs: [{ url }] };
    }
    case 'FAILURE':
      return failureOf(task.failReason);
    case 'CANCEL':
      return { state: 'cancelled', raw: task.status };
  }
}

/** A non-2xx answer to a read: only a task's own status ends it, never an error of the request. */
function readFailed(res: UpstreamResponse, what: string): never {
  try {
    failFromStatus(res, 'poll', `midjourney-proxy ${what}`);
  } catch (err) {
    if (err instanceof UpstreamRejected) throw new UpstreamUnavailable(err.message);
    throw err;
  }
}

/** A follow-up's kind → the proxy's `change` action. */
const CHANGE_ACTIONS: Record<FollowUpKind, mj.ChangeAction> = { upscale: 'UPSCALE', variation: 'VARIATION', reroll: 'REROLL' };

/** A submit's answer (imagine or change) → the reference, or the typed error (table above). */
function submitted(res: UpstreamResponse, what: 'imagine' | 'change'): UpstreamRef {
  const answer = mj.parseSubmit(res.json);
  if (!is2xx(res.status) && answer === null) {
    // 404: no such route at this base (the channel's configuration): another channel may work.
    if (res.status === 404) throw new UpstreamUnavailable(`midjourney-proxy ${what}: no such route (HTTP 404)`);
    failFromStatus(res, 'submit', `midjourney-proxy ${what}: no answer body`);
  }
  if (answer === null) throw new UpstreamAmbiguous(`midjourney-proxy ${what}: HTTP ${res.status} without a code`);
  const message = `midjourney-proxy ${what}: code ${answer.code}${answer.description ? ` (${answer.description})` : ''}`;
  if (mj.isAccepted(answer.code)) {
    // Accepted, but without the id we cannot poll it: it may exist all the same.
    if (answer.result === null) throw new UpstreamAmbiguous(`${message} without a task id`);
    return { id: answer.result, urls: {}, data: { code: answer.code } };
  }
  switch (answer.code) {
    case mj.RETURN_CODES.queueRejected:
      throw new UpstreamRateLimited(message, retryAfterMs(res.headers));
    case mj.RETURN_CODES.bannedPrompt:
      throw new UpstreamRejected('forbidden', message);
    case mj.RETURN_CODES.validationError:
      throw new UpstreamRejected('bad_request', message);
    default:
      // 3 (no account instance; for a change also: the task is gone), 9 (failure) and the rest: not taken.
      if (!is2xx(res.status)) failFromStatus(res, 'submit', message);
      throw new UpstreamUnavailable(message);
  }
}

export function createMidjourneyProxyAdapter(settings: ChannelSettings): UpstreamAdapter {
  const endpoint: mj.MjEndpoint = { baseUrl: settings.baseUrl, apiKey: settings.apiKey };
  const timeout = settings.requestTimeoutMs;

  function collect(tasks: readonly mj.MjTask[], asked: ReadonlySet<string>, statuses: Map<string, UpstreamStatus>): number {
    let unusable = 0;
    for (const task of tasks) {
      if (!asked.has(task.id)) continue;
      const status = toStatus(task, settings.baseUrl);
      if (status) statuses.set(task.id, status);
      else unusable++;
    }
    return unusable;
  }

  async function fetchOne(id: string, call: UpstreamCall): Promise<Map<string, UpstreamStatus>> {
    const res = await send(mj.fetchRequest(endpoint, id), call, timeout, 'poll');
    if (!is2xx(res.status)) readFailed(res, 'fetch');
    const statuses = new Map<string, UpstreamStatus>();
    // An empty body (or `null`) is the proxy's answer for an id it does not know: left out.
    if (res.text.trim() === '' || res.json === null) return statuses;
    const task = mj.parseTask(res.json);
    if (!task) throw new UpstreamUnavailable(`midjourney-proxy fetch: unreadable answer (HTTP ${res.status})`);
    if (collect([task], new Set([id]), statuses) > 0) call.log.warn({ channel: settings.name, unreadable: 1 }, 'an upstream task could not be read; polled again later');
    return statuses;
  }

  async function listBatch(ids: string[], call: UpstreamCall): Promise<Map<string, UpstreamStatus>> {
    const res = await send(mj.listByConditionRequest(endpoint, ids), call, timeout, 'poll');
    if (res.status === 404) {
      // A proxy without the batch route: one fetch per task.
      return settleAll(ids.map((id) => () => fetchOne(id, call)), call, PROTOCOL);
    }
    if (!is2xx(res.status)) readFailed(res, 'list-by-condition');
    const list = mj.parseTaskList(res.json);
    if (!list) throw new UpstreamUnavailable(`midjourney-proxy list-by-condition: unreadable answer (HTTP ${res.status})`);
    const statuses = new Map<string, UpstreamStatus>();
    const unusable = list.unreadable + collect(list.tasks, new Set(ids), statuses);
    if (unusable > 0) call.log.warn({ channel: settings.name, unreadable: unusable }, 'upstream task items could not be read; polled again later');
    return statuses;
  }

  return {
    protocol: PROTOCOL,
    recovery: 'none',
    batchSize: mj.MAX_BATCH,

    async submit(req, call) {
      const body: JsonObject = { ...req.input, state: req.idempotencyKey };
      delete body.notifyHook;
      if (req.callbackUrl) body.notifyHook = req.callbackUrl;
      if (typeof body.prompt !== 'string') throw new UpstreamRejected('bad_request', 'midjourney-proxy imagine: prompt must be a string');
      const res = await send(mj.imagineRequest(endpoint, { ...body, prompt: body.prompt }), call, timeout, 'submit');
      return submitted(res, 'imagine');
    },

    async submitFollowUp(req, call) {
      const { kind, index, parent } = req.followUp;
      const change: Parameters<typeof mj.changeRequest>[1] = { taskId: parent.id, action: CHANGE_ACTIONS[kind], state: req.idempotencyKey };
      if (kind !== 'reroll' && index !== null) change.index = index;
      if (req.callbackUrl) change.notifyHook = req.callbackUrl;
      const res = await send(mj.changeRequest(endpoint, change), call, timeout, 'submit');
      return submitted(res, 'change');
    },

    poll(refs, call) {
      const ids = refs.map((r) => r.id);
      const parts: Array<() => Promise<Map<string, UpstreamStatus>>> = [];
      for (let i = 0; i < ids.length; i += mj.MAX_BATCH) {
        const chunk = ids.slice(i, i + mj.MAX_BATCH);
        parts.push(() => listBatch(chunk, call));
      }
      return settleAll(parts, call, PROTOCOL);
    },
  };
}
