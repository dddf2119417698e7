/**
 * Remote work: the model for tasks relayed to an upstream platform.
 *
 * Glossary:
 * - **upstream**: the platform a task is relayed to (fal, Replicate, another taskgate …).
 * - **channel**: one configured way to reach an upstream for a service (base URL, key, model,
 *   priority, caps); a service may have several and fails over between them.
 * - **submit**: the one call that creates the task upstream. It holds a worker slot and the
 *   task's lease only while it runs; its answer, the **upstream reference**, is stored in the same
 *   transaction that releases the worker, and from then on the task is **waiting upstream**.
 * - **poll**: a status query by the poll scheduler, under a short lease on the task, for a task
 *   whose `nextPollAt` is due. An upstream callback makes the poll due at once.
 *
 * Adapters never decide retries. They throw the typed errors below; `decideFailure` is the one
 * place that turns an error into what the engine does next.
 */
import type { ErrorCode } from './errors.js';
import type { FollowUpAction, FollowUpKind, JsonObject, OutputFile, Task, TaskError } from './types.js';

/** What a submit returns: enough to find the task upstream again after any restart. */
export interface UpstreamRef {
  /** The upstream's own task id (never shown to clients). */
  id: string;
  /** URLs the upstream handed out for this task (status, result, cancel …), by name. */
  urls: Record<string, string>;
  /** Protocol-specific state kept with the task (e.g. the model path a poll needs). */
  data: JsonObject;
}

/** A task waiting upstream, as the store keeps it. */
export interface UpstreamTask {
  taskId: string;
  channel: string;
  /**
   * Null: a submit to `channel` began and its answer was never stored (the process died or
   * stopped mid-submit). The upstream may have the task: only the protocol's recovery may decide.
   */
  ref: UpstreamRef | null;
  /** When the submit began, then when its answer was stored. */
  submittedAt: number;
  /** When the next poll is due; null once the task has ended. */
  nextPollAt: number | null;
  polls: number;
  /** The upstream's own status word as last seen (e.g. `IN_PROGRESS`), for the operator. */
  lastStatus: string | null;
  lastProgress: number | null;
}

/** What a poll (or a verified callback) learned about one upstream task. */
export type UpstreamStatus =
  | { state: 'queued' | 'running'; raw: string | null; progress: number | null }
  | { state: 'succeeded'; raw: string | null; outputs: UpstreamOutput[]; data?: JsonObject }
  | { state: 'failed'; raw: string | null; error: TaskError }
  | { state: 'cancelled'; raw: string | null };

/** A result file upstream; copied into taskgate's file store before the task succeeds. */
export interface UpstreamOutput {
  url: string;
  contentType?: string;
  /** The file name to keep (default: the URL's last path segment). */
  name?: string;
  /** The upstream's own id of the file (a Midjourney `image_id`), kept on the copy for follow-ups. */
  upstreamId?: string;
}

export type UpstreamErrorKind = 'rejected' | 'rate_limited' | 'unavailable' | 'ambiguous';

/** Base of the errors an upstream adapter throws. */
export abstract class UpstreamError extends Error {
  abstract readonly kind: UpstreamErrorKind;
}

/**
 * The upstream refused the request itself (4xx other than 429, moderation): the task fails with
 * `code`, and no other channel is tried (it would refuse the same input).
 */
export class UpstreamRejected extends UpstreamError {
  readonly kind = 'rejected';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamRejected';
  }
}

/** 429: honour `retryAfterMs` on this channel; another channel may take the work meanwhile. */
export class UpstreamRateLimited extends UpstreamError {
  readonly kind = 'rate_limited';
  constructor(
    message: string,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
    this.name = 'UpstreamRateLimited';
  }
}

/**
 * The request certainly did not take effect: 5xx with a response, connection refused, DNS
 * failure. Safe to try another channel (or this one later).
 */
export class UpstreamUnavailable extends UpstreamError {
  readonly kind = 'unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamUnavailable';
  }
}

/**
 * The request was sent and no answer came (timeout, connection cut): the upstream may have
 * created the task. Never resubmitted blindly.
 */
export class UpstreamAmbiguous extends UpstreamError {
  readonly kind = 'ambiguous';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamAmbiguous';
  }
}

/** How a protocol lets the engine recover from an ambiguous submit. */
export type AmbiguityRecovery =
  /** The submit carries an idempotency key (the task id): sending it again is safe. */
  | 'idempotent'
  /** The upstream can be asked whether it has the task (by a client reference). */
  | 'lookup'
  /** Neither: the task ends with `api_error` and is refunded. */
  | 'none';

/** What the engine does after a failed submit or poll. */
export type FailureDecision =
  | { action: 'fail'; error: TaskError }
  | { action: 'failover'; cooldownMs: number | null }
  | { action: 'retry'; afterMs: number }
  | { action: 'recover'; how: 'resubmit' | 'lookup' };

/**
 * The one place that decides. For a submit: rejected → fail with the mapped code; rate limited
 * → fail over (this channel waits Retry-After); unavailable → fail over; ambiguous → resubmit only
 * where the protocol is idempotent, look up where it can, else fail and refund. For a poll (the
 * task exists upstream): anything but a rejection is transient and polled again later.
 */
export function decideFailure(err: unknown, at: 'submit' | 'poll', recovery: AmbiguityRecovery, retryMs: number): FailureDecision {
  if (!(err instanceof UpstreamError)) {
    // A bug or junk the adapter did not classify: never a reason to lose or duplicate work.
    return at === 'poll' ? { action: 'retry', afterMs: retryMs } : { action: 'fail', error: { code: 'api_error', message: 'Upstream submit failed unexpectedly' } };
  }
  if (err instanceof UpstreamRejected) return { action: 'fail', error: { code: err.code, message: err.message } };
  if (at === 'poll') {
    const after = err instanceof UpstreamRateLimited && err.retryAfterMs !== null ? Math.max(err.retryAfterMs, retryMs) : retryMs;
    return { action: 'retry', afterMs: after };
  }
  if (err instanceof UpstreamRateLimited) return { action: 'failover', cooldownMs: err.retryAfterMs };
  if (err instanceof UpstreamUnavailable) return { action: 'failover', cooldownMs: null };
  if (recovery === 'idempotent') return { action: 'recover', how: 'resubmit' };
  if (recovery === 'lookup') return { action: 'recover', how: 'lookup' };
  return {
    action: 'fail',
    error: { code: 'api_error', message: 'The upstream did not answer the submit and cannot be asked whether it took the task; refunded' },
  };
}

/** What one poll that did not end its task saw. */
export interface PollRecord {
  taskId: string;
  raw: string | null;
  progress: number | null;
  nextPollAt: number;
}

/** A claimed poll: what the scheduler needs of the task, and its upstream side. */
export interface DuePoll {
  taskId: string;
  service: string;
  deadlineAt: number | null;
  upstream: UpstreamTask;
}

/** One channel's share of a poll claim. */
export interface PollClaim {
  channel: string;
  max: number;
  aheadMs?: number;
}

/**
 * The store's operations for remote work. Terminal results go through the task store's own
 * `finish` (compare-and-set on the task's lease, with settle/refund and the webhook outbox in the
 * same transaction); these operations keep the upstream side of a task.
 */
export interface UpstreamStore {
  /**
   * A submit to `channel` is about to be sent by the lease holder (written first, so a submit
   * interrupted by a crash is known as one). False if the lease moved on.
   */
  recordSubmitting(req: { taskId: string; workerId: string; channel: string; now: number }): Promise<boolean>;
  /**
   * The marked submit was answered and the upstream did not take the task (a refusal, 429, 5xx):
   * the mark is dropped, so the next claim submits afresh instead of recovering it. Only for the
   * lease holder, and only while no reference is stored.
   */
  clearSubmitting(req: { taskId: string; workerId: string }): Promise<void>;
  /**
   * The submit succeeded: in one transaction the running task leased to `workerId` records its
   * upstream reference and stops being leased; the poll scheduler owns it from now. Null (and
   * nothing written) if the lease moved on meanwhile (cancelled, timed out, lease lost).
   */
  recordSubmitted(req: { taskId: string; workerId: string; channel: string; ref: UpstreamRef; now: number; nextPollAt: number }): Promise<Task | null>;
  /**
   * Claims tasks whose poll is due (`nextPollAt <= now`, no live poll lease), oldest due first, at
   * most `max` per channel, under a short poll lease kept on the upstream row: the task row is
   * not written (a poll that does not end its task costs one upstream row write). A lease is a
   * visibility timeout: until it is recorded, renewed or returned, the task is due again at its
   * expiry. `aheadMs` coalesces a channel's polls: when at least one of its tasks is due, those
   * due within `aheadMs` join it (polled a little early rather than in a request of their own).
   */
  claimDuePolls(req: { workerId: string; now: number; leaseMs: number; channels: ReadonlyArray<PollClaim> }): Promise<DuePoll[]>;
  /**
   * The polls of one batch that did not end their tasks, in one transaction, in order: each keeps
   * what it saw and when to poll next, and gives the poll lease back; a progress that rose is
   * written to the task (and queues a `progress` webhook event). Each: null if its poll lease
   * moved on; else `progressed`, the task with its new progress, or null if it did not rise.
   */
  recordPolls(req: { workerId: string; now: number; polls: readonly PollRecord[] }): Promise<Array<{ progressed: Task | null } | null>>;
  /** Extends the poll leases `workerId` still holds; resolves with those task ids. */
  renewPolls(req: { taskIds: readonly string[]; workerId: string; until: number }): Promise<string[]>;
  /**
   * The poll lease holder takes the task's own lease, to end it through the task store's
   * compare-and-set `finish`/`terminate` (success, failure, timeout): the task, leased. Null if
   * the poll lease moved on, the task ended, or someone else holds its lease.
   */
  takeTask(req: { taskId: string; workerId: string; now: number; leaseMs: number }): Promise<Task | null>;
  /**
   * An upstream callback arrived: the task's next poll is due now, or, while a poll of it is in
   * flight, as soon as that poll is recorded (its answer may predate the upstream's finish).
   * False if the task has ended.
   */
  pollNow(taskId: string, now: number): Promise<boolean>;
  get(taskId: string): Promise<UpstreamTask | null>;
  /** Tasks waiting upstream per channel (channel caps count these). */
  inFlightByChannel(): Promise<Record<string, number>>;
}

/**
 * How one upstream HTTP request ended: an answer's status class (`ok` is 2xx/3xx, `rate_limited`
 * 429, `client_error` other 4xx, `server_error` 5xx), or no answer (`timeout`, `network`,
 * `aborted` by our own cancel or shutdown).
 */
export type UpstreamRequestResult = 'ok' | 'client_error' | 'rate_limited' | 'server_error' | 'timeout' | 'network' | 'aborted';

/** Told of every upstream HTTP request made on a call (metrics): its phase, result and duration. */
export type UpstreamRequestObserver = (phase: string, result: UpstreamRequestResult, seconds: number) => void;

/** What an adapter call is given. */
export interface UpstreamCall {
  /** Aborted on timeout, cancel or shutdown: stop at once. */
  signal: AbortSignal;
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** Absent: nobody counts this call's requests. */
  observe?: UpstreamRequestObserver;
}

export interface SubmitRequest {
  /**
   * Deterministic per task (the task id): sent as the upstream's idempotency key where the
   * protocol has one, and what `lookup` searches by after an ambiguous submit.
   */
  idempotencyKey: string;
  /** The validated input (what the client sent, minus the dialect's control fields). */
  input: JsonObject;
  /** taskgate's own unguessable callback URL for this task; null without a public URL. */
  callbackUrl: string | null;
}

/**
 * A follow-up (core/follow-ups.ts) on an image a task relayed to this channel made: sent to the
 * same channel, naming the upstream's own reference of the parent.
 */
export interface FollowUpSubmitRequest extends SubmitRequest {
  followUp: {
    action: FollowUpAction;
    kind: FollowUpKind;
    /** 1–4 (Midjourney's grid numbering); null for a reroll. */
    index: number | null;
    /** The parent task's upstream reference (its `id` is the upstream's task id). */
    parent: UpstreamRef;
    /** The parent's image as copied here (`upstreamId`: the upstream's own id of it, if it gave one). */
    file: OutputFile;
  };
}

/**
 * One upstream protocol, bound to one channel (base URL, key, model). Adapters translate and
 * classify; they never retry, fail over or touch task state (the engine does, in one place).
 * Every failure is thrown as one of the UpstreamError kinds above.
 */
export interface UpstreamAdapter {
  /** `task-api`, `apixo`, `fal`, `replicate`, `openai-images`, `midjourney-proxy`. */
  readonly protocol: string;
  readonly recovery: AmbiguityRecovery;
  /** Most tasks one poll call can ask about (1: the protocol has no batch query). */
  readonly batchSize: number;
  submit(req: SubmitRequest, call: UpstreamCall): Promise<UpstreamRef>;
  /**
   * Submits a follow-up on an image this channel made (classified like `submit`, same recovery).
   * Absent: the protocol has no follow-ups, and a follow-up on such an image is refused.
   */
  submitFollowUp?(req: FollowUpSubmitRequest, call: UpstreamCall): Promise<UpstreamRef>;
  /**
   * The status of these tasks, by upstream id. A task missing from the answer, or an answer that
   * cannot be read, is transient: it is polled again later, never failed for that alone.
   */
  poll(refs: readonly UpstreamRef[], call: UpstreamCall): Promise<Map<string, UpstreamStatus>>;
  /** Asks the upstream to stop the task (best effort: the task is already cancelled here). */
  cancel?(ref: UpstreamRef, call: UpstreamCall): Promise<void>;
  /** Finds the task an ambiguous submit may have created (recovery `lookup`); null if none. */
  lookup?(idempotencyKey: string, call: UpstreamCall): Promise<UpstreamRef | null>;
}

/** A channel's settings as an adapter factory receives them (the key already read from env). */
export interface ChannelSettings {
  name: string;
  baseUrl: string;
  apiKey: string | null;
  /** The upstream's own name for the model / service / endpoint. */
  model: string;
  /** Longest one upstream HTTP request may take before it counts as ambiguous (submit) or transient (poll). */
  requestTimeoutMs: number;
}
