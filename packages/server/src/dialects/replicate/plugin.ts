/**
 * Replicate-compatible predictions (PROTOCOLS.md "Other real clients"; the `replicate` npm client
 * with `baseUrl: <gateway>/v1`): create (`POST /predictions`, `POST /models/{owner}/{name}/predictions`,
 * `Prefer: wait[=N]`), get, cancel, list (paged) and an SSE stream per prediction.
 * Thin: parse → TaskService → render. Models are the services' `replicate` aliases.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { JsonObject, Task } from '../../core/types.js';
import { isTerminal } from '../../core/types.js';
import { admitCreate, authenticate as tokenHook, ownerOf, requireToken } from '../../http/auth.js';
import type { DialectContext } from '../../http/context.js';
import { callbackPolicy } from '../../http/callback-url.js';
import { baseUrl, bearerToken, jsonBody, idempotencyKey, requestLinks } from '../../http/request.js';
import { InvalidFieldsError, replicateErrorHandler } from './errors.js';
import { ModelCatalog, type ModelRef } from './models.js';
import { inputFieldError, parseCreate, parseCursor, parsePreferWait, taskWebhookEvents, type CreateRequest } from './parse.js';
import { page, prediction } from './render.js';
import { keyMatches, newStreamKey, parseStreamKey, streamPrediction, streamUrl } from './stream.js';

export const DIALECT = 'replicate';

/** Predictions per list page (Replicate's). */
export const PAGE_SIZE = 100;
/** One answer for an unknown id, another token's prediction and a task of another dialect's service. */
const NOT_FOUND = 'The requested prediction could not be found';

interface IdParams {
  id: string;
}
interface ModelParams {
  owner: string;
  name: string;
}

export function replicatePlugin(ctx: DialectContext) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.setErrorHandler(replicateErrorHandler(ctx.config.bodyLimit));

    const models = new ModelCatalog(ctx.tasks.services, DIALECT);
    const routeModels = new WeakMap<FastifyRequest, ModelRef>();
    const base = (req: FastifyRequest): string => baseUrl(req, ctx.config.publicUrl);
    const apiRoot = (req: FastifyRequest): string => `${base(req)}${app.prefix}`;

    // onRequest runs before the body is read: 401 first, so nobody unauthenticated gets a body parsed.
    const authenticate = tokenHook(ctx);
    async function resolveRouteModel(req: FastifyRequest<{ Params: ModelParams }>): Promise<void> {
      const name = `${req.params.owner}/${req.params.name}`;
      const model = models.byName(name);
      if (!model) throw new GatewayError('not_found', `Model ${name} not found (or perhaps you don't have permission to use it?)`);
      routeModels.set(req, model);
    }

    /** The owner's prediction: another token's task, or a service this dialect does not expose, is not found. */
    async function visible(ownerId: string, id: string): Promise<{ task: Task; model: ModelRef }> {
      const task = await ctx.tasks.get(ownerId, id);
      const model = task ? models.ofTask(task) : undefined;
      if (!task || !model) throw new GatewayError('not_found', NOT_FOUND);
      return { task, model };
    }

    async function render(req: FastifyRequest, task: Task, model: ModelRef, startingUnlessDone = false): Promise<JsonObject> {
      const root = apiRoot(req);
      const logs = await ctx.tasks.logs(task);
      return prediction(task, model, DIALECT, { links: requestLinks(req, ctx), apiRoot: root, logs, streamUrl: streamUrl(task, root), startingUnlessDone });
    }

    async function create(req: FastifyRequest, reply: FastifyReply, model: ModelRef, body: JsonObject, parsed: CreateRequest): Promise<JsonObject> {
      const owner = await admitCreate(ctx, ownerOf(req), model.service.name);
      const waitSeconds = parsePreferWait(req.headers.prefer); // before creating: a bad header creates nothing
      const meta: JsonObject = { model: model.name, stream_key: newStreamKey() };
      if (parsed.eventsFilter) meta.webhook_events_filter = parsed.eventsFilter;
      let task: Task;
      try {
        task = await ctx.tasks.create({
          idempotencyKey: idempotencyKey(req),
          ownerId: owner.account.id, service: model.service.name, dialect: DIALECT, request: body, input: parsed.input,
          traceId: req.id, callbackUrl: parsed.webhook, meta, webhookEvents: taskWebhookEvents(parsed.eventsFilter), origin: base(req),
        });
      } catch (err) {
        throw inputFieldError(err);
      }
      req.log.info({ task_id: task.id, service: model.service.name, model: model.name }, 'prediction created');

      // Prefer: wait holds the request until the prediction is done, at most N seconds and never
      // longer than the service allows; a service configured `async` always answers at once.
      let shown = task;
      if (waitSeconds !== null && model.service.waitCapable) {
        const ms = Math.min(waitSeconds * 1000, model.service.waitLimitMs);
        shown = await ctx.tasks.waitForTerminal(task, ms, untilGone(reply, ctx.shutdown));
      }
      // 201 Created; 202 when a wait ended before the outputs were ready.
      void reply.code(waitSeconds !== null && !isTerminal(shown.state) ? 202 : 201);
      return render(req, shown, model, true);
    }

    app.post('/predictions', { onRequest: authenticate }, async (req, reply) => {
      const body = jsonBody(req);
      const parsed = await parseCreate(body, true, callbackPolicy(ctx.config));
      const model = models.resolve(parsed.version ?? '');
      if (!model) {
        throw new InvalidFieldsError(
          [{ type: 'invalid', field: 'version', description: `The specified version does not exist (or perhaps you don't have permission to use it?): ${parsed.version}` }],
          'Invalid version or not permitted',
        );
      }
      return create(req, reply, model, body, parsed);
    });

    app.post<{ Params: ModelParams }>('/models/:owner/:name/predictions', { onRequest: [authenticate, resolveRouteModel] }, async (req, reply) => {
      const model = routeModels.get(req);
      if (!model) throw new GatewayError('api_error', 'Model was not resolved');
      const body = jsonBody(req);
      return create(req, reply, model, body, await parseCreate(body, false, callbackPolicy(ctx.config)));
    });

    app.get<{ Params: IdParams }>('/predictions/:id', { onRequest: authenticate }, async (req) => {
      const { task, model } = await visible(ownerOf(req).account.id, req.params.id);
      return render(req, task, model);
    });

    // Cancelling a running or queued prediction ends it `canceled` (the provider is aborted and
    // nothing later overwrites it); a finished one is returned unchanged, as Replicate does.
    app.post<{ Params: IdParams }>('/predictions/:id/cancel', { onRequest: authenticate }, async (req) => {
      const owner = ownerOf(req);
      const { model } = await visible(owner.account.id, req.params.id);
      const result = await ctx.tasks.cancel(owner.account.id, req.params.id);
      if (result.outcome === 'not_found') throw new GatewayError('not_found', NOT_FOUND);
      if (result.outcome === 'cancelled') req.log.info({ task_id: result.task.id }, 'prediction canceled');
      return render(req, result.task, model);
    });

    app.get('/predictions', { onRequest: authenticate }, async (req) => {
      const owner = ownerOf(req);
      const before = parseCursor(req.query);
      const services = models.exposedServices();
      if (services.length === 0) return page([], null);
      const rows = await ctx.tasks.list({ ownerId: owner.account.id, before, services, limit: PAGE_SIZE + 1 });
      const shown = rows.slice(0, PAGE_SIZE);
      const root = apiRoot(req);
      const results: JsonObject[] = [];
      for (const task of shown) {
        const model = models.ofTask(task);
        if (model) results.push(prediction(task, model, DIALECT, { links: requestLinks(req, ctx), apiRoot: root, logs: null, streamUrl: streamUrl(task, root) }));
      }
      const last = shown.at(-1);
      const next = rows.length > PAGE_SIZE && last ? `${root}/predictions?cursor=${encodeURIComponent(last.id)}` : null;
      return page(results, next);
    });

    // The stream URL is a capability URL (the replicate client sends no token to it); a valid
    // token of the owner works as well, without the key.
    app.get<{ Params: IdParams }>('/predictions/:id/stream', { exposeHeadRoute: false }, async (req, reply) => {
      const { id } = req.params;
      let found: Task;
      if (bearerToken(req) !== null) {
        found = (await visible((await requireToken(req, ctx)).account.id, id)).task;
      } else {
        const secret = parseStreamKey(req.query);
        if (!secret) throw new GatewayError('no_token');
        const task = await ctx.tasks.getWithCapability(id, (t) => keyMatches(t, secret));
        if (!task || !models.ofTask(task)) throw new GatewayError('not_found', NOT_FOUND);
        found = task;
      }
      return streamPrediction(req, reply, { tasks: ctx.tasks, task: found, links: requestLinks(req, ctx), shutdown: ctx.shutdown });
    });
  };
}

/** Aborts when the gateway shuts down or the client goes away before the answer is sent. */
function untilGone(reply: FastifyReply, shutdown: AbortSignal): AbortSignal {
  const gone = new AbortController();
  const raw = reply.raw;
  const onClose = (): void => {
    if (!raw.writableFinished) gone.abort();
  };
  raw.once('close', onClose);
  return AbortSignal.any([shutdown, gone.signal]);
}
