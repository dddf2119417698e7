/**
 * Webhook delivery workers: claim due deliveries from the outbox under a lease (the store keeps
 * each task's deliveries in order and drops superseded ones), fix the payload at the first
 * attempt, sign it with every secret in force, POST it (the LeaseWorker renews the lease meanwhile),
 * and record every attempt with its outcome: delivered (2xx), failed (410, or the schedule is
 * exhausted) or pending until the next retry. A worker that dies leaves its deliveries leased;
 * they are retried once the lease expires (or at once by the next start on the same host), under
 * the same webhook-id with the same body: at least once, never lost.
 */
import type { AttemptOutcome } from '../core/ports.js';
import type { DeliveryAttempt, Task, WebhookDelivery } from '../core/types.js';
import { LeaseWorker, type JobContext } from '../dispatch/lease-worker.js';
import { parseRetryAfter, retryDelayMs } from './schedule.js';
import { WebhookSender, type SendResult } from './sender.js';
import { webhookHeaders } from './signing.js';
import type { WebhookDispatcherOptions } from './types.js';

/** How long stop() lets requests in flight finish before aborting them. */
const STOP_GRACE_MS = 1000;

export class WebhookDispatcher {
  private readonly sender: WebhookSender;
  private readonly worker: LeaseWorker<WebhookDelivery>;

  constructor(readonly opts: WebhookDispatcherOptions) {
    const { settings, store, workerId, clock, log } = opts;
    this.sender = new WebhookSender(settings);
    this.worker = new LeaseWorker<WebhookDelivery>({
      name: 'webhook deliveries', workerId, log, leaseMs: settings.leaseMs, pollMs: settings.pollMs, maxConcurrency: settings.maxConcurrency,
      key: (delivery) => delivery.id,
      logFields: (delivery) => ({ delivery_id: delivery.id, task_id: delivery.taskId }),
      claim: (max) => store.claimDeliveries({ workerId, now: clock.now(), leaseMs: settings.leaseMs, max }),
      run: (delivery, ctx) => this.deliver(delivery, ctx),
      renew: (inFlight) => store.extendDeliveryLeases(inFlight.map((d) => d.id), workerId, clock.now() + settings.leaseMs),
      // Requests in flight get a moment to finish and record their attempt; the rest are aborted
      // and their leases released, so the next start sends them again at once.
      stopGraceMs: Math.min(STOP_GRACE_MS, settings.timeoutMs),
      giveBack: async () => {
        await store.releaseDeliveryLeases([workerId]);
      },
      subscribe: () => {
        // Each of these transitions may have queued a delivery in its transaction: claim it at once.
        const onTask = ({ task }: { task: Task }): void => {
          if (task.callbackUrl !== null) this.wake();
        };
        const events = opts.tasks.events;
        // Another node's transition may have queued one too (its task is not read here: just look).
        const onRemote = events.on('task:remote', ({ event }) => {
          if (event !== 'task:queued') this.wake();
        });
        return [...(['task:started', 'task:progress', 'task:succeeded', 'task:failed', 'task:cancelled'] as const).map((e) => events.on(e, onTask)), onRemote];
      },
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

  /** Stops claiming; requests still in flight after a short grace are aborted and sent again on the next start. */
  async stop(): Promise<void> {
    await this.worker.stop();
    await this.sender.close();
  }

  /** Stops claiming and renewing without releasing anything: what a killed process leaves behind. */
  halt(): void {
    this.worker.halt();
  }

  private async deliver(delivery: WebhookDelivery, job: JobContext): Promise<void> {
    const { store, workerId, clock } = this.opts;
    const task = await this.opts.tasks.get(delivery.ownerId, delivery.taskId);
    const log = this.opts.log.child({
      task_id: delivery.taskId, ...(task ? { trace_id: task.traceId } : {}), delivery_id: delivery.id, event: delivery.event,
    });
    const record = async (attempt: DeliveryAttempt, outcome: AttemptOutcome): Promise<WebhookDelivery | null> => {
      if (job.isDetached()) return null;
      job.finishing();
      const saved = await store.recordAttempt(delivery.id, workerId, attempt, outcome);
      if (!saved) log.warn('webhook attempt not recorded: lease lost');
      else this.report(delivery, attempt, outcome);
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
        const base = task.origin ?? this.opts.baseUrl();
        // File links are signed now, at the first attempt; retries send the same body.
        const extras = { logs: () => this.opts.tasks.logs(task), links: this.opts.fileLinks(base) };
        payload = JSON.stringify(await render(task, delivery.event, base, extras));
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

    const at = clock.now();
    const secrets = await this.opts.secrets.active(delivery.ownerId);
    const result = await this.sender.send(delivery.url, webhookHeaders(delivery.id, at, payload, secrets), payload, job.signal);
    if (job.isDetached()) return; // stopping (the lease is given back) or lease lost: the attempt is made again

    const attempt: DeliveryAttempt = { n, at, statusCode: result.statusCode, latencyMs: result.latencyMs, error: result.error };
    const outcome = this.outcome(delivery, result);
    const saved = await record(attempt, outcome);
    const fields = { attempt: n, status: result.statusCode, latency_ms: result.latencyMs, error: result.error ?? undefined };
    if (outcome.state === 'delivered') log.info(fields, 'webhook delivered');
    else if (outcome.state === 'failed') log.warn(fields, 'webhook delivery failed for good');
    else log.info({ ...fields, retry_in_ms: outcome.retryAt - clock.now() }, 'webhook attempt failed; will retry');
    if (saved && outcome.state === 'pending') this.scheduleWake(outcome.retryAt - clock.now());
  }

  private report(delivery: WebhookDelivery, attempt: DeliveryAttempt, outcome: AttemptOutcome): void {
    const observe = this.opts.observe;
    if (!observe) return;
    const result = outcome.state === 'pending' ? 'retrying' : outcome.state;
    const end = attempt.at + attempt.latencyMs;
    const lagSeconds = result === 'delivered' ? Math.max(0, end - delivery.createdAt) / 1000 : null;
    observe({ event: delivery.event, result, statusCode: attempt.statusCode, lagSeconds });
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
}
