/**
 * Webhook delivery workers: claim due deliveries from the outbox under a lease (the store keeps
 * each task's deliveries in order and drops superseded ones), fix the payload at the first
 * attempt, sign it with every secret in force, POST it, renew the lease while the request runs,
 * and record every attempt with its outcome: delivered (2xx), failed (410, or the schedule is
 * exhausted) or pending until the next retry. A worker that dies leaves its deliveries leased;
 * they are retried once the lease expires (or at once by the next start on the same host), under
 * the same webhook-id with the same body: at least once, never lost.
 */
import type { AttemptOutcome } from '../core/ports.js';
import type { DeliveryAttempt, Task, WebhookDelivery } from '../core/types.js';
import { ClaimLoop } from '../dispatch/claim-loop.js';
import { parseRetryAfter, retryDelayMs } from './schedule.js';
import { WebhookSender, type SendResult } from './sender.js';
import { webhookHeaders } from './signing.js';
import type { WebhookDispatcherOptions } from './types.js';

interface InFlight {
  delivery: WebhookDelivery;
  abort: AbortController;
  settled: Promise<void>;
  /** Set on stop/halt: the attempt's outcome is not written (the lease goes back instead). */
  detached: boolean;
}

/** How long stop() lets requests in flight finish before aborting them. */
const STOP_GRACE_MS = 1000;

export class WebhookDispatcher {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly sender: WebhookSender;
  private offEvents: Array<() => void> = [];
  private readonly loop: ClaimLoop;

  constructor(readonly opts: WebhookDispatcherOptions) {
    this.sender = new WebhookSender(opts.settings);
    this.loop = new ClaimLoop(() => this.claimRound(), opts.settings.pollMs);
  }

  get workerId(): string {
    return this.opts.workerId;
  }

  get activeCount(): number {
    return this.inFlight.size;
  }

  start(): void {
    if (this.loop.active) return;
    const events = this.opts.tasks.events;
    // Each of these transitions may have queued a delivery in its transaction: claim it at once.
    const onTask = ({ task }: { task: Task }): void => {
      if (task.callbackUrl !== null) this.wake();
    };
    this.offEvents = [
      events.on('task:started', onTask),
      events.on('task:progress', onTask),
      events.on('task:succeeded', onTask),
      events.on('task:failed', onTask),
      events.on('task:cancelled', onTask),
    ];
    this.loop.start();
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
    const { settings, store, workerId, clock } = this.opts;
    const free = settings.maxConcurrency - this.inFlight.size;
    if (free <= 0) return;
    let claimed: WebhookDelivery[];
    try {
      claimed = await store.claimDeliveries({ workerId, now: clock.now(), leaseMs: settings.leaseMs, max: free });
    } catch (err) {
      this.opts.log.error({ err }, 'claiming webhook deliveries failed');
      return;
    }
    if (this.stopped) {
      // Halted while claiming: leave them leased (stop() releases them).
      return;
    }
    for (const delivery of claimed) this.launch(delivery);
  }

  private launch(delivery: WebhookDelivery): void {
    const entry: InFlight = { delivery, abort: new AbortController(), settled: Promise.resolve(), detached: false };
    this.inFlight.set(delivery.id, entry);
    entry.settled = this.deliver(entry)
      .catch((err: unknown) => this.opts.log.error({ err, delivery_id: delivery.id, task_id: delivery.taskId }, 'webhook delivery failed'))
      .finally(() => {
        this.inFlight.delete(delivery.id);
        this.wake(); // a free slot, and maybe the task's next delivery is claimable now
      });
  }

  private async deliver(entry: InFlight): Promise<void> {
    const { delivery, abort } = entry;
    const { store, workerId, clock, settings } = this.opts;
    const task = await this.opts.tasks.get(delivery.ownerId, delivery.taskId);
    const log = this.opts.log.child({
      task_id: delivery.taskId, ...(task ? { trace_id: task.traceId } : {}), delivery_id: delivery.id, event: delivery.event,
    });
    const record = async (attempt: DeliveryAttempt, outcome: AttemptOutcome): Promise<WebhookDelivery | null> => {
      if (entry.detached) return null;
      const saved = await store.recordAttempt(delivery.id, workerId, attempt, outcome);
      if (!saved) log.warn('webhook attempt not recorded: lease lost');
      return saved;
    };
    const n = delivery.attempts + 1;
    if (!task) {
      await record({ n, at: clock.now(), statusCode: null, latencyMs: 0, error: 'task not found' }, { state: 'failed' });
      log.error('webhook delivery failed: task not found');
      return;
    }

    let payload = delivery.payload;
    if (payload === null) {
      try {
        const render = this.opts.renderers[task.dialect] ?? this.opts.fallback;
        const extras = { logs: () => this.opts.tasks.logs(task) };
        payload = JSON.stringify(await render(task, delivery.event, task.origin ?? this.opts.baseUrl(), extras));
      } catch (err) {
        log.error({ err }, 'webhook payload could not be rendered');
        await record({ n, at: clock.now(), statusCode: null, latencyMs: 0, error: `payload rendering failed: ${String(err)}` }, { state: 'failed' });
        return;
      }
      if (!(await store.setPayload(delivery.id, workerId, payload))) {
        log.warn('webhook payload not stored: lease lost');
        return;
      }
    }

    const renewer = setInterval(() => {
      if (this.stopped) return; // halted: a dead process renews nothing
      void store.extendDeliveryLease(delivery.id, workerId, clock.now() + settings.leaseMs).then(
        (ok) => ok || abort.abort(new Error('delivery lease lost')),
        (err: unknown) => log.warn({ err }, 'renewing a webhook lease failed'),
      );
    }, Math.max(10, Math.floor(settings.leaseMs / 3)));

    let result: SendResult;
    const at = clock.now();
    try {
      const secrets = await this.opts.secrets.active(delivery.ownerId);
      result = await this.sender.send(delivery.url, webhookHeaders(delivery.id, at, payload, secrets), payload, abort.signal);
    } finally {
      clearInterval(renewer);
    }
    if (entry.detached) return; // stopping: the lease is given back, the attempt is made again

    const attempt: DeliveryAttempt = { n, at, statusCode: result.statusCode, latencyMs: result.latencyMs, error: result.error };
    const outcome = this.outcome(delivery, result);
    const saved = await record(attempt, outcome);
    const fields = { attempt: n, status: result.statusCode, latency_ms: result.latencyMs, error: result.error ?? undefined };
    if (outcome.state === 'delivered') log.info(fields, 'webhook delivered');
    else if (outcome.state === 'failed') log.warn(fields, 'webhook delivery failed for good');
    else log.info({ ...fields, retry_in_ms: outcome.retryAt - clock.now() }, 'webhook attempt failed; will retry');
    if (saved && outcome.state === 'pending') this.scheduleWake(outcome.retryAt - clock.now());
  }

  /** 2xx → delivered; 410 → failed; anything else → retry on the schedule, or failed when it is exhausted. */
  private outcome(delivery: WebhookDelivery, r: SendResult): AttemptOutcome {
    const status = r.statusCode;
    if (status !== null && status >= 200 && status < 300) return { state: 'delivered' };
    if (status === 410) return { state: 'failed' };
    const now = this.opts.clock.now();
    const retryAfter = status !== null ? parseRetryAfter(r.retryAfter ?? undefined, now) : null;
    const delay = retryDelayMs(this.opts.settings.retrySchedule, delivery.attempts + 1, retryAfter);
    return delay === null ? { state: 'failed' } : { state: 'pending', retryAt: now + delay };
  }

  /** A retry due before the next poll is claimed on time. */
  private scheduleWake(ms: number): void {
    if (ms >= this.opts.settings.pollMs) return;
    setTimeout(() => this.wake(), Math.max(0, ms) + 1).unref();
  }

  /**
   * Stops claiming. Requests in flight get a moment to finish and record their attempt; the rest
   * are aborted and their leases released, so the next start sends them again at once.
   */
  async stop(): Promise<void> {
    this.halt();
    const entries = [...this.inFlight.values()];
    if (entries.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.min(STOP_GRACE_MS, this.opts.settings.timeoutMs));
      });
      await Promise.race([Promise.allSettled(entries.map((e) => e.settled)), grace]);
      clearTimeout(timer);
      for (const entry of this.inFlight.values()) {
        entry.detached = true;
        entry.abort.abort(new Error('webhook worker stopping'));
      }
      await Promise.allSettled(entries.map((e) => e.settled));
    }
    await this.opts.store.releaseDeliveryLeases([this.opts.workerId]);
    await this.sender.close();
  }

  /** Stops claiming and renewing without releasing anything: what a killed process leaves behind. */
  halt(): void {
    this.loop.stop();
    for (const off of this.offEvents) off();
    this.offEvents = [];
  }
}
