/**
 * The one lease-worker mechanism behind every worker kind (tasks, webhook deliveries, upstream
 * polls): claims due jobs under a lease into its free slots, runs each, renews the leases of all
 * its jobs in flight together every third of the lease (one store call, like BullMQ's lock
 * manager), stops a job whose lease is lost, and on stop aborts and awaits what is in flight and
 * gives the leases back. A kind brings only what differs: how to claim, run, renew and give back.
 */
import type { Logger } from 'pino';
import { ClaimLoop } from './claim-loop.js';

/** What a running job is given besides itself. */
export interface JobContext {
  /** Aborted when the lease is lost, the worker stops, the job is detached, or by `abort`. */
  readonly signal: AbortSignal;
  /**
   * True once the job must write nothing more: the worker is stopping (it gives the lease back),
   * the job was detached (cancelled), or its lease was lost (someone else may hold it now).
   */
  isDetached(): boolean;
  /** Aborts the job's signal for a reason of the kind's own (a deadline); the job still writes its outcome. */
  abort(reason: unknown): void;
  /** The job found its lease gone (a refused write): detach and abort it, as a failed renewal would. */
  lose(): void;
  /** The job is writing the outcome that ends its lease: renew it no more, and ignore its loss. */
  finishing(): void;
}

export interface LeaseWorkerOptions<Job> {
  /** What the worker runs, for logs ('tasks', 'webhook deliveries'). */
  name: string;
  workerId: string;
  log: Logger;
  /** Lease length; all leases in flight are renewed every third of it. */
  leaseMs: number;
  /** Idle poll interval (wake() runs a round at once). */
  pollMs: number;
  /** Most jobs in flight at once. */
  maxConcurrency: number;
  /** A job's id, the one `renew` reports back. */
  key(job: Job): string;
  /** Fields naming a job in logs. */
  logFields?(job: Job): Record<string, unknown>;
  /** Claims at most `max` due jobs under a lease of this worker. */
  claim(max: number): Promise<Job[]>;
  run(job: Job, ctx: JobContext): Promise<void>;
  /** Extends the leases of these jobs (one batched store call); resolves with the keys still held. */
  renew(jobs: Job[]): Promise<Iterable<string>>;
  /**
   * When `renew` throws: 'lose' treats every lease of the batch as lost (the job stops and writes
   * nothing); 'keep' logs it and lets the next renewal try again (default).
   */
  onRenewError?: 'lose' | 'keep';
  /** Gives back the leases this worker still holds (after stop() has settled every job). */
  giveBack(): Promise<void>;
  /** How long stop() lets jobs in flight finish before aborting them (default 0). */
  stopGraceMs?: number;
  /** Subscribes wake-up sources on start; the returned functions unsubscribe them on stop/halt. */
  subscribe?(): Array<() => void>;
}

interface InFlight<Job> {
  job: Job;
  abort: AbortController;
  settled: Promise<void>;
  /** Set on stop, detach or lease loss: the job writes nothing more. */
  detached: boolean;
  /** Set by `finishing()`: not renewed any more. */
  finishing: boolean;
}

export class LeaseWorker<Job> {
  private readonly inFlight = new Map<string, InFlight<Job>>();
  private readonly loop: ClaimLoop;
  private renewer: NodeJS.Timeout | undefined;
  private renewing = false;
  /** The claim round in progress, so stop() gives back what it claims too. */
  private claiming: Promise<void> = Promise.resolve();
  private unsubscribe: Array<() => void> = [];

  constructor(private readonly opts: LeaseWorkerOptions<Job>) {
    this.loop = new ClaimLoop(() => {
      const round = this.claimRound();
      this.claiming = round;
      return round;
    }, opts.pollMs);
  }

  get workerId(): string {
    return this.opts.workerId;
  }

  get activeCount(): number {
    return this.inFlight.size;
  }

  /** Starts claiming and renewing; a no-op if already started. */
  start(): void {
    if (!this.loop.start()) return;
    this.renewer = setInterval(() => void this.renewAll(), Math.max(10, Math.floor(this.opts.leaseMs / 3)));
    this.renewer.unref();
    this.unsubscribe = this.opts.subscribe?.() ?? [];
  }

  /** Runs a claim round soon (coalesced; rounds never overlap). */
  wake(): void {
    this.loop.wake();
  }

  /** A claim round now (or right after the one in progress). */
  tick(): Promise<void> {
    return this.loop.tick();
  }

  /**
   * Stops a job of this worker that must write nothing more (it was cancelled elsewhere): aborts
   * it with `reason`. Returns the job, or undefined if this worker is not running it.
   */
  detach(key: string, reason: unknown): Job | undefined {
    const entry = this.inFlight.get(key);
    if (!entry) return undefined;
    entry.detached = true;
    entry.abort.abort(reason);
    return entry.job;
  }

  /**
   * Stops claiming. Jobs in flight get `stopGraceMs` to finish, then are detached (they write
   * nothing) and aborted; once all have settled, the leases are given back.
   */
  async stop(): Promise<void> {
    this.halt();
    await this.claiming.catch(() => undefined);
    const entries = [...this.inFlight.values()];
    const graceMs = this.opts.stopGraceMs ?? 0;
    if (entries.length > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.allSettled(entries.map((e) => e.settled)), grace]);
      clearTimeout(timer);
    }
    for (const entry of this.inFlight.values()) {
      entry.detached = true;
      entry.abort.abort(new Error(`${this.opts.name} worker stopping`));
    }
    await Promise.allSettled(entries.map((e) => e.settled));
    await this.opts.giveBack();
  }

  /** Stops claiming and renewing without releasing anything: what a killed process leaves behind. */
  halt(): void {
    this.loop.stop();
    clearInterval(this.renewer);
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
  }

  private fields(job: Job): Record<string, unknown> {
    return this.opts.logFields?.(job) ?? { key: this.opts.key(job) };
  }

  private async claimRound(): Promise<void> {
    const free = this.opts.maxConcurrency - this.inFlight.size;
    if (free <= 0) return;
    let claimed: Job[];
    try {
      claimed = await this.opts.claim(free);
    } catch (err) {
      this.opts.log.error({ err }, `${this.opts.name}: claiming failed`);
      return;
    }
    // Halted while claiming: leave them leased, as a killed process would (stop() gives them back).
    if (!this.loop.active) return;
    for (const job of claimed) this.launch(job);
  }

  private launch(job: Job): void {
    const key = this.opts.key(job);
    const abort = new AbortController();
    const entry: InFlight<Job> = { job, abort, settled: Promise.resolve(), detached: false, finishing: false };
    const ctx: JobContext = {
      signal: abort.signal,
      isDetached: () => entry.detached,
      abort: (reason) => abort.abort(reason),
      lose: () => this.lose(entry),
      finishing: () => {
        entry.finishing = true;
      },
    };
    this.inFlight.set(key, entry);
    entry.settled = new Promise<void>((resolve) => resolve(this.opts.run(job, ctx)))
      .catch((err: unknown) => this.opts.log.error({ err, ...this.fields(job) }, `${this.opts.name}: run failed`))
      .finally(() => {
        if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
        this.wake(); // a free slot
      });
  }

  /** Renews every lease in flight in one call; a job whose lease is gone is stopped. */
  private async renewAll(): Promise<void> {
    if (this.renewing || !this.loop.active) return; // halted: a dead process renews nothing
    const batch = [...this.inFlight.values()].filter((e) => !e.detached && !e.finishing);
    if (batch.length === 0) return;
    this.renewing = true;
    try {
      let held: Set<string>;
      try {
        held = new Set(await this.opts.renew(batch.map((e) => e.job)));
      } catch (err) {
        this.opts.log.warn({ err, jobs: batch.length }, `${this.opts.name}: renewing leases failed`);
        if (this.opts.onRenewError !== 'lose') return;
        held = new Set();
      }
      for (const entry of batch) if (!held.has(this.opts.key(entry.job))) this.lose(entry);
    } finally {
      this.renewing = false;
    }
  }

  private lose(entry: InFlight<Job>): void {
    if (entry.detached || entry.finishing || this.inFlight.get(this.opts.key(entry.job)) !== entry) return;
    this.opts.log.warn(this.fields(entry.job), `${this.opts.name}: lease lost; stopping work`);
    entry.detached = true;
    entry.abort.abort(new Error('lease lost'));
  }
}
