/**
 * Queue dialect (PROTOCOLS.md dialect 3, seed 004; fal.ai queue compatible), under /v1/queue:
 *   POST {endpoint}                          submit (`?fal_webhook=` recorded as the callback URL)
 *   GET  {app}/requests/{id}/status          status (`?logs=1` adds the log lines)
 *   GET  {app}/requests/{id}/status/stream   status as server-sent events until COMPLETED
 *   GET  {app}/requests/{id}                 result (202 + status while incomplete)
 *   PUT  {app}/requests/{id}/cancel          cancel
 * `{app}` is `owner/alias` of the endpoint (fal's subpath rule). Thin: parse → TaskService → render.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { JsonObject, Task, TaskLog } from '../../core/types.js';
import { admitCreate, authenticate, ownerOf } from '../../http/auth.js';
import type { DialectContext } from '../../http/context.js';
import { callbackPolicy } from '../../http/callback-url.js';
import { baseUrl, idempotencyKey, requestLinks } from '../../http/request.js';
import { REQUEST_NOT_FOUND, queueErrorHandler, queueNotFound } from './errors.js';
import { DIALECT, appOf, parseRequestPath, servicesUnder, submitInput, wantsLogs, webhookUrl, type RequestPath } from './parse.js';
import { failureBody, failureOf, requestUrls, resultBody, statusBody, submitBody, type RequestUrls } from './render.js';
import { streamStatus } from './stream.js';

export { DIALECT };

interface Route {
  Params: { '*': string };
  Querystring: Record<string, string | string[] | undefined>;
}

const REQUEST_ID_HEADER = 'x-fal-request-id';

export function queuePlugin(ctx: DialectContext) {
  return async function register(app: FastifyInstance): Promise<void> {
    const prefix = app.prefix;
    app.setErrorHandler(queueErrorHandler(ctx.config.bodyLimit));
    app.setNotFoundHandler(queueNotFound);
    app.addHook('onRequest', authenticate(ctx));
    const urlsFor = (req: FastifyRequest, appPath: string, id: string): RequestUrls =>
      requestUrls(baseUrl(req, ctx.config.publicUrl), prefix, appPath, id);

    const renderStatus = async (task: Task, urls: RequestUrls, logs: TaskLog[] | null): Promise<JsonObject> =>
      statusBody(task, urls, { position: task.state === 'queued' ? await ctx.tasks.queuePosition(task) : 0, logs });

    /** The owner's task under this app; another token's task is as unknown as a missing one. */
    async function findTask(req: FastifyRequest, path: RequestPath): Promise<Task> {
      const owner = ownerOf(req);
      const services = servicesUnder(ctx.tasks.services, path.app);
      if (services.length === 0) throw new GatewayError('no_api', `App not found: ${path.app}`);
      const task = await ctx.tasks.get(owner.account.id, path.id);
      if (!task || !services.some((s) => s.name === task.service)) throw new GatewayError('not_found', REQUEST_NOT_FOUND);
      return task;
    }

    app.post<Route>('/*', async (req, reply) => {
      const owner = ownerOf(req);
      const endpoint = req.params['*'];
      const def = ctx.tasks.services.findByAlias(DIALECT, endpoint);
      if (!def) throw new GatewayError('no_api', `App not found: ${endpoint}`);
      await admitCreate(ctx, owner, def.name);
      const input = submitInput(req.body);
      const callbackUrl = await webhookUrl(req.query, callbackPolicy(ctx.config));
      const task = await ctx.tasks.create({
        idempotencyKey: idempotencyKey(req),
        ownerId: owner.account.id, service: def.name, dialect: DIALECT, request: input, input, traceId: req.id, callbackUrl,
        meta: { endpoint }, origin: baseUrl(req, ctx.config.publicUrl),
      });
      req.log.info({ task_id: task.id, service: def.name, endpoint }, 'task created');
      const position = await ctx.tasks.queuePosition(task);
      void reply.header(REQUEST_ID_HEADER, task.id);
      return submitBody(task, urlsFor(req, appOf(endpoint), task.id), position);
    });

    app.get<Route>('/*', { exposeHeadRoute: false }, async (req, reply) => {
      const path = parseRequestPath(req.params['*']);
      if (!path || path.action === 'cancel') throw new GatewayError('no_api', 'Not Found');
      const task = await findTask(req, path);
      void reply.header(REQUEST_ID_HEADER, task.id);
      const urls = urlsFor(req, path.app, task.id);
      const logs = wantsLogs(req.query);
      switch (path.action) {
        case 'status':
          return renderStatus(task, urls, logs ? await ctx.tasks.logs(task) : null);
        case 'stream':
          await streamStatus(req, reply, {
            tasks: ctx.tasks, task, wantLogs: logs, shutdown: ctx.shutdown,
            render: (t, fresh) => renderStatus(t, urls, fresh),
          });
          return reply;
        default:
          return result(req, reply, task, urls, logs);
      }
    });

    /** The output when done; 202 + the status while incomplete; the failure's status and body. */
    async function result(req: FastifyRequest, reply: FastifyReply, task: Task, urls: RequestUrls, logs: boolean): Promise<JsonObject> {
      if (task.state === 'succeeded') return resultBody(task, requestLinks(req, ctx));
      if (task.state === 'queued' || task.state === 'running') {
        void reply.code(202);
        return renderStatus(task, urls, logs ? await ctx.tasks.logs(task) : null);
      }
      const failure = failureOf(task);
      void reply.code(failure.status).header('x-fal-error-type', failure.errorType);
      return failureBody(failure);
    }

    app.put<Route>('/*', async (req, reply) => {
      const path = parseRequestPath(req.params['*']);
      if (!path || path.action !== 'cancel') throw new GatewayError('no_api', 'Not Found');
      let task: Task;
      try {
        task = await findTask(req, path);
      } catch (err) {
        if (err instanceof GatewayError && err.code === 'not_found') return reply.code(404).send({ status: 'NOT_FOUND', detail: REQUEST_NOT_FOUND });
        throw err;
      }
      void reply.header(REQUEST_ID_HEADER, task.id);
      const outcome = await ctx.tasks.cancel(task.ownerId, task.id);
      switch (outcome.outcome) {
        case 'cancelled':
          req.log.info({ task_id: task.id }, 'task cancelled');
          return reply.code(202).send({ status: 'CANCELLATION_REQUESTED' });
        case 'already_completed':
          return reply.code(400).send({ status: 'ALREADY_COMPLETED' });
        case 'not_found':
          return reply.code(404).send({ status: 'NOT_FOUND', detail: REQUEST_NOT_FOUND });
      }
    });
  };
}
