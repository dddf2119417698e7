/**
 * Workers: claim due tasks under a lease, run them on their provider, renew the lease while they
 * run, and finish them through TaskService. A task whose worker dies is claimed again once its
 * lease expires; a task running past its service's timeout fails with `timeout`.
 */
import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.js';
import type { FileSink, ServiceClaimLimit } from '../core/ports.js';
import type { TaskService } from '../core/task-service.js';
import { toTaskError } from '../core/task-service.js';
import type { Task, TaskError } from '../core/types.js';
import { ClaimLoop } from './claim-loop.js';

export interface DispatcherOptions {
  tasks: TaskService;
  files: FileSink;
  log: Logger;
  workerId: string;
  /** Lease length; renewed every third of it. */
  leaseMs: number;
  /** Idle poll interval (new tasks of this process wake the loop at once). */
  pollMs: number;
  /** Most tasks this worker runs at once, all services together. */
  maxConcurrency: number;
  /** Claims after which a task that keeps losing its worker is failed instead of retried. */
  maxAttempts: number;
  /** Most running tasks per owner unless its token sets its own (null: no default limit). */
  ownerConcurrency?: number | null;
}

interface Running {
  task: Task;
  abort: AbortController;
  settled: Promise<void>;
  /** Set on stop: the worker gives the task back instead of finishing it. */
  detached: boolean;
}

export class Dispatcher {
  private readonly running = new Map<string, Running>();
  private round = 0;
  private offEvents: Array<() => void> = [];
  private readonly loop: ClaimLoop;

  constructor(private readonly opts: DispatcherOptions) {
    this.loop = new ClaimLoop(() => this.claimRound(), opts.pollMs);
  }

  get workerId(): string {
    return this.opts.workerId;
  }

  get activeCount(): number {
    return this.running.size;
  }

  start(): void {
    if (!this.loop.start()) return;
    this.offEvents = [
      this.opts.tasks.events.on('task:queued', () => this.wake()),
      this.opts.tasks.events.on('task:cancelled', ({ task, previous }) => {
        if (previous === 'running') this.cancelRunning(task);
      }),
    ];
  }

  /** Runs a claim round soon (coalesced; rounds never overlap). */
  wake(): void {
    this.loop.wake();
  }

  /** A claim round now (or right after the one in progress). */
  tick(): Promise<void> {
    return this.loop.tick();
  }

  private get stopped(): boolean {
    return !this.loop.active;
  }

  private async claimRound(): Promise<void> {
    const free = this.opts.maxConcurrency - this.running.size;
    if (free <= 0) return;
    const all = this.opts.tasks.services.all();
    // Start each round at the next service, so no service starves the ones listed after it.
    const first = this.round++ % Math.max(1, all.length);
    const limits: ServiceClaimLimit[] = [...all.slice(first), ...all.slice(0, first)].map((def) => ({
      service: def.name,
      concurrency: def.concurrency,
      timeoutMs: def.timeoutMs,
    }));
    let claimed: Task[];
    try {
      claimed = await this.opts.tasks.claim(this.opts.workerId, free, limits, this.opts.leaseMs, this.opts.ownerConcurrency ?? null);
    } catch (err) {
      this.opts.log.error({ err }, 'claiming tasks failed');
      return;
    }
    for (const task of claimed) this.launch(task);
  }

  private launch(task: Task): void {
    const abort = new AbortController();
    const entry: Running = { task, abort, settled: Promise.resolve(), detached: false };
    this.running.set(task.id, entry);
    entry.settled = this.execute(entry)
      .catch((err: unknown) => this.opts.log.error({ err, task_id: task.id }, 'task execution failed'))
      .finally(() => {
        this.running.delete(task.id);
        this.wake();
      });
  }

  private async execute(entry: Running): Promise<void> {
    const { task, abort } = entry;
    const { tasks, workerId, leaseMs } = this.opts;
    const log = this.opts.log.child({ task_id: task.id, trace_id: task.traceId, service: task.service });
    const now = tasks.now();
    if (task.attempts > this.opts.maxAttempts) {
      log.warn({ attempts: task.attempts }, 'task abandoned: too many attempts');
      await tasks.abandon(task.id, { code: 'api_error', message: `Task abandoned after ${task.attempts - 1} lost attempts` });
      return;
    }
    if (task.deadlineAt !== null && task.deadlineAt <= now) {
      log.warn('task timed out before it could be resumed');
      await tasks.abandon(task.id, timeoutError());
      return;
    }
    const def = tasks.services.find(task.service);
    if (!def) return; // claimed only for configured services; defensive
    log.info({ attempt: task.attempts, provider: def.provider.name }, 'task started');

    // Exactly one outcome is written per attempt: the provider's, the deadline's, or none (lease
    // lost / worker stopping). The store's compare-and-set refuses it if the lease moved on.
    let finished = false;
    const stopTimers = (): void => {
      finished = true;
      clearInterval(renewer);
      clearTimeout(deadline);
    };
    const finish = async (write: () => Promise<Task | null>): Promise<void> => {
      if (finished) return;
      stopTimers();
      if (entry.detached) return;
      const result = await write();
      if (!result) log.warn('task result discarded: lease lost or task already finished');
      else if (result.state === 'succeeded') log.info({ ms: (result.finishedAt ?? 0) - (result.startedAt ?? 0) }, 'task succeeded');
      else log.warn({ error: result.error }, 'task failed');
    };
    const loseLease = (): void => {
      if (finished) return;
      log.warn('lease lost; stopping work');
      stopTimers();
      abort.abort(new Error('lease lost'));
    };
    const renewer = setInterval(() => {
      if (this.stopped) return; // halted: a dead process renews nothing
      void tasks.renewLease(task.id, workerId, leaseMs).then((ok) => ok || loseLease(), loseLease);
    }, Math.max(10, Math.floor(leaseMs / 3)));
    const deadline = setTimeout(
      () => {
        abort.abort(new GatewayError('timeout'));
        void finish(() => tasks.fail(task.id, workerId, timeoutError()));
      },
      Math.max(0, (task.deadlineAt ?? now + def.timeoutMs) - now),
    );

    try {
      const output = await def.provider.run({
        task,
        input: task.input,
        signal: abort.signal,
        files: this.opts.files,
        log,
        progress: (fraction, message) => {
          if (finished) return;
          void tasks.progress(task.id, workerId, fraction, message ?? null).then((t) => t || loseLease(), loseLease);
        },
      });
      await finish(() => tasks.succeed(task.id, workerId, output));
    } catch (err) {
      if (!(err instanceof GatewayError) && !abort.signal.aborted) log.error({ err }, 'provider error');
      await finish(() => tasks.fail(task.id, workerId, toTaskError(err)));
    }
  }

  /**
   * A running task of this worker was cancelled (already `cancelled` in the store): stop the
   * provider, and let it cancel upstream work if it can. Nothing is written for this attempt.
   */
  private cancelRunning(task: Task): void {
    const entry = this.running.get(task.id);
    if (!entry) return; // another process runs it: its lease renewal fails and it stops there
    entry.detached = true;
    entry.abort.abort(new GatewayError('cancelled'));
    const provider = this.opts.tasks.services.find(task.service)?.provider;
    provider?.cancel?.(task).catch((err: unknown) => this.opts.log.warn({ err, task_id: task.id }, 'provider cancel failed'));
    this.opts.log.info({ task_id: task.id, trace_id: task.traceId }, 'task cancelled while running');
  }

  /**
   * Stops claiming. Running tasks are aborted and handed back (not counted as lost attempts), so
   * another worker, or this one after a restart, picks them up at once.
   */
  async stop(): Promise<void> {
    this.halt();
    const entries = [...this.running.values()];
    for (const entry of entries) {
      entry.detached = true;
      entry.abort.abort(new Error('worker stopping'));
    }
    await Promise.allSettled(entries.map((e) => e.settled));
    const returned = await this.opts.tasks.returnLeases(this.opts.workerId);
    if (returned) this.opts.log.info({ tasks: returned }, 'running tasks handed back; they resume on the next start');
  }

  /** Stops claiming and renewing without releasing anything: what a killed process leaves behind. */
  halt(): void {
    this.loop.stop();
    for (const off of this.offEvents) off();
    this.offEvents = [];
  }
}

function timeoutError(): TaskError {
  return { code: 'timeout', message: 'The task ran past its service timeout' };
}
