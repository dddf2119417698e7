/**
 * The task model every dialect translates to and from.
 *
 * Glossary
 * - task:     one unit of generation work a client asked for (create → poll/callback → result).
 *             Identified by an unguessable public id; owned by the token that created it.
 * - service:  a named capability clients call (`midjourney/imagine`, `suno/audios`); config maps
 *             it to a provider plus limits (concurrency, timeout, wait limit).
 * - provider: the adapter that does the work for a service: an offline demo generator now, an
 *             upstream relay later. Providers never touch task state; the engine does.
 * - dialect:  a wire format served to clients (task API, APIXO, queue, Replicate). Dialects parse,
 *             call TaskService and render; they own no state.
 * - attempt:  one claim of a task by a worker. A task whose worker dies is claimed again.
 * - lease:    a claim's owner and expiry. Workers renew it while running; an expired lease makes
 *             the task claimable by any worker.
 * - delivery: one webhook callback to a client (webhooks issue).
 * - channel:  one upstream account/route a provider can use (relay issue).
 * - follow-up: a create that continues an image an earlier task of the same owner made
 *             (Midjourney's upscale / variation / reroll buttons); see core/follow-ups.ts.
 */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const TASK_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type TerminalState = Extract<TaskState, 'succeeded' | 'failed' | 'cancelled'>;

/** A file a provider produced, stored by the gateway and served at `path`. */
export interface OutputFile {
  /** Stable id of the file (also used as image_id / clip id by renderers). */
  id: string;
  kind: 'image' | 'audio' | 'video';
  contentType: string;
  /** Path on the gateway (`/files/<key>/<name>`); dialects turn it into an absolute URL. */
  path: string;
  bytes: number;
  width?: number;
  height?: number;
  durationSec?: number;
  /**
   * The upstream's own id of this file, where a relayed task's upstream gave one (the task API's
   * `image_id`): what a follow-up on this image names upstream. Never rendered to clients.
   */
  upstreamId?: string;
}

/** What a provider returns: neutral, rendered into each dialect's shape at read time. */
export interface TaskOutput {
  files: OutputFile[];
  /** The seed actually used, where the provider has one. */
  seed?: number;
  /** Provider-specific extra fields (kept JSON). */
  data?: JsonObject;
}

export interface TaskError {
  code: string;
  message: string;
}

/** The follow-up actions on an image, as the Midjourney result shape lists them. */
export const FOLLOW_UP_ACTIONS = [
  'upscale1', 'upscale2', 'upscale3', 'upscale4', 'reroll', 'variation1', 'variation2', 'variation3', 'variation4',
] as const;
export type FollowUpAction = (typeof FOLLOW_UP_ACTIONS)[number];
export type FollowUpKind = 'upscale' | 'variation' | 'reroll';

/** The earlier task a follow-up continues, as it was when the follow-up was created. */
export interface FollowUpParent {
  taskId: string;
  /** The image continued; its id is the client's `image_id`. */
  file: OutputFile;
  /** The input the image was generated from: the parent's own, or its origin's if it was a follow-up too. */
  input: JsonObject;
  /** The seed the image was made with, where known. */
  seed: number | null;
  /** What made the image: a generation (null) or a follow-up of this kind. */
  kind: FollowUpKind | null;
}

/** A resolved follow-up, kept with its task (so a restart keeps it) and handed to the provider. */
export interface FollowUp {
  action: FollowUpAction;
  kind: FollowUpKind;
  /**
   * The image of the parent's 2×2 grid the action is about, numbered as Midjourney does: 1 top
   * left, 2 top right, 3 bottom left, 4 bottom right. Null for a reroll.
   */
  index: 1 | 2 | 3 | 4 | null;
  parent: FollowUpParent;
}

export interface Task {
  id: string;
  ownerId: string;
  service: string;
  /** The dialect the task was created through (`task-api`, …). */
  dialect: string;
  state: TaskState;
  /** The request body as the client sent it (the task API's `request` field). */
  request: JsonObject;
  /** The provider input: the validated request without gateway control fields. */
  input: JsonObject;
  output: TaskOutput | null;
  error: TaskError | null;
  traceId: string;
  callbackUrl: string | null;
  progress: number | null;
  progressMessage: string | null;
  /** Unix milliseconds. */
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Earliest time a worker may claim the task. */
  runAfter: number;
  /** Running past this fails the task with `timeout` (set at first start). */
  deadlineAt: number | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  /** How many times a worker has claimed the task. */
  attempts: number;
  /** Dialect extras kept with the task (request type, stream key …); never provider input. */
  meta: JsonObject;
  /** The events the callback URL receives (default: only `completed`). */
  webhookEvents: WebhookEvent[];
  /** The base URL the client reached the gateway at (file URLs in webhook payloads); null if unknown. */
  origin: string | null;
  /** Credits held at create: settled on success, refunded on failure or cancel (0: free). */
  price: number;
  /** Set when the task is a follow-up action on an earlier image; null for a new generation. */
  followUp: FollowUp | null;
}

/**
 * Webhook events: `start` (first claimed), `progress` (a provider message), `completed` (any
 * terminal state). Dialects map their own names onto these (Replicate: start, logs, completed).
 */
export const WEBHOOK_EVENTS = ['start', 'progress', 'completed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export type DeliveryState = 'pending' | 'delivering' | 'delivered' | 'failed' | 'superseded';

/** One webhook message for one task event, retried under the same id until it settles. */
export interface WebhookDelivery {
  /** The Standard Webhooks `webhook-id`. */
  id: string;
  taskId: string;
  ownerId: string;
  /** Order among the task's deliveries. */
  seq: number;
  event: WebhookEvent;
  url: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number;
  /** The body, fixed at the first attempt; null before it. */
  payload: string | null;
  createdAt: number;
  finishedAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

/** One HTTP attempt of a delivery. */
export interface DeliveryAttempt {
  n: number;
  /** Unix milliseconds when it started. */
  at: number;
  /** The receiver's status, or null when no response came (network error, timeout, refused address). */
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

/** A log line a provider reported while running a task (the queue dialect's `logs`). */
export interface TaskLog {
  /** Unix milliseconds. */
  at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
}

export function isTerminal(state: TaskState): state is TerminalState {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
