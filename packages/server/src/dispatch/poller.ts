/**
 * The poll scheduler: the third worker kind on the one LeaseWorker. It claims tasks whose poll is
 * due under a short lease (any process may, so several share the work), groups them per channel
 * into one request per batch where the protocol has a batch query, and writes what each poll
 * learned: progress and the next poll time (backoff per channel: initialMs × factor^polls, at
 * most maxMs), or the end. A success is reported only after its outputs are copied into
 * taskgate's file store; a terminal result passes the same compare-and-set as a local run, so
 * settle or refund happens exactly once whatever races (a second poller, cancel, timeout).
 *
 * A task past its deadline is failed with `timeout` at its next poll and cancelled upstream; a
 * task cancelled here is cancelled upstream too (best effort).
 */
import type { Logger } from 'pino';
import type { FileSink } from '../core/ports.js';
import type { ChannelDefinition, ServiceRegistry } from '../core/services.js';
import type { TaskService } from '../core/task-service.js';
import type { Task, TaskError } from '../core/types.js';
import { decideFailure, type DuePoll, type UpstreamCall, type UpstreamRef, type UpstreamStatus, type UpstreamTask } from '../core/upstream.js';
import type { OutputCopier } from '../providers/upstream/outputs.js';
import type { ChannelPool } from './channels.js';
import { LeaseWorker, type JobContext } from './lease-worker.js';

export interface PollerOptions {
  tasks: TaskService;
  channels: ChannelPool;
  files: FileSink;
  copier: OutputCopier;
  log: Logger;
  /** Its own worker id (its leases are poll leases, handed back on stop without counting attempts). */
  workerId: string;
  leaseMs: number;
  pollMs: number;
  /** Most poll batches in flight at once. */
  maxConcurrency: number;
}

interface Item extends DuePoll {
  upstream: UpstreamTask & { ref: UpstreamRef };
}

interface Batch {
  key: string;
  channel: ChannelDefinition;
  items: Item[];
}

type Ended = Exclude<UpstreamStatus, { state: 'queued' | 'running' }>;
const isEnded = (s: UpstreamStatus | undefined): s is Ended => s !== undefined && s.state !== 'queued' && s.state !== 'running';

/** When a copy of a finished task's outputs failed, it is tried again this soon. */
const COPY_RETRY_MS = 2000;
export const COPY_FAILED = 'COPY_FAILED';

export class UpstreamPoller {
  private readonly worker: LeaseWorker<Batch>;
  private round = 0;

  constructor(private readonly opts: PollerOptions) {
    const { tasks, workerId, leaseMs, log } = opts;
    this.worker = new LeaseWorker<Batch>({
      name: 'upstream polls', workerId, log, leaseMs, pollMs: opts.pollMs, maxConcurrency: opts.maxConcurrency,
      key: (b) => b.key,
      logFields: (b) => ({ channel: b.channel.name, tasks: b.items.length }),
      claim: (max) => this.claim(max),
      run: (b, ctx) => this.poll(b, ctx),
      renew: async (batches) => {
        const taskIds = batches.flatMap((b) => b.items.map((i) => i.taskId));
        const held = new Set(await tasks.upstream.renewPolls({ taskIds, workerId, until: tasks.now() + leaseMs }));
        return batches.filter((b) => b.items.some((i) => held.has(i.taskId))).map((b) => b.key);
      },
      giveBack: async () => void (await tasks.returnLeases(workerId)),
      subscribe: () => [
        tasks.events.on('task:cancelled', ({ task }) => void this.cancelUpstream(task)),
      ],
    });
  }

  private get services(): ServiceRegistry {
    return this.opts.tasks.services;
  }

  private allChannels(): ChannelDefinition[] {
    return this.services.all().flatMap((d) => d.relay?.channels ?? []);
  }

  start(): void {
    this.worker.start();
  }

  wake(): void {
    this.worker.wake();
  }

  tick(): Promise<void> {
    return this.worker.tick();
  }

  stop(): Promise<void> {
    return this.worker.stop();
  }

  halt(): void {
    this.worker.halt();
  }

  get activeCount(): number {
    return this.worker.activeCount;
  }

  /** Up to `max` batches, channel by channel (starting at the next one each round, so none starves). */
  private async claim(max: number): Promise<Batch[]> {
    const channels = this.allChannels();
    if (channels.length === 0) return [];
    const first = this.round++ % channels.length;
    const batches: Batch[] = [];
    for (const channel of [...channels.slice(first), ...channels.slice(0, first)]) {
      const room = max - batches.length;
      if (room <= 0) break;
      const size = channel.pollBatchSize;
      // Where one request carries many tasks, those due soon ride along: within half an initial
      // interval, and at most four ticks (callbacks wake the scheduler often; each wake must not
      // poll the whole channel early).
      const aheadMs = size > 1 ? Math.min(Math.round(channel.poll.initialMs / 2), 4 * this.opts.pollMs) : 0;
      const claimed = await this.opts.tasks.upstream.claimDuePolls({
        workerId: this.opts.workerId, now: this.opts.tasks.now(), leaseMs: this.opts.leaseMs, channels: [{ channel: channel.name, max: room * size, aheadMs }],
      });
      const items = claimed.filter((c): c is Item => c.upstream.ref !== null);
      for (let i = 0; i < items.length; i += size) {
        const chunk = items.slice(i, i + size);
        batches.push({ key: `${channel.name}:${chunk[0]!.taskId}`, channel, items: chunk });
      }
    }
    return batches;
  }

  private nextPoll(channel: ChannelDefinition, polls: number): number {
    const { initialMs, maxMs, factor } = channel.poll;
    return this.opts.tasks.now() + Math.min(maxMs, Math.round(initialMs * factor ** (polls + 1)));
  }

  private async poll(batch: Batch, job: JobContext): Promise<void> {
    const { tasks, workerId } = this.opts;
    const { channel } = batch;
    const log = this.opts.log.child({ channel: channel.name });
    const call: UpstreamCall = { signal: job.signal, log };
    const now = tasks.now();
    const live: Item[] = [];
    for (const item of batch.items) {
      if (item.deadlineAt !== null && item.deadlineAt <= now) await this.timeOut(item, call);
      else live.push(item);
    }
    if (live.length === 0) return;

    const wait = await this.opts.channels.take(channel);
    if (wait > 0) {
      await tasks.polledMany(workerId, live.map((item) => ({ id: item.taskId, raw: item.upstream.lastStatus, progress: null, nextPollAt: now + wait })));
      return;
    }
    let statuses: Map<string, UpstreamStatus>;
    try {
      statuses = await channel.adapter.poll(live.map((i) => i.upstream.ref), call);
    } catch (err) {
      if (job.isDetached()) return;
      const decision = decideFailure(err, 'poll', channel.adapter.recovery, channel.poll.initialMs);
      log.warn({ err: err instanceof Error ? err.message : String(err), action: decision.action }, 'upstream poll failed');
      if (decision.action === 'fail') {
        for (const item of live) await this.fail(item, decision.error);
      } else {
        const next = (item: Item) => (decision.action === 'retry' ? tasks.now() + decision.afterMs : this.nextPoll(channel, item.upstream.polls));
        await tasks.polledMany(workerId, live.map((item) => ({ id: item.taskId, raw: item.upstream.lastStatus, progress: null, nextPollAt: next(item) })));
      }
      return;
    }
    // Tasks still waiting (or not in the answer, or an answer that could not be read: transient)
    // are written together; ended ones one by one (copy, then settle).
    const waiting: Array<{ item: Item; status: UpstreamStatus | undefined }> = [];
    const ended: Array<{ item: Item; status: Ended }> = [];
    for (const item of live) {
      const status = statuses.get(item.upstream.ref.id);
      if (isEnded(status)) ended.push({ item, status });
      else waiting.push({ item, status });
    }
    if (job.isDetached()) return;
    await tasks.polledMany(workerId, waiting.map(({ item, status }) => ({
      id: item.taskId, raw: status?.raw ?? item.upstream.lastStatus, progress: status && 'progress' in status ? status.progress : null,
      nextPollAt: this.nextPoll(channel, item.upstream.polls),
    })));
    for (const { item, status } of ended) {
      if (job.isDetached()) return;
      await this.apply(item, status, job, log);
    }
  }

  private async apply(item: Item, status: Ended, job: JobContext, log: Logger): Promise<void> {
    const { tasks, workerId } = this.opts;
    const id = item.taskId;
    if (status.state === 'succeeded') {
      let files;
      try {
        files = await this.opts.copier.copy(status.outputs, this.opts.files, job.signal);
      } catch (err) {
        if (job.isDetached()) return;
        log.warn({ task_id: id, err: err instanceof Error ? err.message : String(err) }, 'copying upstream outputs failed; trying again');
        await tasks.polled(id, workerId, COPY_FAILED, null, tasks.now() + COPY_RETRY_MS);
        return;
      }
      if (job.isDetached() || !(await this.take(item))) return;
      const done = await tasks.succeed(id, workerId, { files, ...(status.data ? { data: status.data } : {}) });
      if (done) log.info({ task_id: id, outputs: files.length }, 'upstream task succeeded');
      return;
    }
    const error = status.state === 'failed' ? status.error : { code: 'api_error', message: 'The upstream cancelled the task' };
    if (await this.fail(item, error)) log.warn({ task_id: id, error }, 'upstream task failed');
  }

  /** The poll lease holder takes the task's own lease, which ending it through finish needs. */
  private async take(item: Item): Promise<boolean> {
    const { tasks, workerId, leaseMs } = this.opts;
    return (await tasks.upstream.takeTask({ taskId: item.taskId, workerId, now: tasks.now(), leaseMs })) !== null;
  }

  private async fail(item: Item, error: TaskError): Promise<Task | null> {
    return (await this.take(item)) ? this.opts.tasks.fail(item.taskId, this.opts.workerId, error) : null;
  }

  private async timeOut(item: Item, call: UpstreamCall): Promise<void> {
    const copyFailed = item.upstream.lastStatus === COPY_FAILED;
    const error = copyFailed
      ? { code: 'api_error', message: 'The upstream finished, but its result could not be copied before the task timed out' }
      : { code: 'timeout', message: 'The task ran past its service timeout' };
    const failed = await this.fail(item, error);
    if (failed && !copyFailed) await this.cancelRef(failed, item.upstream.ref, call);
  }

  /** A task cancelled here: tell its upstream (best effort; the task is already cancelled). */
  private async cancelUpstream(task: Task): Promise<void> {
    const upstream = await this.opts.tasks.upstream.get(task.id);
    if (!upstream?.ref) return;
    await this.cancelRef(task, upstream.ref, { signal: AbortSignal.timeout(15_000), log: this.opts.log });
  }

  private async cancelRef(task: Task, ref: UpstreamRef, call: UpstreamCall): Promise<void> {
    const def = this.services.find(task.service);
    const upstream = await this.opts.tasks.upstream.get(task.id);
    const channel = def?.relay?.channels.find((c) => c.name === upstream?.channel);
    if (!channel?.adapter.cancel) return;
    try {
      await channel.adapter.cancel(ref, call);
      this.opts.log.info({ task_id: task.id, channel: channel.name }, 'cancel propagated upstream');
    } catch (err) {
      this.opts.log.warn({ task_id: task.id, channel: channel.name, err: err instanceof Error ? err.message : String(err) }, 'upstream cancel failed');
    }
  }
}
