/**
 * APIXO dialect (PROTOCOLS.md dialect 2, seed 002): `POST /api/v1/generateTask/{model}` submits a
 * task, `GET /api/v1/statusTask/{model}?taskId=` reads it and `POST /api/v1/cancelTask/{model}`
 * `{taskId}` cancels it (a taskgate extension). Models are config aliases of services.
 * Thin: parse → TaskService → render. Submission never waits (APIXO is asynchronous by nature).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../accounts/tokens.js';
import { GatewayError } from '../../core/errors.js';
import type { ServiceDefinition } from '../../core/services.js';
import type { Task } from '../../core/types.js';
import { admitCreate, authenticate, ownerOf } from '../../http/auth.js';
import type { DialectContext } from '../../http/context.js';
import { callbackPolicy } from '../../http/callback-url.js';
import { baseUrl, jsonBody, idempotencyKey, requestLinks } from '../../http/request.js';
import { apixoErrorHandler, apixoNotFound } from './errors.js';
import { inputFieldError, parseCancel, parseGenerate, parseTaskId } from './parse.js';
import { statusData, success } from './render.js';

export const DIALECT = 'apixo';

interface Params {
  model: string;
}

/** Who is asking and which service the path's model names; resolved before the body is read. */
interface Resolved {
  owner: Principal;
  service: ServiceDefinition;
}

export function apixoPlugin(ctx: DialectContext) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.setErrorHandler(apixoErrorHandler(ctx.config.bodyLimit));
    app.setNotFoundHandler(apixoNotFound);

    const resolved = new WeakMap<FastifyRequest, Resolved>();

    // onRequest runs before the body is read: 401 for a bad key, then 404 for an unknown model,
    // and only then body problems (400) — nobody unauthenticated gets a large body parsed.
    app.addHook('onRequest', authenticate(ctx));
    async function resolve(req: FastifyRequest<{ Params: Params }>): Promise<void> {
      const owner = ownerOf(req);
      const { model } = req.params;
      const service = ctx.tasks.services.findByAlias(DIALECT, model);
      if (!service) throw new GatewayError('no_api', `Model "${model}" not found`);
      resolved.set(req, { owner, service });
    }

    function resolvedOf(req: FastifyRequest): Resolved {
      const r = resolved.get(req);
      if (!r) throw new GatewayError('api_error', 'Request was not resolved');
      return r;
    }

    app.post<{ Params: Params }>('/generateTask/:model', { onRequest: resolve }, async (req) => {
      const { owner, service } = resolvedOf(req);
      await admitCreate(ctx, owner, service.name);
      const body = jsonBody(req);
      const { requestType, callbackUrl, input } = await parseGenerate(body, callbackPolicy(ctx.config));
      let task: Task;
      try {
        task = await ctx.tasks.create({
          idempotencyKey: idempotencyKey(req),
          ownerId: owner.account.id, service: service.name, dialect: DIALECT, request: body, input, traceId: req.id,
          callbackUrl, meta: { request_type: requestType }, origin: baseUrl(req, ctx.config.publicUrl),
        });
      } catch (err) {
        throw inputFieldError(err);
      }
      req.log.info({ task_id: task.id, service: service.name, model: req.params.model }, 'task created');
      return success({ taskId: task.id });
    });

    app.get<{ Params: Params }>('/statusTask/:model', { onRequest: resolve }, async (req) => {
      const { owner, service } = resolvedOf(req);
      const taskId = parseTaskId(req.query);
      const task = await ctx.tasks.get(owner.account.id, taskId);
      // Another owner's task, or one of another model's service, is exactly like an unknown id.
      if (!task || task.service !== service.name) throw new GatewayError('not_found', `Task ${taskId} not found`);
      return success(statusData(task, requestLinks(req, ctx)));
    });

    // The same core cancel as the other dialects: the task's status once cancelled (`failed` /
    // TASK_CANCELLED), or 400 saying it had already finished (left as it is).
    app.post<{ Params: Params }>('/cancelTask/:model', { onRequest: resolve }, async (req) => {
      const { owner, service } = resolvedOf(req);
      const taskId = parseCancel(jsonBody(req));
      const task = await ctx.tasks.get(owner.account.id, taskId);
      if (!task || task.service !== service.name) throw new GatewayError('not_found', `Task ${taskId} not found`);
      const result = await ctx.tasks.cancel(owner.account.id, taskId);
      if (result.outcome === 'not_found') throw new GatewayError('not_found', `Task ${taskId} not found`);
      if (result.outcome === 'already_completed') {
        throw new GatewayError('already_completed', `Task ${taskId} had already finished (it was not cancelled and is left as it is)`);
      }
      req.log.info({ task_id: taskId, model: req.params.model }, 'task cancelled');
      return success(statusData(result.task, requestLinks(req, ctx)));
    });
  };
}
