/**
 * TaskService — the only owner of task state and its transitions. Dialects call it to create and
 * read tasks; the dispatcher calls it to claim, renew, report progress and finish. Every change is
 * one compare-and-set transaction in the store; events are emitted after it commits.
 */
import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { GatewayError } from './errors.js';
import { LOCAL_TASK_EVENTS, TaskEvents } from './events.js';
import { resolveFollowUp } from './follow-ups.js';
import type { Clock, ListRequest, LiveCount, Moderator, NewTask, PurgedTask, ServiceClaimLimit, TaskFeed, TaskFilter, TaskListing, TaskStore } from './ports.js';
import type { ServiceRegistry } from './services.js';
import type { JsonObject, Task, TaskError, TaskLog, TaskOutput, WebhookEvent } from './types.js';
import { isTerminal } from './types.js';
import { TaskReadCache } from './read-cache.js';
import { TaskWatchers } from './waiters.js';
import type { UpstreamRef, UpstreamStore } from './upstream.js';
import { canTransition } from './state.js';
import { TASK_STATES } from './types.js';

/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** States a task may fail from, whoever holds it. */
const FAILABLE = TASK_STATES.filter((s) => canTransition(s, 'failed'));
/** States a task may be cancelled from. */
const CANCELLABLE = TASK_STATES.filter((s) => canTransition(s, 'cancelled'));

export interface CreateTaskInput {
  ownerId: string;
  service: string;
  dialect: string;
  /** The body as the client sent it. */
  request: JsonObject;
  /** The provider input (request minus gateway control fields); validated here. */
  input: JsonObject;
  traceId: string;
  callbackUrl?: string | null;
  /** Dialect extras to keep with the task (never provider input). */
  meta?: JsonObject;
  /** Events the callback URL receives (default: only `completed`). */
  webhookEvents?: WebhookEvent[];
  /** The client's Idempotency-Key: a retry within 24 h returns the first task (no new charge). */
  idempotencyKey?: string;
  /** The base URL the client reached the gateway at (for file URLs in webhook payloads). */
  origin?: string | null;
}

/** What a cancel request found and did. */
export type CancelOutcome =
  | { outcome: 'cancelled'; task: Task }
  | { outcome: 'already_completed'; task: Task }
  | { outcome: 'not_found' };

export interface TaskServiceOptions {
  store: TaskStore;
  services: ServiceRegistry;
  clock: Clock;
  events?: TaskEvents;
  /** How often a waiter re-reads the store (catches tasks finished by another process). */
  waitPollMs?: number;
  /** Checks a create's validated input before anything is stored (content moderation). */
  moderator?: Moderator;
  /**
   * A read cache for a store shared by several nodes (core/read-cache.ts): finished tasks always,
   * live ones while the attached feed is complete. Absent: every read goes to the store.
   */
  sharedReadCache?: { size: number; liveTtlMs: number };
}

export class TaskService {
  readonly events: TaskEvents;
  readonly services: ServiceRegistry;
  private readonly store: TaskStore;
  private readonly clock: Clock;
  private readonly waiters: TaskWatchers;
  private readonly moderator: Moderator | undefined;
  /** Reads of a store shared by several nodes (null: the store caches itself, or nothing is cached). */
  private readonly readCache: TaskReadCache | null;
  /** Changes to and from other gateway nodes, once attached. */
  private feed: TaskFeed | null = null;
  private detachFeed: () => void = () => {};

  constructor(opts: TaskServiceOptions) {
    this.moderator = opts.moderator;
    this.store = opts.store;
    this.services = opts.services;
    this.clock = opts.clock;
    this.events = opts.events ?? new TaskEvents();
    this.waiters = new TaskWatchers(this.events, (id) => this.store.get(id), opts.waitPollMs ?? 1000, () => this.feed?.complete ?? false);
    this.readCache = opts.sharedReadCache
      ? new TaskReadCache(this.events, { ...opts.sharedReadCache, coherent: () => this.feed?.complete ?? false, now: () => this.clock.now() })
      : null;
  }

  /**
   * Joins the other gateway nodes through `feed`: this node's transitions are announced there,
   * and theirs arrive here as `task:remote` (workers wake, waiters re-read the task at once).
   */
  attachFeed(feed: TaskFeed): void {
    this.detachFeed();
    this.feed = feed;
    const offs = LOCAL_TASK_EVENTS.map((event) => this.events.on(event, ({ task }) => feed.publish(event, task.id)));
    offs.push(feed.subscribe((event, id) => this.events.emit('task:remote', { id, event })));
    this.detachFeed = () => {
      for (const off of offs) off();
      this.feed = null;
    };
  }

  now(): number {
    return this.clock.now();
  }

  async create(req: CreateTaskInput): Promise<Task> {
    const def = this.services.get(req.service);
    // A follow-up (`action` + `image_id`) continues an earlier image of this owner (core/follow-ups.ts).
    const followUp = await resolveFollowUp(this.store, def, req.ownerId, req.input);
    const input = followUp && def.provider.parseFollowUp ? def.provider.parseFollowUp(followUp, req.input) : def.provider.parseInput(req.input);
    await this.moderator?.check(def.name, input); // refused → forbidden: no task, no charge
    const now = this.clock.now();
    const task: NewTask = {
      // UUID v7: 74 random bits (unguessable) after a millisecond timestamp, so new ids append to
      // the store's primary-key index instead of landing on a random page (half the write cost).
      id: uuidv7(),
      ownerId: req.ownerId,
      service: def.name,
      dialect: req.dialect,
      request: req.request,
      input,
      traceId: req.traceId,
      callbackUrl: req.callbackUrl ?? null,
      createdAt: now,
      runAfter: now,
      meta: req.meta ?? {},
      webhookEvents: req.webhookEvents ?? ['completed'],
      origin: req.origin ?? null,
      // Held in the insert's transaction; too little balance → used_up and no task.
      price: def.price(input),
      followUp,
    };
    if (req.idempotencyKey === undefined) {
      const created = await this.store.insert(task);
      this.events.emit('task:queued', { task: created });
      return created;
    }
    // A retry with the same key (and the same request) gets the first task back, as it is now.
    const requestHash = createHash('sha256').update(JSON.stringify([def.name, req.request])).digest('hex');
    const { task: result, created } = await this.store.insertOnce(task, {
      key: req.idempotencyKey, requestHash, notBefore: now - IDEMPOTENCY_WINDOW_MS,
    });
    if (created) this.events.emit('task:queued', { task: result });
    return result;
  }

  /** The task if `ownerId` owns it; another owner's task is indistinguishable from none. */
  async get(ownerId: string, id: string): Promise<Task | null> {
    const task = await this.read(id);
    return task && task.ownerId === ownerId ? task : null;
  }

  /**
   * A task by id, whoever owns it: for operator views only (the dashboard's live stream reads a
   * task another node changed, then shows it only to whom may see it). Never hand it to a client
   * without checking the owner; clients read through `get`.
   */
  getUnscoped(id: string): Promise<Task | null> {
    return this.read(id);
  }

  /** A task by id: from the read cache when the store is shared and it can be trusted, else the store. */
  private async read(id: string): Promise<Task | null> {
    const cache = this.readCache;
    if (!cache) return this.store.get(id);
    const cached = cache.get(id);
    if (cached) return cached;
    const mark = cache.mark();
    const task = await this.store.get(id);
    if (task) cache.fill(task, mark);
    return task;
  }

  /** Tasks matching a filter, newest first, with their relay channels: for the operator's and an owner's dashboard. */
  search(filter: TaskFilter): Promise<TaskListing[]> {
    return this.store.search(filter);
  }

  /**
   * A task by id alone, for capability URLs (a stream URL a client fetches without its token):
   * returned only if `proves(task)` holds, e.g. a secret kept in its meta matches.
   */
  async getWithCapability(id: string, proves: (task: Task) => boolean): Promise<Task | null> {
    const task = await this.read(id);
    return task && proves(task) ? task : null;
  }

  getMany(ownerId: string, ids: readonly string[]): Promise<Task[]> {
    return this.store.getMany(ownerId, ids);
  }

  /**
   * Cancels a task the owner can see. A queued task is cancelled at once; a running one is
   * cancelled in the store first (so no late provider result can overwrite it) and its worker
   * then aborts the provider (`task:cancelled`, or a failed lease renewal in another process).
   * A finished task is left as it is.
   */
  async cancel(ownerId: string, id: string): Promise<CancelOutcome> {
    const task = await this.get(ownerId, id);
    if (!task) return { outcome: 'not_found' };
    if (isTerminal(task.state)) return { outcome: 'already_completed', task };
    const cancelled = await this.store.terminate({
      id, from: CANCELLABLE, state: 'cancelled', error: { code: 'cancelled', message: 'The task was cancelled' }, now: this.clock.now(),
    });
    if (!cancelled) {
      // It finished between the read and the cancel: report what it became.
      const now = await this.get(ownerId, id);
      return now ? { outcome: 'already_completed', task: now } : { outcome: 'not_found' };
    }
    this.events.emit('task:cancelled', { task: cancelled, previous: task.state });
    return { outcome: 'cancelled', task: cancelled };
  }

  /** The provider log lines of a task (oldest first). */
  logs(task: Task): Promise<TaskLog[]> {
    return this.store.logs(task.id);
  }

  /** Queued tasks of the same service ahead of this one (0 when next or not queued). */
  queuePosition(task: Task): Promise<number> {
    return this.store.queuePosition(task);
  }

  /** An owner's tasks, newest first, `limit` at a time after the `before` cursor. */
  list(req: ListRequest): Promise<Task[]> {
    return this.store.list(req);
  }

  /**
   * Calls `onChange` with every new state of the task (start, progress, finish) until it is
   * terminal or `signal` aborts; resolves with the last state seen.
   */
  watch(task: Task, onChange: (task: Task) => void, signal?: AbortSignal): Promise<Task> {
    return this.waiters.watch(task, onChange, signal);
  }

  /**
   * Resolves with the task once terminal, or with its current state after `timeoutMs` or when
   * `signal` aborts (shutdown). The task itself is never affected by the wait ending.
   */
  async waitForTerminal(task: Task, timeoutMs: number, signal?: AbortSignal): Promise<Task> {
    if (isTerminal(task.state)) return task;
    return this.waiters.wait(task, timeoutMs, signal);
  }

  // ---- worker side -------------------------------------------------------------------------

  async claim(workerId: string, max: number, limits: ServiceClaimLimit[], leaseMs: number, ownerConcurrency: number | null = null): Promise<Task[]> {
    const claimed = await this.store.claimDue({ workerId, now: this.clock.now(), leaseMs, max, services: limits, ownerConcurrency });
    for (const task of claimed) this.events.emit('task:started', { task, workerId });
    return claimed;
  }

  /** Renews the leases of these running tasks for `leaseMs` more; resolves with the ids still held. */
  renewLeases(ids: readonly string[], workerId: string, leaseMs: number): Promise<string[]> {
    return this.store.extendLeases(ids, workerId, this.clock.now() + leaseMs);
  }

  async progress(id: string, workerId: string, fraction: number, message: string | null): Promise<Task | null> {
    const clamped = Math.min(1, Math.max(0, fraction));
    const task = await this.store.setProgress(id, workerId, clamped, message, this.clock.now());
    if (task) this.events.emit('task:progress', { task });
    return task;
  }

  async succeed(id: string, workerId: string, output: TaskOutput): Promise<Task | null> {
    const task = await this.store.finish({ id, workerId, now: this.clock.now(), state: 'succeeded', output });
    if (task) this.events.emit('task:succeeded', { task });
    return task;
  }

  async fail(id: string, workerId: string, error: TaskError): Promise<Task | null> {
    const task = await this.store.finish({ id, workerId, now: this.clock.now(), state: 'failed', error });
    if (task) this.events.emit('task:failed', { task });
    return task;
  }

  /** Fails a task regardless of lease (attempt limit, deadline passed before a re-claim). */
  async abandon(id: string, error: TaskError): Promise<Task | null> {
    const task = await this.store.terminate({ id, from: FAILABLE, state: 'failed', error, now: this.clock.now() });
    if (task) this.events.emit('task:failed', { task });
    return task;
  }

  /** Gives back the leases of these workers so their running tasks are claimable at once. */
  releaseLeases(workerIds: readonly string[]): Promise<number> {
    return this.store.releaseLeases(workerIds);
  }

  /** A clean stop of this worker: its running tasks are handed back without counting an attempt. */
  returnLeases(workerId: string): Promise<number> {
    return this.store.returnLeases(workerId);
  }

  // ---- relayed tasks (see core/upstream.ts) ---------------------------------------------------

  /** The upstream side of relayed tasks (reads, due polls, channel counts). */
  get upstream(): UpstreamStore {
    return this.store.upstream;
  }

  /** The submit went through: the task now waits upstream and holds no worker. */
  submitted(id: string, workerId: string, channel: string, ref: UpstreamRef, nextPollAt: number): Promise<Task | null> {
    return this.store.upstream.recordSubmitted({ taskId: id, workerId, channel, ref, now: this.clock.now(), nextPollAt });
  }

  /** A poll that did not end the task: its progress (if it moved) is announced like a local run's. */
  async polled(id: string, workerId: string, raw: string | null, progress: number | null, nextPollAt: number): Promise<void> {
    await this.polledMany(workerId, [{ id, raw, progress, nextPollAt }]);
  }

  /**
   * The polls of one batch that did not end their tasks, written together (one transaction); a
   * progress that rose emits `task:progress`.
   */
  async polledMany(workerId: string, polls: ReadonlyArray<{ id: string; raw: string | null; progress: number | null; nextPollAt: number }>): Promise<void> {
    if (polls.length === 0) return;
    const done = await this.store.upstream.recordPolls({
      workerId, now: this.clock.now(),
      polls: polls.map((p) => ({ taskId: p.id, raw: p.raw, progress: p.progress === null ? null : Math.min(1, Math.max(0, p.progress)), nextPollAt: p.nextPollAt })),
    });
    for (const d of done) if (d?.progressed) this.events.emit('task:progress', { task: d.progressed });
  }

  /** Back to the queue until `runAfter` (every channel busy or rate limited); the attempt does not count. */
  async requeue(id: string, workerId: string, runAfter: number): Promise<Task | null> {
    const task = await this.store.requeue({ id, workerId, runAfter });
    if (task) this.events.emit('task:queued', { task });
    return task;
  }

  /** Queued and running tasks per service, as the store counts them now (metrics). */
  countLive(): Promise<LiveCount[]> {
    return this.store.countLive();
  }

  /** Retention (TaskStore.purgeFinished): the removed tasks leave this node's read cache too. */
  async purgeFinished(before: number, limit: number): Promise<PurgedTask[]> {
    const removed = await this.store.purgeFinished(before, limit);
    for (const { id } of removed) this.readCache?.drop(id);
    return removed;
  }

  /** Lease owners of running tasks (for dead-worker detection). */
  runningLeaseOwners(): Promise<string[]> {
    return this.store.runningLeaseOwners();
  }

  close(): void {
    this.detachFeed();
    this.waiters.close();
    this.readCache?.close();
  }
}

/** Maps anything a provider threw to a task error (unknown failures become `api_error`). */
export function toTaskError(err: unknown): TaskError {
  if (err instanceof GatewayError) return { code: err.code, message: err.message };
  return { code: 'api_error', message: 'The provider failed to generate a result' };
}
