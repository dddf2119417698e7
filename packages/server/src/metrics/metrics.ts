/**
 * The gateway's Prometheus metrics (README, "Metrics"), on a registry of its own per gateway (so
 * several gateways in one process never share or clash). Fed by core's task events and by small
 * hooks in the other layers; core itself knows nothing of prom-client.
 *
 * Counters on paths that run per request or per task are plain cells (cells.ts); gauges that
 * describe the store (queue depth, running tasks, tasks waiting upstream) are computed at scrape
 * time from two cheap count queries (one per scrape for queued and running together).
 */
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { RateLimitKind } from '../accounts/rate-limits.js';
import { GatewayError } from '../core/errors.js';
import type { LiveCount, Moderator } from '../core/ports.js';
import type { TaskService } from '../core/task-service.js';
import type { Task } from '../core/types.js';
import type { UpstreamAdapter } from '../core/upstream.js';
import type { AttemptReport } from '../webhooks/types.js';
import { Children, CounterCells } from './cells.js';
import { instrumentAdapter } from './upstream.js';

/** Task latencies: from tens of milliseconds (demo tasks) to hours (long video jobs). */
const TASK_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10_800];
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600, 7200, 36_000, 86_400];

/** The `channel` label of a task run by a local provider. */
export const LOCAL_CHANNEL = 'local';
/** The `channel` label of a relayed task that no channel took (every one refused or busy, cancelled while queued). */
export const NO_CHANNEL = 'none';

/**
 * The process metrics (prom-client's defaults: CPU, memory, event-loop lag, GC …): one registry
 * per process, made on first use, since they describe the process whatever number of gateways
 * it runs (tests run several); each gateway's scrape joins it to its own.
 */
let processMetrics: Registry | null = null;
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

export interface RetentionRun {
  tasks: number;
  files: number;
  bytes: number;
}

export class GatewayMetrics {
  /** This gateway's own metrics. */
  readonly registry = new Registry();
  /** What a scrape shows: this gateway's metrics and the process's. */
  private readonly exposed: Registry;
  private readonly created: CounterCells;
  private readonly finished: CounterCells;
  private readonly queueWait: Children<Histogram.Internal<string>>;
  private readonly run: Children<Histogram.Internal<string>>;
  private readonly total: Children<Histogram.Internal<string>>;
  private readonly upstreamRequests: CounterCells;
  private readonly upstreamErrors: CounterCells;
  private readonly upstreamLatency: Children<Histogram.Internal<string>>;
  private readonly webhookAttempts: CounterCells;
  private readonly webhookFailures: CounterCells;
  private readonly webhookLag: Children<Histogram.Internal<string>>;
  private readonly rateLimited: CounterCells;
  private readonly moderatedCount: CounterCells;
  private readonly retention: { tasks: CounterCells; files: CounterCells; bytes: CounterCells };
  private tasks: TaskService | null = null;
  private relayed = new Set<string>();
  private offs: Array<() => void> = [];

  constructor(private readonly log?: Logger) {
    const r = this.registry;
    this.created = new CounterCells(r, 'taskgate_tasks_created_total', 'Tasks created, by service and the dialect they came through.', ['service', 'dialect']);
    this.finished = new CounterCells(
      r, 'taskgate_tasks_finished_total',
      'Tasks finished, by service, dialect, channel (local for a local provider, none for a relayed task that no channel took) and outcome.',
      ['service', 'dialect', 'channel', 'outcome'],
    );
    const histogram = (name: string, help: string, labelNames: string[], buckets: number[]): Histogram =>
      new Histogram({ name, help, labelNames, buckets, registers: [r] });
    const wait = histogram('taskgate_task_queue_wait_seconds', 'From create to first start, of finished tasks that started.', ['service'], TASK_BUCKETS);
    const run = histogram('taskgate_task_run_seconds', 'From first start to finish (upstream wait included), of finished tasks that started.', ['service', 'outcome'], TASK_BUCKETS);
    const total = histogram('taskgate_task_duration_seconds', 'From create to finish (end to end), of every finished task.', ['service', 'outcome'], TASK_BUCKETS);
    this.queueWait = new Children((service) => wait.labels(service));
    this.run = new Children((service, outcome) => run.labels(service, outcome));
    this.total = new Children((service, outcome) => total.labels(service, outcome));

    this.upstreamRequests = new CounterCells(
      r, 'taskgate_upstream_requests_total',
      'HTTP requests to upstream platforms, by channel, phase (submit, poll, cancel, lookup) and result (ok, client_error, rate_limited, server_error, timeout, network, aborted).',
      ['channel', 'phase', 'result'],
    );
    this.upstreamErrors = new CounterCells(
      r, 'taskgate_upstream_errors_total',
      'Failed upstream calls as the relay saw them, by channel, phase and kind (rejected, rate_limited, unavailable, ambiguous, other).',
      ['channel', 'phase', 'kind'],
    );
    const latency = histogram('taskgate_upstream_request_duration_seconds', 'Duration of one upstream HTTP request, by channel and phase.', ['channel', 'phase'], REQUEST_BUCKETS);
    this.upstreamLatency = new Children((channel, phase) => latency.labels(channel, phase));

    this.webhookAttempts = new CounterCells(
      r, 'taskgate_webhook_attempts_total', 'Webhook delivery attempts, by event and result (delivered, retrying, failed = given up).', ['event', 'result'],
    );
    this.webhookFailures = new CounterCells(
      r, 'taskgate_webhook_failures_total', 'Webhook attempts that failed, by event and reason (http_3xx, http_4xx, http_5xx, no_response).', ['event', 'reason'],
    );
    const lag = histogram('taskgate_webhook_delivery_lag_seconds', 'From the task event to its webhook being delivered, by event.', ['event'], LAG_BUCKETS);
    this.webhookLag = new Children((event) => lag.labels(event));

    this.rateLimited = new CounterCells(
      r, 'taskgate_rate_limit_refusals_total', 'Requests refused by a rate limit (429), by limit (token, account, service) and service (service limits only).', ['limit', 'service'],
    );
    this.moderatedCount = new CounterCells(r, 'taskgate_moderation_refusals_total', 'Creates refused by content moderation (403), by service.', ['service']);
    this.retention = {
      tasks: new CounterCells(r, 'taskgate_retention_tasks_removed_total', 'Finished tasks removed by the retention job.', []),
      files: new CounterCells(r, 'taskgate_retention_files_removed_total', 'Result files removed by the retention job.', []),
      bytes: new CounterCells(r, 'taskgate_retention_bytes_freed_total', 'Bytes of result files removed by the retention job.', []),
    };
    this.storeGauges();
    // Last: the merged registry holds the metrics registered so far.
    this.exposed = Registry.merge([r, processRegistry()]);
  }

  /** Counts the tasks of this service: created, finished, latencies, and the store's gauges at scrape time. */
  observeTasks(tasks: TaskService): void {
    this.tasks = tasks;
    this.relayed = new Set(tasks.services.all().filter((d) => d.relay !== null).map((d) => d.name));
    const ev = tasks.events;
    this.offs.push(
      // `task:queued` is also a task put back in the queue (every channel busy): it has started before.
      ev.on('task:queued', ({ task }) => {
        if (task.startedAt === null) this.created.inc(task.service, task.dialect);
      }),
      ev.on('task:succeeded', ({ task }) => this.finish(task)),
      ev.on('task:failed', ({ task }) => this.finish(task)),
      ev.on('task:cancelled', ({ task }) => this.finish(task)),
    );
  }

  private finish(task: Task): void {
    const outcome = task.state;
    const finishedAt = task.finishedAt ?? task.createdAt;
    if (task.startedAt !== null) {
      this.queueWait.get(task.service).observe(Math.max(0, task.startedAt - task.createdAt) / 1000);
      this.run.get(task.service, outcome).observe(Math.max(0, finishedAt - task.startedAt) / 1000);
    }
    this.total.get(task.service, outcome).observe(Math.max(0, finishedAt - task.createdAt) / 1000);
    if (!this.relayed.has(task.service)) {
      this.finished.inc(task.service, task.dialect, LOCAL_CHANNEL, outcome);
      return;
    }
    // A relayed task's channel is kept with its upstream side: one read by id, after the finish.
    const upstream = this.tasks?.upstream;
    if (!upstream) return;
    upstream.get(task.id).then(
      (row) => this.finished.inc(task.service, task.dialect, row?.channel ?? NO_CHANNEL, outcome),
      (err: unknown) => {
        this.log?.warn({ err, task_id: task.id }, 'metrics: the channel of a finished task could not be read');
        this.finished.inc(task.service, task.dialect, NO_CHANNEL, outcome);
      },
    );
  }

  /** Queue depth, running tasks and tasks waiting upstream, read from the store at each scrape. */
  private storeGauges(): void {
    const current = (): TaskService | null => this.tasks;
    const log = this.log;
    // Both gauges come from one count query: the scrape collects them at once, and shares it.
    let pending: Promise<LiveCount[]> | null = null;
    const live = (tasks: TaskService): Promise<LiveCount[]> =>
      (pending ??= tasks.countLive().catch((err: unknown) => {
        log?.warn({ err }, 'metrics: task counts could not be read');
        return [];
      }).finally(() => {
        pending = null;
      }));
    const byState = (state: LiveCount['state'], name: string, help: string): Gauge =>
      new Gauge({
        name, help, labelNames: ['service'], registers: [this.registry],
        async collect() {
          this.reset();
          const tasks = current();
          if (!tasks) return;
          for (const def of tasks.services.all()) this.set({ service: def.name }, 0);
          for (const c of await live(tasks)) if (c.state === state) this.set({ service: c.service }, c.count);
        },
      });
    byState('queued', 'taskgate_tasks_queued', 'Tasks waiting in the queue (all nodes), by service.');
    byState('running', 'taskgate_tasks_running', 'Tasks running (all nodes; tasks waiting upstream included), by service.');
    new Gauge({
      name: 'taskgate_upstream_in_flight', help: 'Relayed tasks waiting on an upstream (all nodes), by channel.', labelNames: ['channel'], registers: [this.registry],
      async collect() {
        this.reset();
        const tasks = current();
        if (!tasks) return;
        for (const def of tasks.services.all()) for (const ch of def.relay?.channels ?? []) this.set({ channel: ch.name }, 0);
        try {
          for (const [channel, n] of Object.entries(await tasks.upstream.inFlightByChannel())) this.set({ channel }, n);
        } catch (err) {
          log?.warn({ err }, 'metrics: upstream counts could not be read');
        }
      },
    });
  }

  /** Wraps a channel's adapter so that its HTTP requests and failures are counted under the channel. */
  readonly instrumentAdapter = (channel: string, adapter: UpstreamAdapter): UpstreamAdapter =>
    instrumentAdapter(adapter, {
      request: (phase, result, seconds) => {
        this.upstreamRequests.inc(channel, phase, result);
        this.upstreamLatency.get(channel, phase).observe(seconds);
      },
      error: (phase, kind) => this.upstreamErrors.inc(channel, phase, kind),
    });

  /** One recorded webhook attempt (WebhookDispatcherOptions.observe). */
  readonly webhookAttempt = (a: AttemptReport): void => {
    this.webhookAttempts.inc(a.event, a.result);
    if (a.result !== 'delivered') this.webhookFailures.inc(a.event, failureReason(a.statusCode));
    if (a.lagSeconds !== null) this.webhookLag.get(a.event).observe(a.lagSeconds);
  };

  /** A rate-limit refusal (RateLimits.onRefused). */
  readonly rateLimitRefused = (limit: RateLimitKind, service: string | null): void => {
    this.rateLimited.inc(limit, service ?? '');
  };

  /** The moderator, counting its refusals; undefined stays undefined (nothing to moderate). */
  moderated(inner: Moderator | undefined): Moderator | undefined {
    if (!inner) return undefined;
    const refused = (service: string, err: unknown): never => {
      if (err instanceof GatewayError && err.code === 'forbidden') this.moderatedCount.inc(service);
      throw err;
    };
    return {
      check: (service, input) => {
        try {
          const pending = inner.check(service, input);
          return pending ? pending.catch((err: unknown) => refused(service, err)) : undefined;
        } catch (err) {
          return refused(service, err);
        }
      },
    };
  }

  /** What one run of the retention job removed (called by the retention job). */
  retentionRun(run: RetentionRun): void {
    if (run.tasks > 0) this.retention.tasks.inc('', '', '', '', run.tasks);
    if (run.files > 0) this.retention.files.inc('', '', '', '', run.files);
    if (run.bytes > 0) this.retention.bytes.inc('', '', '', '', run.bytes);
  }

  get contentType(): string {
    return this.exposed.contentType;
  }

  /** The exposition text: this gateway's metrics and the process's. */
  scrape(): Promise<string> {
    return this.exposed.metrics();
  }

  close(): void {
    for (const off of this.offs) off();
    this.offs = [];
    this.tasks = null;
  }
}

function failureReason(status: number | null): string {
  if (status === null) return 'no_response';
  if (status >= 500) return 'http_5xx';
  if (status >= 400) return 'http_4xx';
  return status >= 300 ? 'http_3xx' : 'no_response'; // a 2xx whose body failed counts as delivered, never here
}
