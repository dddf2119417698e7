/**
 * midjourney-proxy (novicezk/midjourney-proxy and its forks; the protocol most Midjourney relays
 * speak), client side. Checked against novicezk's SubmitController / TaskController / ReturnCode
 * and new-api's midjourney relay.
 *
 * - Auth: `mj-api-secret: <secret>` (a wrong one is answered HTTP 401).
 * - Submit: `POST {base}/mj/submit/imagine {prompt, base64Array?, notifyHook?, state?}`,
 *   `POST {base}/mj/submit/change {taskId, action: UPSCALE | VARIATION | REROLL, index?}` →
 *   HTTP 200 `{code, description, result: <task id>, properties}`: `code` 1 submitted,
 *   21 already exists, 22 queued (all three carry the task id), 23 queue full, 24 banned prompt,
 *   3 not found (also: no account instance available), 4 validation error, 9 failure.
 * - Fetch: `GET {base}/mj/task/{id}/fetch` → the task (an unknown id: an empty body).
 *   Batch: `POST {base}/mj/task/list-by-condition {ids}` → an array of the tasks it knows.
 * - Task: `{id, action, status: NOT_START | SUBMITTED | IN_PROGRESS | FAILURE | SUCCESS (forks
 *   add MODAL, CANCEL), progress: "NN%", imageUrl, failReason, prompt, promptEn, description,
 *   state, submitTime, startTime, finishTime (Unix ms), buttons?, properties}`. A failed task may
 *   still say progress "100%": its status is what counts.
 * - `notifyHook` is POSTed the task object on changes, once (no retries).
 * No idempotency key and no cancel in the original proxy.
 *
 * `base` is the proxy's root (`https://mj.example.com`); `/mj/…` is added.
 */
import { isObject, joinUrl, num, str, type JsonObject, type JsonValue, type ProtocolRequest } from './common.js';

export interface MjEndpoint {
  /** The proxy's root (no `/mj`). */
  baseUrl: string;
  /** Sent as `mj-api-secret`; null sends none. */
  apiKey: string | null;
}

/** `code` values of a submit answer. */
export const RETURN_CODES = {
  success: 1,
  notFound: 3,
  validationError: 4,
  failure: 9,
  existed: 21,
  inQueue: 22,
  queueRejected: 23,
  bannedPrompt: 24,
} as const;

/** Most ids asked about in one `list-by-condition` call. */
export const MAX_BATCH = 100;

export function mjAuth(apiKey: string | null | undefined): Record<string, string> {
  return apiKey ? { 'mj-api-secret': apiKey } : {};
}

export interface ImagineInput {
  prompt: string;
  /** Reference images as data URLs (`data:image/png;base64,…`). */
  base64Array?: string[];
  /** Called with the task object on changes. */
  notifyHook?: string;
  /** Echoed back in the task. */
  state?: string;
}

/** `POST {base}/mj/submit/imagine`; fields beyond the documented ones pass through (forks read some). */
export function imagineRequest(endpoint: MjEndpoint, body: ImagineInput & JsonObject): ProtocolRequest {
  return { method: 'POST', url: joinUrl(endpoint.baseUrl, 'mj/submit/imagine'), headers: mjAuth(endpoint.apiKey), body };
}

export type ChangeAction = 'UPSCALE' | 'VARIATION' | 'REROLL';

/** `POST {base}/mj/submit/change` (a follow-up on a finished task). */
export function changeRequest(endpoint: MjEndpoint, change: { taskId: string; action: ChangeAction; index?: number; notifyHook?: string; state?: string }): ProtocolRequest {
  const body: JsonObject = { taskId: change.taskId, action: change.action };
  if (change.index !== undefined) body.index = change.index;
  if (change.notifyHook) body.notifyHook = change.notifyHook;
  if (change.state !== undefined) body.state = change.state;
  return { method: 'POST', url: joinUrl(endpoint.baseUrl, 'mj/submit/change'), headers: mjAuth(endpoint.apiKey), body };
}

/** `GET {base}/mj/task/{id}/fetch`. */
export function fetchRequest(endpoint: MjEndpoint, id: string): ProtocolRequest {
  return { method: 'GET', url: joinUrl(endpoint.baseUrl, `mj/task/${encodeURIComponent(id)}/fetch`), headers: mjAuth(endpoint.apiKey) };
}

/** `POST {base}/mj/task/list-by-condition {ids}`. */
export function listByConditionRequest(endpoint: MjEndpoint, ids: readonly string[]): ProtocolRequest {
  return { method: 'POST', url: joinUrl(endpoint.baseUrl, 'mj/task/list-by-condition'), headers: mjAuth(endpoint.apiKey), body: { ids: [...ids] } };
}

export interface SubmitResult {
  code: number;
  description: string;
  /** The task id (codes 1, 21, 22); null when absent. */
  result: string | null;
  properties: JsonObject;
}

/** A submit answer; null when it is not one (no integer `code`). */
export function parseSubmit(body: unknown): SubmitResult | null {
  if (!isObject(body) || !Number.isInteger(body.code)) return null;
  const result = typeof body.result === 'number' ? String(body.result) : (str(body.result) ?? null);
  return { code: body.code as number, description: str(body.description) ?? '', result, properties: isObject(body.properties) ? body.properties : {} };
}

/** Whether a submit code means the proxy has the task (`result` is its id). */
export function isAccepted(code: number): boolean {
  return code === RETURN_CODES.success || code === RETURN_CODES.existed || code === RETURN_CODES.inQueue;
}

export type MjStatus = 'NOT_START' | 'SUBMITTED' | 'MODAL' | 'IN_PROGRESS' | 'FAILURE' | 'SUCCESS' | 'CANCEL';
const STATUSES: ReadonlySet<string> = new Set<MjStatus>(['NOT_START', 'SUBMITTED', 'MODAL', 'IN_PROGRESS', 'FAILURE', 'SUCCESS', 'CANCEL']);

export interface MjTask {
  id: string;
  action: string | null;
  status: MjStatus;
  /** From `progress: "NN%"`, as a fraction 0–1; null when absent or unreadable. */
  progress: number | null;
  imageUrl: string | null;
  failReason: string | null;
  prompt: string | null;
  submitTime: number | null;
  startTime: number | null;
  finishTime: number | null;
  buttons: JsonValue[];
}

/** `"NN%"` (or a bare number) → 0–1; null otherwise. */
export function progressOf(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(/^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(value)?.[1] ?? NaN) : NaN;
  return Number.isFinite(n) ? Math.min(100, Math.max(0, n)) / 100 : null;
}

/** A task object (a fetch, a list item, a notifyHook body); null when it is not one. */
export function parseTask(body: unknown): MjTask | null {
  if (!isObject(body)) return null;
  const id = typeof body.id === 'number' ? String(body.id) : str(body.id);
  const status = body.status;
  if (id === undefined || typeof status !== 'string' || !STATUSES.has(status)) return null;
  return {
    id, status: status as MjStatus, action: str(body.action) ?? null, progress: progressOf(body.progress),
    imageUrl: str(body.imageUrl) ?? null, failReason: str(body.failReason) ?? null, prompt: str(body.prompt) ?? null,
    submitTime: num(body.submitTime) ?? null, startTime: num(body.startTime) ?? null, finishTime: num(body.finishTime) ?? null,
    buttons: Array.isArray(body.buttons) ? body.buttons : [],
  };
}

export interface TaskList {
  tasks: MjTask[];
  /** Entries that could not be read as tasks. */
  unreadable: number;
}

/** A `list-by-condition` answer (a JSON array of tasks); null when it is not an array. */
export function parseTaskList(body: unknown): TaskList | null {
  if (!Array.isArray(body)) return null;
  const tasks: MjTask[] = [];
  let unreadable = 0;
  for (const item of body) {
    const task = parseTask(item);
    if (task) tasks.push(task);
    else unreadable++;
  }
  return { tasks, unreadable };
}
