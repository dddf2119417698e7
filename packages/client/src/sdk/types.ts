/**
 * The SDK's public types: one neutral task shape and one client interface for every dialect
 * (the task API, APIXO, the fal queue, Replicate). Each dialect's driver maps its own wire
 * format onto these; `raw` keeps the wire body as received.
 */
import type { JsonObject } from '../protocols/common.js';

/** The wire dialect a client speaks. */
export type Dialect = 'task-api' | 'apixo' | 'queue' | 'replicate';

export const DIALECTS: readonly Dialect[] = ['task-api', 'apixo', 'queue', 'replicate'];

export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One result file. */
export interface TaskOutput {
  url: string;
  /** When the dialect says (`content_type`, a file's MIME type); null otherwise. */
  contentType: string | null;
}

export interface TaskErrorInfo {
  code: string;
  message: string;
}

/** A task in any dialect. */
export interface Task {
  id: string;
  /** The service (model) it runs on, when known (`flux/dev`, `fal-ai/flux/dev`, `owner/name`). */
  service: string | null;
  status: TaskStatus;
  /** 0–1 while running, when the dialect reports it; 1 once succeeded; else null. */
  progress: number | null;
  /** Tasks ahead of it while queued, when the dialect reports it (the fal queue); else null. */
  queuePosition: number | null;
  outputs: TaskOutput[];
  error: TaskErrorInfo | null;
  /** The wire body as received (the dialect's own task or status object). */
  raw: unknown;
}

/**
 * Terminal: the task will not change any more.
 *
 * @example
 * ```ts
 * if (isTerminal(task.status)) console.log('done:', task.status);
 * ```
 */
export function isTerminal(status: TaskStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

export interface RetryOptions {
  /** Retries after the first attempt, for 429 and 5xx (never for other 4xx). Default 3. */
  maxRetries?: number;
  /** First backoff (doubling, full jitter). Default 500 ms. */
  baseDelayMs?: number;
  /** Cap of one backoff, and of an honoured `Retry-After`. Default 30 s. */
  maxDelayMs?: number;
}

export interface ClientOptions {
  /**
   * The platform's API base as its docs write it: the task API's `…/v1`, APIXO's origin (routes
   * under `/api/v1`), the fal queue's base (`https://queue.fal.run`, or a taskgate's `…/v1/queue`),
   * Replicate's `…/v1`.
   */
  baseUrl: string;
  /** The API token (sent the way the dialect expects: `Bearer`, or `Key` for the fal queue). */
  token: string;
  dialect: Dialect;
  /** The `fetch` to use (default: the platform's global `fetch`). */
  fetch?: typeof fetch;
  retry?: RetryOptions;
  /** Per-request timeout. Default 60 s. */
  requestTimeoutMs?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** The service the task runs on, where the dialect's routes need it and the client has not seen the id. */
  service?: string;
}

export interface SubmitOptions {
  signal?: AbortSignal;
  /**
   * Sent as `Idempotency-Key`, so a create retried after an ambiguous failure (timeout,
   * connection lost) returns the first task instead of making a second. Default: a random key
   * per submit. `false` sends none, and then an ambiguous create is never retried.
   */
  idempotencyKey?: string | false;
  /** Where the platform calls back when the task finishes (`callback_url` / `callBackUrl` / `fal_webhook` / `webhook`). */
  webhookUrl?: string;
}

export interface WaitOptions {
  /** Called with every change seen (status, progress, queue position). */
  onUpdate?: (task: Task) => void;
  signal?: AbortSignal;
  /** Give up (TaskgateError `timeout`, the task keeps running) after this long. Default: no limit. */
  timeoutMs?: number;
  /** First poll interval (grows ×1.5 with jitter up to `maxPollIntervalMs`). Default 1 s. */
  pollIntervalMs?: number;
  /** Default 10 s. */
  maxPollIntervalMs?: number;
  /** The service, as in {@link RequestOptions}. */
  service?: string;
}

export interface Client {
  readonly dialect: Dialect;
  /**
   * Creates a task on `service` (the dialect's own name for it) with the model `input`. Sends a
   * random `Idempotency-Key` unless told otherwise, so a retried create never makes two tasks.
   *
   * @example
   * ```ts
   * const task = await client.submit('flux/dev', { prompt: 'a red fox' }, { webhookUrl: 'https://me.example/hook' });
   * ```
   */
  submit(service: string, input: JsonObject, options?: SubmitOptions): Promise<Task>;
  /**
   * The task as it is now.
   *
   * @example
   * ```ts
   * const task = await client.get(id, { service: 'flux/dev' }); // service: only for ids this client did not submit
   * ```
   */
  get(id: string, options?: RequestOptions): Promise<Task>;
  /**
   * Many at once (batch queries where the dialect has them); unknown ids are left out.
   *
   * @example
   * ```ts
   * const tasks = await client.getMany([a.id, b.id]);
   * ```
   */
  getMany(ids: readonly string[], options?: RequestOptions): Promise<Task[]>;
  /**
   * Asks for the task to be cancelled; the task as it is after the request (a finished task is
   * left as it is and returned).
   *
   * @example
   * ```ts
   * const task = await client.cancel(id); // task.status === 'cancelled' unless it had finished
   * ```
   */
  cancel(id: string, options?: RequestOptions): Promise<Task>;
  /**
   * Resolves with the task once terminal (succeeded, failed or cancelled: it does not throw for those).
   *
   * @example
   * ```ts
   * const done = await client.wait(id, { onUpdate: (t) => console.log(t.status, t.progress), timeoutMs: 60_000 });
   * ```
   */
  wait(id: string, options?: WaitOptions): Promise<Task>;
  /**
   * Every change until the task is terminal (the last item is terminal).
   *
   * @example
   * ```ts
   * for await (const update of client.stream(id)) console.log(update.status, update.queuePosition, update.progress);
   * ```
   */
  stream(id: string, options?: WaitOptions): AsyncIterable<Task>;
}
