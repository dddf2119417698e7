/**
 * Task workers: claim due tasks under a lease, run them on their provider, and finish them through
 * TaskService; the LeaseWorker renews their leases while they run and hands them back on stop. A
 * task whose worker dies is claimed again once its lease expires; a task running past its
 * service's timeout fails with `timeout`.
 */
import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.js';
import type { FileSink, ServiceClaimLimit } from '../core/ports.js';
import type { TaskService } from '../core/task-service.js';
import { toTaskError } from '../core/task-service.js';
import type { Task, TaskError } from '../core/types.js';
import { LeaseWorker, type JobContext } from './lease-worker.js';
import type { UpstreamSubmitter } from './relay.js';

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
  /** Submits tasks of relayed services upstream (instead of running a provider). */
  relay?: UpstreamSubmitter;
}

export class Dispatcher {
  private round = 0;
  private readonly worker: LeaseWorker<Task>;

  constructor(private readonly opts: DispatcherOptions) {
    const { tasks, workerId, leaseMs, log } = opts;
    this.worker = new LeaseWorker<Task>({
      name: 'tasks', workerId, log, leaseMs, pollMs: opts.pollMs, maxConcurrency: opts.maxConcurrency,
      key: (task) => task.id,
      logFields: (task) => ({ task_id: task.id, trace_id: task.traceId, service: task.service }),
      claim: (max) => this.claim(max),
      run: (task, ctx) => this.execute(task, ctx),
      renew: (running) => tasks.renewLeases(running.map((t) => t.id), workerId, leaseMs),
      onRenewError: 'lose', // unsure whether the lease still holds: stop, write nothing
      // A clean stop hands running tasks back (not counted as lost attempts), so another worker,
      // or this one after a restart, picks them up at once.
      giveBack: async () => {
        const returned = await tasks.returnLeases(workerId);
        if (returned) log.info({ tasks: returned }, 'running tasks handed back; they resume on the next start');
      },
      subscribe: () => [
        tasks.events.on('task:queued', () => this.wake()),
        // A task queued (or requeued) on another node: claim it here too if this node is free.
        tasks.events.on('task:remote', ({ event }) => {
          if (event === 'task:queued') this.wake();
        }),
        tasks.events.on('task:cancelled', ({ task, previous }) => {
          if (previous === 'running') this.cancelRunning(task);
        }),
      ],
    });
  }

  get workerId(): string {
    return this.worker.workerId;
  }

  get activeCount(): number {
    return this.worker.activeCount;
  }

  start(): void {
    this.worker.start();
  }

  /** Runs a claim round soon (coalesced; rounds never overlap). */
  wake(): void {
    this.worker.wake();
  }

  /** A claim round now (or right after the one in progress). */
  tick(): Promise<void> {
    return this.worker.tick();
  }

  /** Stops claiming; running tasks are aborted and handed back. */
  stop(): Promise<void> {
    return this.worker.stop();
  }

  /** Stops claiming and renewing without releasing anything: what a killed process leaves behind. */
  halt(): void {
    this.worker.halt();
  }

  private claim(max: number): Promise<Task[]> {
    const all = this.opts.tasks.services.all();
    // Start each round at the next service, so no service starves the ones listed after it.
    const first = this.round++ % Math.max(1, all.length);
    const limits: ServiceClaimLimit[] = [...all.slice(first), ...all.slice(0, first)].map((def) => ({
      service: def.name,
      concurrency: def.concurrency,
      timeoutMs: def.timeoutMs,
    }));
    return this.opts.tasks.claim(this.opts.workerId, max, limits, this.opts.leaseMs, this.opts.ownerConcurrency ?? null);
  }

  private async execute(task: Task, job: JobContext): Promise<void> {
    const { tasks, workerId } = this.opts;
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
    // lost / worker stopping / cancelled). The store's compare-and-set refuses it if the lease moved on.
    let finished = false;
    const finish = async (write: () => Promise<Task | null>): Promise<void> => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      job.finishing();
      if (job.isDetached()) return;
      const result = await write();
      if (!result) log.warn('task result discarded: lease lost or task already finished');
      else if (result.state === 'succeeded') log.info({ ms: (result.finishedAt ?? 0) - (result.startedAt ?? 0) }, 'task succeeded');
      else log.warn({ error: result.error }, 'task failed');
    };
    const deadline = setTimeout(
      () => {
        job.abort(new GatewayError('timeout'));
        void finish(() => tasks.fail(task.id, workerId, timeoutError()));
      },
      Math.max(0, (task.deadlineAt ?? now + def.timeoutMs) - now),
    );

    if (def.relay) {
      // A relayed task holds this worker only for its submit; the submitter writes the outcome.
      try {
        if (!this.opts.relay) throw new Error('no upstream submitter configured');
        await this.opts.relay.submit(task, def, job, log);
      } catch (err) {
        log.error({ err }, 'upstream submit failed unexpectedly');
        await finish(() => tasks.fail(task.id, workerId, { code: 'api_error', message: 'The upstream submit failed unexpectedly' }));
      } finally {
        clearTimeout(deadline);
      }
      return;
    }
    try {
      const output = await def.provider.run({
        task,
        input: task.input,
        followUp: task.followUp,
        signal: job.signal,
        files: this.opts.files,
        log,
        progress: (fraction, message) => {
          if (finished || job.isDetached()) return;
          void tasks.progress(task.id, workerId, fraction, message ?? null).then((t) => t || job.lose(), () => job.lose());
        },
      });
      await finish(() => tasks.succeed(task.id, workerId, output));
    } catch (err) {
      if (!(err instanceof GatewayError) && !job.signal.aborted) log.error({ err }, 'provider error');
      await finish(() => tasks.fail(task.id, workerId, toTaskError(err)));
    }
  }

  /**
   * A running task of this worker was cancelled (already `cancelled` in the store): stop the
   * provider, and let it cancel upstream work if it can. Nothing is written for this attempt.
   */
  private cancelRunning(task: Task): void {
    // Not ours: another process runs it, its lease renewal fails and it stops there.
    if (!this.worker.detach(task.id, new GatewayError('cancelled'))) return;
    const provider = this.opts.tasks.services.find(task.service)?.provider;
    provider?.cancel?.(task).catch((err: unknown) => this.opts.log.warn({ err, task_id: task.id }, 'provider cancel failed'));
    this.opts.log.info({ task_id: task.id, trace_id: task.traceId }, 'task cancelled while running');
  }
}

function timeoutError(): TaskError {
  return { code: 'timeout', message: 'The task ran past its service timeout' };
}
