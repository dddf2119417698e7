/**
 * The submit step of a relayed task, run by a task worker in place of a local provider's `run`:
 * pick a channel (ChannelPool), mark the submit as begun, send it, and store the upstream
 * reference in the transaction that releases the worker; from then on the poll scheduler owns
 * the task. Every failure goes through `decideFailure` (core/upstream.ts), the one place that
 * decides: fail the task, fail over to the next channel, or recover an ambiguous submit the way
 * its protocol allows (`idempotent`: send again with the same key; `lookup`: ask the upstream;
 * `none`: end the task with `api_error`, refunded).
 *
 * A submit interrupted before its answer was stored (a crash, a stop mid-request) is found again
 * on the next claim (an upstream row without a reference) and recovered the same way, never
 * blindly sent again.
 *
 * A follow-up (core/follow-ups.ts) goes to the channel that made its parent and nowhere else: no
 * other upstream knows the image. If that channel is no longer configured, has no follow-ups,
 * is cooling down or does not take it, the task fails (`api_error`, refunded); only a channel at
 * its caps makes it wait queued.
 */
import type { Logger } from 'pino';
import type { ChannelDefinition, ServiceDefinition } from '../core/services.js';
import type { TaskService } from '../core/task-service.js';
import type { Task, TaskError } from '../core/types.js';
import { decideFailure, UpstreamAmbiguous, UpstreamRateLimited, type UpstreamCall, type UpstreamRef } from '../core/upstream.js';
import type { ChannelPool } from './channels.js';
import type { JobContext } from './lease-worker.js';

/** Extra tries of an idempotent submit after an ambiguous one, before the task is queued again. */
const IDEMPOTENT_RETRIES = 2;
/** When a task that found every channel busy is tried again at the earliest. */
const BUSY_RETRY_MS = 1000;

export interface RelayDeps {
  tasks: TaskService;
  channels: ChannelPool;
  workerId: string;
  /** taskgate's callback URL for the task at this channel's upstream; null: polling only. */
  callbackUrl(task: Task): string | null;
}

type Outcome = { ref: UpstreamRef } | { error: TaskError } | { next: true } | { requeue: number };

/** How long a read of the in-flight counts per channel serves the submits that follow. */
const IN_FLIGHT_TTL_MS = 500;

export class UpstreamSubmitter {
  /**
   * The in-flight counts per channel (a count over every task waiting upstream, so not read per
   * submit), plus this process's own submits since the read: a cap is never overshot here.
   */
  private inFlight: { at: number; counts: Record<string, number> } | null = null;

  constructor(private readonly deps: RelayDeps) {}

  private async inFlightNow(): Promise<Readonly<Record<string, number>>> {
    const now = this.deps.tasks.now();
    if (!this.inFlight || now - this.inFlight.at >= IN_FLIGHT_TTL_MS || now < this.inFlight.at) {
      this.inFlight = { at: now, counts: { ...(await this.deps.tasks.upstream.inFlightByChannel()) } };
    }
    return this.inFlight.counts;
  }

  /**
   * Submits `task` (claimed by this worker) upstream; writes exactly one outcome, or none when
   * detached. `skip`: channels already tried in this attempt (a recovered submit found nothing).
   */
  async submit(task: Task, def: ServiceDefinition, job: JobContext, log: Logger, skip: ReadonlySet<string> | null = null): Promise<void> {
    const call: UpstreamCall = { signal: job.signal, log };
    if (task.followUp) return this.submitFollowUp(task, def, job, call, log);
    const channels = (def.relay?.channels ?? []).filter((c) => !skip?.has(c.name));
    const { tasks } = this.deps;

    const interrupted = skip === null ? await tasks.upstream.get(task.id) : null;
    if (interrupted && interrupted.ref === null) {
      const channel = channels.find((c) => c.name === interrupted.channel);
      log.warn({ channel: interrupted.channel }, 'an earlier submit of this task was interrupted; recovering it');
      const outcome = channel ? await this.recover(task, channel, call, log) : { error: lostChannel() };
      if ('next' in outcome) return this.submit(task, def, job, log, new Set([interrupted.channel]));
      await this.conclude(task, channel ?? null, outcome, job, call, log);
      return;
    }

    const order = this.deps.channels.order(channels, await this.inFlightNow());
    let busyFor: number | null = order.length < channels.length ? this.deps.channels.nextUsableAt(channels) - tasks.now() : null;
    let lastError = 'no usable channel';
    for (const channel of order) {
      if (job.isDetached()) return;
      const wait = await this.deps.channels.take(channel);
      if (wait > 0) {
        busyFor = Math.min(busyFor ?? wait, wait);
        continue;
      }
      const outcome = await this.attempt(task, channel, call, log);
      if ('next' in outcome) {
        lastError = this.deps.channels.lastError(channel) ?? lastError;
        // Rate limited or cooling now: it comes back, so the task waits for it. A failure that did
        // not cool the channel down counts as a refusal of this task.
        const cooled = this.deps.channels.cooling(channel) ? this.deps.channels.nextUsableAt([channel]) - tasks.now() : 0;
        if (cooled > 0 && cooled < (busyFor ?? Infinity)) busyFor = cooled;
        continue;
      }
      await this.conclude(task, channel, outcome, job, call, log);
      return;
    }
    if (job.isDetached()) return;
    // Nothing took it. Busy, cooling or rate-limited channels come back: queue the task again
    // until then (its deadline still runs). Channels that all failed outright fail the task.
    if (busyFor === null) log.warn({ last_error: lastError }, 'every upstream channel refused the task');
    const outcome: Outcome = busyFor !== null
      ? { requeue: Math.max(BUSY_RETRY_MS, busyFor) }
      : { error: { code: 'api_error', message: 'No upstream channel accepted the task' } };
    await this.conclude(task, null, outcome, job, call, log);
  }

  /** A follow-up: one try on the channel that made its parent (see the top). */
  private async submitFollowUp(task: Task, def: ServiceDefinition, job: JobContext, call: UpstreamCall, log: Logger): Promise<void> {
    const { tasks, channels } = this.deps;
    const parent = await tasks.upstream.get(task.followUp?.parent.taskId ?? '');
    const channel = parent?.ref ? def.relay?.channels.find((c) => c.name === parent.channel) : undefined;
    let outcome: Outcome;
    if (!channel?.adapter.submitFollowUp) {
      log.warn({ channel: parent?.channel ?? null }, 'follow-up: the channel that made the image is gone or has no follow-ups');
      outcome = { error: followUpError('is no longer configured or has no follow-up actions') };
    } else if ((await tasks.upstream.get(task.id))?.ref === null) {
      log.warn({ channel: channel.name }, 'an earlier submit of this follow-up was interrupted; recovering it');
      outcome = await this.recover(task, channel, call, log);
    } else if (channels.cooling(channel)) {
      log.warn({ channel: channel.name, last_error: channels.lastError(channel) }, 'follow-up: the channel that made the image is cooling down');
      outcome = { error: followUpError('is cooling down after failures; try again later') };
    } else if (channels.order([channel], await this.inFlightNow()).length === 0) {
      outcome = { requeue: BUSY_RETRY_MS }; // at its cap: wait for it, never another channel
    } else {
      const wait = await channels.take(channel);
      outcome = wait > 0 ? { requeue: Math.max(BUSY_RETRY_MS, wait) } : await this.attempt(task, channel, call, log);
    }
    if (job.isDetached()) return;
    if ('next' in outcome) {
      log.warn({ channel: channel?.name, last_error: channel ? channels.lastError(channel) : null }, 'follow-up: the channel that made the image did not take it');
      outcome = { error: followUpError('did not take it') };
    }
    await this.conclude(task, channel ?? null, outcome, job, call, log);
  }

  /** Sends the task's submit (or its follow-up) to one channel. */
  private async send(task: Task, channel: ChannelDefinition, call: UpstreamCall): Promise<UpstreamRef> {
    const req = { idempotencyKey: task.id, input: task.input, callbackUrl: this.deps.callbackUrl(task) };
    const followUp = task.followUp;
    if (!followUp) return channel.adapter.submit(req, call);
    const ref = (await this.deps.tasks.upstream.get(followUp.parent.taskId))?.ref;
    if (!ref || !channel.adapter.submitFollowUp) throw new Error('follow-up without its parent’s upstream reference');
    const { action, kind, index, parent: { file } } = followUp;
    return channel.adapter.submitFollowUp({ ...req, followUp: { action, kind, index, parent: ref, file } }, call);
  }

  /** One channel: mark the submit, send it, classify what happened. */
  private async attempt(task: Task, channel: ChannelDefinition, call: UpstreamCall, log: Logger): Promise<Outcome> {
    const { tasks, workerId } = this.deps;
    if (!(await tasks.upstream.recordSubmitting({ taskId: task.id, workerId, channel: channel.name, now: tasks.now() }))) return { error: lostLease() };
    this.deps.channels.submitStarted(channel);
    try {
      return { ref: await this.send(task, channel, call) };
    } catch (err) {
      if (call.signal.aborted) return { error: lostLease() }; // stop, cancel or deadline: the next claim recovers
      // Answered, and not taken (refused, 429, 5xx): nothing to recover on the next claim.
      if (!(err instanceof UpstreamAmbiguous)) await tasks.upstream.clearSubmitting({ taskId: task.id, workerId });
      return await this.onSubmitError(err, task, channel, call, log);
    } finally {
      this.deps.channels.submitEnded(channel);
    }
  }

  private async onSubmitError(err: unknown, task: Task, channel: ChannelDefinition, call: UpstreamCall, log: Logger): Promise<Outcome> {
    const decision = decideFailure(err, 'submit', channel.adapter.recovery, BUSY_RETRY_MS);
    const message = err instanceof Error ? err.message : String(err);
    log.warn({ channel: channel.name, kind: decision.action, err: message }, 'upstream submit failed');
    switch (decision.action) {
      case 'fail':
        return { error: decision.error };
      case 'failover':
        if (err instanceof UpstreamRateLimited) this.deps.channels.rateLimited(channel, decision.cooldownMs, message);
        else this.deps.channels.failed(channel, message);
        return { next: true };
      case 'retry':
        return { requeue: decision.afterMs };
      case 'recover':
        this.deps.channels.failed(channel, message);
        return this.recover(task, channel, call, log);
    }
  }

  /** An ambiguous or interrupted submit on `channel`, recovered as its protocol allows. */
  private async recover(task: Task, channel: ChannelDefinition, call: UpstreamCall, log: Logger): Promise<Outcome> {
    const adapter = channel.adapter;
    if (adapter.recovery === 'idempotent') {
      for (let i = 0; i < IDEMPOTENT_RETRIES; i++) {
        if (call.signal.aborted) return { error: lostLease() };
        try {
          const ref = await this.send(task, channel, call);
          log.info({ channel: channel.name }, 'ambiguous submit resolved: sent again under the same idempotency key');
          return { ref };
        } catch (err) {
          if (!(err instanceof UpstreamAmbiguous)) return this.onSubmitError(err, task, channel, call, log);
        }
      }
      return { requeue: BUSY_RETRY_MS }; // still no answer: safe to send again later, same key
    }
    if (adapter.recovery === 'lookup' && adapter.lookup) {
      try {
        const ref = await adapter.lookup(task.id, call);
        if (ref) {
          log.info({ channel: channel.name }, 'ambiguous submit resolved: the upstream has the task');
          return { ref };
        }
        return { next: true }; // it never took the task: another channel may
      } catch (err) {
        log.warn({ channel: channel.name, err: err instanceof Error ? err.message : String(err) }, 'upstream lookup failed');
        return { requeue: BUSY_RETRY_MS };
      }
    }
    return {
      error: {
        code: 'api_error',
        message: 'The upstream did not answer the submit and cannot be asked whether it took the task; the task is ended and refunded',
      },
    };
  }

  /** Writes the outcome: the reference (task now waits upstream), a failure, or back to the queue. */
  private async conclude(task: Task, channel: ChannelDefinition | null, outcome: Exclude<Outcome, { next: true }>, job: JobContext, call: UpstreamCall, log: Logger): Promise<void> {
    const { tasks, workerId } = this.deps;
    job.finishing();
    if (job.isDetached()) {
      if ('ref' in outcome && channel) void channel.adapter.cancel?.(outcome.ref, { ...call, signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      return;
    }
    if ('ref' in outcome && channel) {
      const stored = await tasks.submitted(task.id, workerId, channel.name, outcome.ref, tasks.now() + channel.poll.initialMs);
      if (stored) {
        if (this.inFlight) this.inFlight.counts[channel.name] = (this.inFlight.counts[channel.name] ?? 0) + 1;
        this.deps.channels.succeeded(channel);
        log.info({ channel: channel.name }, 'task submitted upstream');
      } else {
        // Cancelled or timed out meanwhile: the upstream task has no one waiting for it.
        void channel.adapter.cancel?.(outcome.ref, { ...call, signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      }
    } else if ('requeue' in outcome) {
      await tasks.requeue(task.id, workerId, tasks.now() + outcome.requeue);
      log.info({ retry_in_ms: outcome.requeue }, 'no channel free: task queued again');
    } else if ('error' in outcome) {
      if (outcome.error.code === LOST) return;
      const failed = await tasks.fail(task.id, workerId, outcome.error);
      if (failed) log.warn({ error: outcome.error }, 'task failed at submit');
    }
  }
}

const LOST = 'lease_lost';
function lostLease(): TaskError {
  return { code: LOST, message: 'the lease moved on' };
}
function followUpError(what: string): TaskError {
  // Channel names never reach a client: the log line names it.
  return { code: 'api_error', message: `The upstream that made this image ${what}; a follow-up cannot go to another upstream (refunded)` };
}
function lostChannel(): TaskError {
  // Channel names never reach a client: the log line above names it.
  return { code: 'api_error', message: 'The task was being submitted upstream on a channel that is no longer configured; ended and refunded' };
}
