/**
 * Server assembly: takes the stores (store/factory.ts) and what the nodes share
 * (coordination/index.ts), or builds them from the configuration, then builds core services,
 * providers and workers, and mounts the dialects on one Fastify instance. `createGateway` is what
 * `taskgate serve`, the benches and the tests run.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createModerator } from '../accounts/moderation.js';
import { createRateLimits } from '../accounts/rate-limits.js';
import { TokenService } from '../accounts/tokens.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Clock, WebhookStore } from '../core/ports.js';
import type { Task } from '../core/types.js';
import { systemClock } from '../core/ports.js';
import { RetentionJob } from '../core/retention.js';
import { ServiceRegistry } from '../core/services.js';
import { TaskService } from '../core/task-service.js';
import { taskApiErrorHandler, taskApiNotFound } from '../dialects/task-api/errors.js';
import { fileKeysAdminPlugin, filesPlugin } from './files.js';
import { FileUrlSigner, type FileLinks } from './file-links.js';
import { apixoErrorHandler } from '../dialects/apixo/errors.js';
import { apixoPlugin } from '../dialects/apixo/plugin.js';
import { queueErrorHandler } from '../dialects/queue/errors.js';
import { queuePlugin } from '../dialects/queue/plugin.js';
import { replicateErrorHandler } from '../dialects/replicate/errors.js';
import { replicatePlugin } from '../dialects/replicate/plugin.js';
import { taskApiPlugin } from '../dialects/task-api/plugin.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { deadLocalWorkers, newWorkerId } from '../dispatch/worker-id.js';
import { FILES_ROUTE, createFileSink } from '../store/files.js';
import { createCoordination, type Coordination } from '../coordination/index.js';
import { createStores, type Stores } from '../store/factory.js';
import { createWebhookRenderers, fallbackRenderer } from '../dialects/webhook-renderers.js';
import { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { WebhookSecrets } from '../webhooks/secrets.js';
import { webhooksApiPlugin } from './webhooks-api.js';
import { accountPlugin, adminAccountsPlugin } from './accounts-api.js';
import { adminPlugin } from './admin.js';
import { jsonBodyParser } from './body.js';
import { serviceDefinitions } from './services.js';
import { createRelay, type Relay } from './relay.js';
import { CALLBACKS_PREFIX, CallbackSigner, upstreamCallbacksPlugin } from './upstream-callbacks.js';
import { createLogger, gatewayLogger } from './log.js';
import { opsPlugin } from './ops.js';
import { dashboardPlugin } from './dashboard/static.js';
import { dashboardTasksPlugin, type DashboardDeps } from './dashboard/tasks.js';
import { registerDocs, registerOpenApi } from './openapi/index.js';
import { GatewayMetrics } from '../metrics/metrics.js';
import { metricsPlugin } from '../metrics/route.js';
import { clientErrorHandler } from './client-errors.js';
import type { DialectContext } from './context.js';
import { eventsPlugin, LiveEvents, type LiveEventsOptions } from './dashboard/events.js';
import { statsPlugin } from './dashboard/stats.js';

export interface GatewayOptions {
  config: GatewayConfig;
  dataDir: string;
  /** The admin token to use (TASKGATE_ADMIN_TOKEN); else one is generated on first start. */
  adminToken?: string;
  logger?: Logger;
  clock?: Clock;
  /** Where channel keys (`apiKeyEnv`) are read from; default process.env. */
  env?: NodeJS.ProcessEnv;
  workerId?: string;
  /** The stores to use (the gateway closes them); default: built from the configuration (store/factory.ts). */
  stores?: Stores;
  /** Rate-limit counters and the cross-node task feed (the gateway closes it); default: from `redisUrl`. */
  coordination?: Coordination;
  /**
   * The dashboard's routes: live event streams' ping interval and most streams open at once
   * (dashboard/events.ts), most finished tasks one stats answer reads (dashboard/stats.ts).
   */
  dashboard?: LiveEventsOptions & { statsMaxRows?: number };
}

export interface Gateway {
  app: FastifyInstance;
  tasks: TaskService;
  tokens: TokenService;
  dispatcher: Dispatcher | null;
  /** The relay's channel pool, submitter and poll scheduler; null without relayed services. */
  relay: Relay | null;
  webhooks: WebhookDispatcher | null;
  webhookStore: WebhookStore;
  webhookSecrets: WebhookSecrets;
  /** Prometheus metrics (`GET /metrics`); null when `metrics.enabled` is false. */
  metrics: GatewayMetrics | null;
  /** What this node shares with the others (rate-limit counters, the task feed, auth changes). */
  coordination: Coordination;
  config: GatewayConfig;
  log: Logger;
  /** Signed result-file links under a base URL (file-links.ts). */
  fileLinks: (base: string) => FileLinks;
  /** The retention job (config `retention`), null when off; `onRun(stats)` reports every run. */
  retention: RetentionJob | null;
  /** The dashboard's live event streams (`GET /admin/events`, `GET /v1/account/events`). */
  liveEvents: LiveEvents;
  /**
   * The admin token generated on this start, once `listen()` has bound the port (first start
   * only, and only if none came from the environment); null otherwise.
   */
  readonly generatedAdminToken: string | null;
  /** Every route registered (method and URL as Fastify has them), for the OpenAPI route test. */
  routes: ReadonlyArray<{ method: string; url: string }>;
  /** Starts workers and listens; resolves with the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Closes the connection after this answer if the request's body has not all arrived. */
function closeIfUnread(req: FastifyRequest, reply: FastifyReply): void {
  if (!req.raw.complete) void reply.header('connection', 'close');
}

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config } = opts;
  const log = gatewayLogger(opts.logger ?? (await createLogger(config)));
  const clock = opts.clock ?? systemClock;
  const workerId = opts.workerId ?? newWorkerId();
  const stores = opts.stores ?? (await createStores(config, opts.dataDir));
  // Shared with the other nodes: rate-limit counters and task-change notifications (Redis), or
  // the store's own wake-ups (Postgres LISTEN/NOTIFY); nothing on a single SQLite node.
  const coordination = opts.coordination ?? createCoordination({ redisUrl: config.redisUrl, nodeId: workerId, log, storeFeed: stores.feed ?? null });
  const rateLimiter = createRateLimits(config.rateLimits, Object.keys(config.services), coordination.limiters);
  const metrics = config.metrics.enabled ? new GatewayMetrics(log) : null;
  if (metrics) rateLimiter.onRefused = metrics.rateLimitRefused;
  const store = stores.tasks;
  const tokenStore = stores.accounts;
  const tokens = new TokenService(tokenStore, { now: () => clock.now(), announce: coordination.auth ? (id) => coordination.auth?.announce(id) : undefined });
  coordination.auth?.subscribe((id) => tokens.forgetById(id));
  // An admin token from the environment is set now; one is generated only once the port is bound
  // (listen), so a start that fails leaves none behind that nobody saw.
  if (opts.adminToken) await tokens.ensureAdmin(opts.adminToken);
  let generated: string | null = null;

  const services = new ServiceRegistry(serviceDefinitions(config, opts.env, metrics?.instrumentAdapter));
  const tasks = new TaskService({
    store, services, clock, moderator: metrics ? metrics.moderated(createModerator(config.moderation)) : createModerator(config.moderation),
    // A shared store cannot cache its own reads (other nodes write it): finished tasks, and live
    // ones while Redis announces every node's changes, are cached above it. The Redis feed's
    // heartbeat notices within seconds when this node's own connection stops carrying messages; the
    // TTL bounds what it cannot see (another node that cannot announce its changes).
    sharedReadCache: stores.kind === 'postgres' ? { size: 10_000, liveTtlMs: 10_000 } : undefined,
  });
  tasks.events.onError = (err, event) => log.error({ err, event }, 'event listener failed');
  if (coordination.feed) tasks.attachFeed(coordination.feed);
  metrics?.observeTasks(tasks);

  // Every node serves every task's files: several nodes point filesDir at one shared directory.
  const filesDir = config.filesDir ?? join(opts.dataDir, 'files');
  mkdirSync(filesDir, { recursive: true });
  // The AWS SDK is loaded only when S3 storage is configured (it costs start-up time and memory).
  const s3Settings = config.files.s3;
  const s3 = s3Settings
    ? await import('../store/s3-files.js').then(({ createS3Client, createS3FileSink }) => {
        const client = createS3Client(s3Settings, opts.env ?? process.env);
        return { client, files: createS3FileSink(client, s3Settings) };
      })
    : null;
  const s3Files = s3?.files ?? null;
  const files = s3Files ?? createFileSink(filesDir);
  const fileSigner = await FileUrlSigner.load({
    store: tokenStore, clock, ttlSeconds: config.files.urlTtlSeconds, overlapSeconds: config.files.keyOverlapSeconds, configured: config.files.signingKeys,
  });
  const fileLinks = (base: string) => fileSigner.links(base);
  const retention = config.retention.enabled ? new RetentionJob({ tasks, files, clock, settings: config.retention, log }) : null;
  if (retention && metrics) retention.onRun((stats) => metrics.retentionRun(stats));
  const relayed = tasks.services.all().some((d) => d.relay !== null);
  const signer = relayed ? await CallbackSigner.load(tokenStore) : null;
  const callbackUrl = (task: { id: string }): string | null => (signer && config.publicUrl ? signer.url(config.publicUrl, task.id) : null);
  const relay = config.dispatch.enabled ? createRelay(config, tasks, files, log, workerId, callbackUrl, coordination.limiters) : null;
  const dispatcher = config.dispatch.enabled
    ? new Dispatcher({
        tasks, files, log, workerId, relay: relay?.submitter,
        leaseMs: config.dispatch.leaseMs, pollMs: config.dispatch.pollMs,
        maxConcurrency: config.dispatch.maxConcurrency, maxAttempts: config.dispatch.maxAttempts,
        ownerConcurrency: config.rateLimits.concurrency,
      })
    : null;

  const webhookStore = stores.webhooks;
  const webhookSecrets = new WebhookSecrets(webhookStore, clock, config.webhooks.secretOverlapSeconds);
  let listenUrl = `http://${config.host}:${config.port}`;
  // Each dialect's rendering of a task for its clients: webhook payloads, and the dashboard's task page.
  const renderers = createWebhookRenderers(config, tasks.services);
  const render = async (task: Task, base: string) =>
    (renderers[task.dialect] ?? fallbackRenderer)(task, 'completed', base, { logs: () => tasks.logs(task), links: fileLinks(base) });
  const webhooks = config.webhooks.enabled
    ? new WebhookDispatcher({
        tasks, store: webhookStore, secrets: webhookSecrets, renderers, fallback: fallbackRenderer,
        baseUrl: () => config.publicUrl ?? listenUrl, fileLinks, settings: config.webhooks, log, workerId, clock, observe: metrics?.webhookAttempt,
      })
    : null;

  const shutdown = new AbortController();
  // Errors the router raises before any route runs (a malformed %-escape in the URL …) are
  // rendered by the dialect the path belongs to, like every other error.
  const byPrefix: Array<[string, ReturnType<typeof taskApiErrorHandler>]> = [
    ['/api/v1/', apixoErrorHandler(config.bodyLimit)],
    ['/v1/queue/', queueErrorHandler(config.bodyLimit)],
    ['/v1/predictions', replicateErrorHandler(config.bodyLimit)],
    ['/v1/models/', replicateErrorHandler(config.bodyLimit)],
  ];
  const defaultErrors = taskApiErrorHandler(config.bodyLimit);
  const app: FastifyInstance = Fastify({
    frameworkErrors: (err, req, reply) => {
      const handler = byPrefix.find(([prefix]) => req.url.startsWith(prefix))?.[1] ?? defaultErrors;
      void handler(err, req, reply);
    },
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // Every log line of a request carries its trace_id; per-request access lines only at debug.
    logController: new LogController({
      requestIdLogLabel: 'trace_id',
      disableRequestLogging: config.logLevel !== 'debug' && config.logLevel !== 'trace',
    }),
    return503OnClosing: true,
    // Node's own limits on slow clients (Fastify turns requestTimeout off by default).
    requestTimeout: config.timeouts.requestMs,
    keepAliveTimeout: config.timeouts.keepAliveMs,
    http: { headersTimeout: config.timeouts.headersMs, connectionsCheckingInterval: config.timeouts.checkIntervalMs },
    clientErrorHandler: clientErrorHandler(config.timeouts),
    trustProxy: config.trustProxy,
  });
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (r) => void [r.method].flat().forEach((method) => routes.push({ method, url: r.url })));
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json', '*'], { parseAs: 'string' }, jsonBodyParser(config.jsonMaxDepth));
  app.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-trace-id', req.id);
    // An unknown path is answered before its body is read (the not-found handler of the dialect
    // the path belongs to); authenticated routes check the token here too (`authenticate`).
    if (req.is404) {
      closeIfUnread(req, reply);
      void req.routeOptions.handler.call(app, req, reply);
    } else {
      done();
    }
  });
  // Only an error (401, 413 …) or an unknown path is answered before the body has arrived; such
  // an answer closes the connection, so a slow or endless body is not waited for, read or buffered.
  app.addHook('onError', (req, reply, _err, done) => {
    closeIfUnread(req, reply);
    done();
  });

  // The task API envelope is the default: admin, files and unknown paths answer in it too.
  app.setErrorHandler(defaultErrors);
  app.setNotFoundHandler(taskApiNotFound);

  const ctx: DialectContext = { tasks, tokens, config, shutdown: shutdown.signal, rateLimiter, fileLinks };
  await registerOpenApi(app, tasks.services); // before the routes: it collects them as they are added
  await app.register(filesPlugin({ root: filesDir, source: s3Files, signer: fileSigner, exists: (path) => files.exists(path) }), { prefix: FILES_ROUTE });
  await app.register(fileKeysAdminPlugin(fileSigner, tokens), { prefix: '/admin/files' });
  const channels = async () => relay?.channels.view(tasks.services.all(), await tasks.upstream.inFlightByChannel()) ?? [];
  await app.register(adminPlugin(ctx, { channels }), { prefix: '/admin' });
  await app.register(taskApiPlugin(ctx), { prefix: '/v1' });
  await app.register(apixoPlugin(ctx), { prefix: '/api/v1' });
  await app.register(queuePlugin(ctx), { prefix: '/v1/queue' });
  await app.register(replicatePlugin(ctx), { prefix: '/v1' });
  const ledger = stores.ledger;
  await app.register(accountPlugin(ctx, ledger), { prefix: '/v1/account' });
  await app.register(adminAccountsPlugin(ctx, ledger), { prefix: '/admin/accounts' });
  // The dashboard's data: tasks, services, live changes and charts, for the operator and for an account.
  const dashboardDeps: DashboardDeps = { webhooks: webhookStore, ledger, channels, wakeWebhooks: () => webhooks?.wake(), render };
  const liveEvents = new LiveEvents(tasks, app.log, shutdown.signal, opts.dashboard);
  for (const [kind, prefix] of [['admin', '/admin'], ['account', '/v1/account']] as const) {
    await app.register(dashboardTasksPlugin(ctx, kind, dashboardDeps), { prefix });
    await app.register(eventsPlugin(ctx, kind, { live: liveEvents }), { prefix });
    await app.register(statsPlugin(ctx, kind, { stats: stores.stats, maxRows: opts.dashboard?.statsMaxRows }), { prefix });
  }
  await app.register(webhooksApiPlugin(ctx, { store: webhookStore, secrets: webhookSecrets, wake: () => webhooks?.wake() }), { prefix: '/v1/webhooks' });
  if (signer) await app.register(upstreamCallbacksPlugin({ signer, tasks, wake: () => relay?.poller.wake() }), { prefix: CALLBACKS_PREFIX });
  if (metrics) await app.register(metricsPlugin(metrics, tokens, config.metrics.token));
  await app.register(opsPlugin({ services: tasks.services, stores, coordination })); // /, /healthz, /readyz
  if (config.dashboard.enabled) await app.register(dashboardPlugin()); // /dashboard/
  await registerDocs(app); // /openapi.json, /docs

  let closed = false;
  return {
    app, tasks, tokens, dispatcher, relay, webhooks, webhookStore, webhookSecrets, metrics, coordination, config, log, routes, fileLinks, retention, liveEvents,
    get generatedAdminToken() {
      return generated;
    },
    async listen() {
      // Bind first: if the port is taken, nothing has started working tasks.
      const url = await app.listen({ host: config.host, port: config.port });
      listenUrl = url;
      generated = (await tokens.ensureAdmin(undefined)).generated;
      if (dispatcher) {
        const dead = deadLocalWorkers(await tasks.runningLeaseOwners(), workerId);
        if (dead.length) log.info({ workers: dead, tasks: await tasks.releaseLeases(dead) }, 'released tasks of dead local workers');
        dispatcher.start();
        relay?.poller.start();
      }
      if (webhooks) {
        const dead = deadLocalWorkers(await webhookStore.deliveryLeaseOwners(), workerId);
        if (dead.length) log.info({ workers: dead, deliveries: await webhookStore.releaseDeliveryLeases(dead) }, 'released deliveries of dead local workers');
        webhooks.start();
      }
      retention?.start();
      return url;
    },
    async close() {
      if (closed) return;
      closed = true;
      shutdown.abort();
      await retention?.stop();
      await dispatcher?.stop();
      await relay?.close();
      await webhooks?.stop();
      // Give in-flight requests a moment, then drop connections that never sent one (some
      // clients keep a spare connection open, which would hold the close until it times out).
      const force = setTimeout(() => app.server.closeAllConnections(), 2000);
      await app.close();
      clearTimeout(force);
      tasks.close();
      metrics?.close();
      await coordination.close();
      await stores.close();
      s3?.client.destroy();
    },
  };
}
