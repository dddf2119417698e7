/**
 * The contracts core depends on. Drivers (store/), providers (providers/) and the file store
 * implement them; core never imports an implementation.
 */
import type { LocalTaskEvent } from './events.js';
import type { UpstreamStore } from './upstream.js';
import type {
  DeliveryAttempt, FollowUp, JsonObject, OutputFile, Task, TaskError, TaskLog, TaskOutput, TaskState, WebhookDelivery,
} from './types.js';

/** A new task as TaskService hands it to the store (`followUp` absent: a new generation). */
export type NewTask = Pick<
  Task,
  | 'id' | 'ownerId' | 'service' | 'dialect' | 'request' | 'input' | 'traceId' | 'callbackUrl' | 'createdAt' | 'runAfter' | 'meta'
  | 'webhookEvents' | 'origin' | 'price'
> & { followUp?: FollowUp | null };

/** A create's idempotency key: a retry with the same key returns the first task. */
export interface IdempotencyKey {
  key: string;
  /** Hash of what was asked (service + body): the same key with another request is refused. */
  requestHash: string;
  /** Keys older than this (Unix ms) are forgotten: the create makes a new task. */
  notBefore: number;
}

/** Ends a task from one of `from` states, whoever holds it (cancel, sweeps, limits). */
export interface TerminateRequest {
  id: string;
  from: readonly TaskState[];
  state: 'failed' | 'cancelled';
  error: TaskError;
  now: number;
}

/** A page of an owner's tasks, newest first. */
export interface ListRequest {
  ownerId: string;
  /** Only tasks older than this id (the cursor of the previous page). */
  before?: string;
  /** Only these services (a dialect lists what it exposes); all when absent. */
  services?: readonly string[];
  limit: number;
}

/**
 * The operator's and the dashboard's view of tasks (`TaskStore.search`): every field optional but
 * `limit`; newest first.
 */
export interface TaskFilter {
  ownerId?: string;
  services?: readonly string[];
  states?: readonly TaskState[];
  /** Only tasks relayed through this channel. */
  channel?: string;
  /** Created at or after (Unix ms). */
  createdFrom?: number;
  /** Created before (Unix ms). */
  createdTo?: number;
  /** Only tasks older than this id (the cursor of the previous page). */
  before?: string;
  limit: number;
}

/** A task as `search` finds it, with the relay channel it was sent to (null: a local task). */
export interface TaskListing {
  task: Task;
  channel: string | null;
}

/** One service's unfinished tasks in one state (`TaskStore.countLive`). */
export interface LiveCount {
  service: string;
  state: 'queued' | 'running';
  count: number;
}

/** How many more tasks of a service a claim may start, given what is running now. */
export interface ServiceClaimLimit {
  service: string;
  /** Most tasks of this service that may hold a live lease at once (across all workers). */
  concurrency: number;
  /** Deadline for a task started by this claim: start + timeoutMs. */
  timeoutMs: number;
}

export interface ClaimRequest {
  workerId: string;
  now: number;
  leaseMs: number;
  /** Most tasks to claim in this call, all services together (the worker's free slots). */
  max: number;
  /** Services in the order to serve them (the caller rotates it for fairness). */
  services: ServiceClaimLimit[];
  /**
   * Most tasks one owner may have running at once (live leases, all services together) unless the
   * owner's account sets its own; null: no limit. An owner at its limit keeps its tasks queued
   * and the claim takes other owners' tasks instead.
   */
  ownerConcurrency?: number | null;
}

/** A compare-and-set finish: applies only if the task is still `running` under this lease. */
export interface FinishRequest {
  id: string;
  workerId: string;
  now: number;
  state: 'succeeded' | 'failed';
  output?: TaskOutput;
  error?: TaskError;
}

/**
 * The store contract: domain operations only, never raw SQL in callers. Every mutating call is
 * one transaction guarded by compare-and-set on the previous state; it resolves with the updated
 * task, or null when the guard did not hold (someone else moved the task first). Asynchronous so
 * that network drivers (Postgres) fit the same contract as the embedded SQLite driver.
 */
/** A task removed by retention, with the output files it had. */
export interface PurgedTask {
  id: string;
  files: OutputFile[];
}

export interface TaskStore {
  /** Resolves once the task is durably stored (drivers may commit concurrent inserts together). */
  insert(task: NewTask): Promise<Task>;
  /**
   * Like insert, but if the owner already used `idempotency.key` since `notBefore`, returns that
   * task instead (created: false; nothing inserted, nothing held) — checked and recorded in the
   * same transaction as the insert. The same key with another request hash: idempotency_mismatch.
   */
  insertOnce(task: NewTask, idempotency: IdempotencyKey): Promise<{ task: Task; created: boolean }>;
  get(id: string): Promise<Task | null>;
  /** Tasks with these ids owned by `ownerId`, in the order of `ids`; unknown ids are skipped. */
  getMany(ownerId: string, ids: readonly string[]): Promise<Task[]>;
  /**
   * The succeeded task of `ownerId` that produced the output file `fileId` (`OutputFile.id`), for
   * follow-ups. One indexed lookup by owner and file: another owner's file is found exactly as an
   * unknown one is (null), and so is a file of a task that did not succeed.
   */
  findByOutputFile(ownerId: string, fileId: string): Promise<Task | null>;
  /**
   * Claims due tasks: queued tasks whose runAfter has passed, and running tasks whose lease has
   * expired (their worker died). Moves them to running under a new lease, counts the attempt and
   * sets startedAt/deadlineAt on first start. Respects each service's concurrency, each owner's
   * concurrency (`ownerConcurrency`) and `max`.
   */
  claimDue(req: ClaimRequest): Promise<Task[]>;
  /**
   * Extends the live leases of these tasks that `workerId` still holds (all in one statement);
   * resolves with the ids it extended, in any order. The others were lost (expired and claimed
   * again, cancelled, finished).
   */
  extendLeases(ids: readonly string[], workerId: string, until: number): Promise<string[]>;
  /**
   * Records progress while the worker owns the task (a message is also appended to its logs);
   * null if it no longer does.
   */
  setProgress(id: string, workerId: string, progress: number, message: string | null, now: number): Promise<Task | null>;
  finish(req: FinishRequest): Promise<Task | null>;
  /** Ends a task (failed or cancelled) from any of `from`, whoever holds its lease. */
  terminate(req: TerminateRequest): Promise<Task | null>;
  /** Provider log lines of a task, oldest first. */
  logs(id: string): Promise<TaskLog[]>;
  /** How many queued tasks of the same service are ahead of this one (0 = next). */
  queuePosition(task: Task): Promise<number>;
  list(req: ListRequest): Promise<Task[]>;
  /** Tasks matching a filter (any owner unless `ownerId`), newest first, for operator views. */
  search(filter: TaskFilter): Promise<TaskListing[]>;
  /**
   * Makes leases held by these workers claimable at once (their process is known dead). The
   * attempt they were making counts as lost (`maxAttempts`). Their poll leases (tasks waiting
   * upstream) are dropped too: those polls are due at once.
   */
  releaseLeases(workerIds: readonly string[]): Promise<number>;
  /**
   * A worker stopping cleanly hands its running tasks back: claimable at once, no longer leased
   * to it, and the attempt it was making does not count (a graceful restart never uses up
   * `maxAttempts`). The task keeps its first start time and deadline. Its poll leases are
   * dropped the same way (due at once).
   */
  returnLeases(workerId: string): Promise<number>;
  /** Lease owners of running tasks and of polls, for dead-worker detection on start. */
  runningLeaseOwners(): Promise<string[]>;
  /**
   * How many tasks are queued and running now, per service (services with none are left out);
   * running includes tasks waiting upstream. For metrics: one query over unfinished tasks only.
   */
  countLive(): Promise<LiveCount[]>;
  /**
   * Puts a running task leased to `workerId` back in the queue, due at `runAfter`, without
   * counting the attempt (every upstream channel is busy or rate limited for now). It keeps its
   * first start time and deadline. Null if the lease moved on.
   */
  requeue(req: { id: string; workerId: string; runAfter: number }): Promise<Task | null>;
  /**
   * Retention: removes up to `limit` finished tasks that finished before `before`, oldest first,
   * with what hangs off them (log lines, file index, idempotency keys, webhook deliveries and their
   * attempts, upstream rows); ledger entries stay. Never a task an unfinished task follows up on
   * (`followUp.parent.taskId`), nor one with a webhook delivery still pending. Resolves with the
   * tasks removed by this call (their output files are the caller's to remove): when several
   * nodes purge at once, each task is in one answer only.
   */
  purgeFinished(before: number, limit: number): Promise<PurgedTask[]>;
  /** The upstream side of relayed tasks, sharing this store's transactions and cache. */
  readonly upstream: UpstreamStore;
  close(): Promise<void>;
}

/** How an attempt ended, as the delivery engine decided it. */
export type AttemptOutcome =
  | { state: 'delivered' }
  /** Given up: 410 Gone, or the last attempt of the schedule failed. */
  | { state: 'failed' }
  | { state: 'pending'; retryAt: number };

/**
 * The webhook outbox. Rows are written by the TaskStore in the same transaction as the state
 * change they announce (so none is lost between "task finished" and "callback queued"); delivery
 * workers claim them under a lease, like tasks. A task's deliveries go out in order: one is
 * claimable only when no earlier one of the same task is pending or in flight, and a newer event
 * supersedes older pending ones — a receiver never sees an older state after a newer one.
 */
export interface WebhookStore {
  claimDeliveries(req: { workerId: string; now: number; leaseMs: number; max: number }): Promise<WebhookDelivery[]>;
  /** Fixes the payload at the first attempt (retries resend it). False if the lease was lost. */
  setPayload(id: string, workerId: string, payload: string): Promise<boolean>;
  /** Extends the delivery leases `workerId` still holds among `ids` (one statement); the ids extended, in any order. */
  extendDeliveryLeases(ids: readonly string[], workerId: string, until: number): Promise<string[]>;
  /** Logs the attempt and applies its outcome; null if the worker no longer holds the delivery. */
  recordAttempt(id: string, workerId: string, attempt: DeliveryAttempt, outcome: AttemptOutcome): Promise<WebhookDelivery | null>;
  /** The owner's deliveries (of one task, or all), newest first, each with its attempts. */
  listDeliveries(ownerId: string, opts: { taskId?: string; limit: number }): Promise<Array<WebhookDelivery & { log: DeliveryAttempt[] }>>;
  /**
   * Queues a delivery again (same webhook-id, same payload) at `now`; null if not the owner's. A
   * delivery in flight, or superseded by a newer event of its task, is returned unchanged (a
   * superseded one would send an older state after a newer one).
   */
  redeliver(ownerId: string, id: string, now: number): Promise<WebhookDelivery | null>;
  /** The owner's signing secrets in force at `now`, newest first. */
  activeSecrets(ownerId: string, now: number): Promise<string[]>;
  /** Adds `secret` only if the owner has none in force at `now` (first use; race-free). */
  ensureSecret(ownerId: string, secret: string, now: number): Promise<void>;
  /** Adds a secret; the others in force expire at `retireAt` (a rotation's overlap). */
  addSecret(ownerId: string, secret: string, now: number, retireAt: number): Promise<void>;
  /** Makes these workers' delivery leases claimable at once (their process is known dead). */
  releaseDeliveryLeases(workerIds: readonly string[]): Promise<number>;
  /** Lease owners of deliveries in flight, for dead-worker detection on start. */
  deliveryLeaseOwners(): Promise<string[]>;
}

/** An owner's credits: available balance, held by unfinished tasks, and used. */
export interface Account {
  ownerId: string;
  balance: number;
  held: number;
  used: number;
}

/** One change of an owner's credits. `amount` is the change to the available balance. */
export interface LedgerEntry {
  seq: number;
  ownerId: string;
  taskId: string | null;
  kind: 'hold' | 'settle' | 'refund' | 'topup' | 'adjust';
  amount: number;
  reason: string | null;
  at: number;
}

/**
 * Credits outside task transitions (the task store writes hold/settle/refund inside its own
 * transactions): account reads, the ledger, and operator top-ups and adjustments.
 */
export interface LedgerStore {
  account(ownerId: string): Promise<Account>;
  /** Newest first; `before` is the `seq` cursor of the previous page. */
  entries(ownerId: string, page: { before?: number; limit: number }): Promise<LedgerEntry[]>;
  /** One task's entries (its hold, then its settle or refund), oldest first. */
  taskEntries(taskId: string): Promise<LedgerEntry[]>;
  /** Adds `amount` (negative for a debit adjustment) with a reason; refuses a negative balance. */
  credit(ownerId: string, amount: number, kind: 'topup' | 'adjust', reason: string, now: number): Promise<Account>;
}

/** Where providers put the files they produce (and read earlier outputs back, for follow-ups). */
export interface FileSink {
  /** The bytes of a stored file by its `OutputFile.path`; throws if there is none or it is longer than `maxBytes`. */
  read(path: string, maxBytes: number): Promise<Buffer>;
  write(name: string, contentType: string, data: Buffer): Promise<Pick<OutputFile, 'path' | 'bytes' | 'contentType'>>;
  /**
   * Streams a file to storage, never whole in memory; refuses (and removes) one longer than
   * `maxBytes`. Nothing is visible under the returned path until it is complete.
   */
  writeStream(name: string, contentType: string, data: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Pick<OutputFile, 'path' | 'bytes' | 'contentType'>>;
  /** Whether a stored file is at this path. */
  exists(path: string): Promise<boolean>;
  /** Removes a stored file; resolves with the bytes freed, or null if it was not there. Idempotent. */
  remove(path: string): Promise<number | null>;
}

export interface ProviderLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ProviderContext {
  task: Task;
  input: JsonObject;
  /** The follow-up this task is (`task.followUp`), null for a new generation. */
  followUp: FollowUp | null;
  /** Aborted on timeout, cancellation or a lost lease: stop work promptly. */
  signal: AbortSignal;
  progress(fraction: number, message?: string): void;
  files: FileSink;
  log: ProviderLogger;
}

/**
 * A provider does the work of a service. It validates input at create time and runs a claimed
 * task; it throws GatewayError (or ProviderError) for failures and never touches task state.
 */
export interface Provider {
  readonly name: string;
  /**
   * The input `parseInput` accepts, as a JSON Schema (2020-12) generated from the very validator
   * `parseInput` runs (the OpenAPI document shows it for each service's create routes). Absent:
   * the provider does not describe its input.
   */
  readonly inputSchema?: JsonObject;
  /** Validates and normalises the input; throws GatewayError('bad_request') naming the problem. */
  parseInput(input: JsonObject): JsonObject;
  /**
   * Follow-up actions (core/follow-ups.ts): checks a follow-up on an image this provider's service
   * made and returns the input to keep with the task (`run` then gets `ctx.followUp`); throws
   * GatewayError to refuse it. Absent: the provider has none (`api_not_implemented`).
   */
  parseFollowUp?(followUp: FollowUp, input: JsonObject): JsonObject;
  run(ctx: ProviderContext): Promise<TaskOutput>;
  /**
   * Asks the provider to stop a running task (e.g. an upstream cancel call). The engine also
   * aborts `ctx.signal`; providers that only work locally need nothing more.
   */
  cancel?(task: Task): Promise<void>;
}

/**
 * Task changes between gateway nodes (Redis pub/sub, or Postgres LISTEN/NOTIFY): an accelerator,
 * never the source of truth. A change announced here is already committed; a change that is
 * never announced (the connection was down) is still found by polling the store.
 */
export interface TaskFeed {
  /** What carries the changes, for logs (`redis`, `postgres`). */
  readonly kind: string;
  /** Tells the other nodes this node changed a task (after the commit). Never throws. */
  publish(event: LocalTaskEvent, taskId: string): void;
  /** `fn` runs for every change another node announced; returns the unsubscribe. */
  subscribe(fn: (event: LocalTaskEvent, taskId: string) => void): () => void;
  /**
   * True while every change of every node is announced (a connected Redis); false while the
   * connection is down, or for a feed that carries only some events (Postgres wakes workers
   * only): waiters then keep polling the store.
   */
  readonly complete: boolean;
  close(): Promise<void>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A check of a create's input before the task exists (content moderation). Throws
 * GatewayError('forbidden') to refuse it: nothing is stored and nothing is charged.
 */
export interface Moderator {
  check(service: string, input: JsonObject): void | Promise<void>;
}
