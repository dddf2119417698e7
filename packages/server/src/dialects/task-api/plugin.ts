/**
 * The task API dialect (PROTOCOLS.md "Dialect 1"): `POST /v1/{service}/{action}` creates a task,
 * `POST /v1/{service}/tasks` retrieves one or a batch, or (a taskgate extension) cancels one.
 * Thin: parse → TaskService → render.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError, statusForCode } from '../../core/errors.js';
import type { JsonObject, Task } from '../../core/types.js';
import { isTerminal } from '../../core/types.js';
import { admitCreate, authenticate, ownerOf } from '../../http/auth.js';
import type { DialectContext } from '../../http/context.js';
import { callbackPolicy, callbackUrlSchema, checkCallbackUrl, type CallbackPolicy } from '../../http/callback-url.js';
import { baseUrl, jsonBody, idempotencyKey, requestLinks } from '../../http/request.js';
import type { FileLinks } from '../../http/file-links.js';
import { acceptedBody, errorBody, failureBody, retrieveItem, successBody, type TaskApiShape } from './render.js';

export const DIALECT = 'task-api';
export const MAX_BATCH = 100;
/** Longest id `cancel` accepts (longer is a 400 naming the field, not a store lookup). */
export const MAX_TASK_ID = 200;

/**
 * A create body's own fields, beside the service's input fields (same level), and the fields of
 * `POST /v1/{vendor}/tasks`, as schemas: the checks below use them (in their own words) and the
 * OpenAPI document shows them.
 */
export const createFields = z.object({
  callback_url: callbackUrlSchema.optional().describe('Answer at once with the task id; the result is POSTed here (webhook).'),
  async: z.boolean().optional().describe('Answer at once with the task id even where the service could wait for the result.'),
});
const taskIdField = z.string().min(1).max(MAX_TASK_ID);
const idsField = z.array(z.string());
export const tasksBody = z.union([
  z.object({ action: z.literal('retrieve'), id: taskIdField.optional(), task_id: taskIdField.optional() }).describe('One task (id or task_id).'),
  z.object({ action: z.literal('retrieve_batch'), ids: idsField.max(MAX_BATCH) }).describe(`Up to ${MAX_BATCH} tasks.`),
  z.object({ action: z.literal('cancel'), id: taskIdField.optional(), task_id: taskIdField.optional() }).describe('Cancel one task.'),
]);
const CONTROL_FIELDS = Object.keys(createFields.shape);

interface Params {
  service: string;
  action: string;
}

export function taskApiPlugin(ctx: DialectContext) {
  return async function register(app: FastifyInstance): Promise<void> {
    const shapeOf = (service: string): TaskApiShape => ctx.config.services[service]?.shape ?? 'generic';
    app.addHook('onRequest', authenticate(ctx));

    app.post<{ Params: Params }>('/:service/:action', async (req, reply) => {
      const { service, action } = req.params;
      if (action === 'tasks') return queryTasks(req, service);
      const def = ctx.tasks.services.get(`${service}/${action}`);
      const owner = await admitCreate(ctx, ownerOf(req), def.name);
      const body = jsonBody(req);
      const { callbackUrl, async } = await controlFields(body, callbackPolicy(ctx.config));
      const input: JsonObject = { ...body };
      for (const field of CONTROL_FIELDS) delete input[field];

      const task = await ctx.tasks.create({
        idempotencyKey: idempotencyKey(req),
        ownerId: owner.account.id, service: def.name, dialect: DIALECT, request: body, input, traceId: req.id, callbackUrl,
        origin: baseUrl(req, ctx.config.publicUrl),
      });
      req.log.info({ task_id: task.id, service: def.name }, 'task created');
      if (!def.waitCapable || async || callbackUrl !== null) return acceptedBody(task);

      const done = await ctx.tasks.waitForTerminal(task, def.waitLimitMs, ctx.shutdown);
      if (!isTerminal(done.state)) return acceptedBody(done); // wait limit passed: poll or callback
      return renderFinished(reply, done, shapeOf(done.service), requestLinks(req, ctx));
    });

    async function queryTasks(req: FastifyRequest, vendor: string): Promise<JsonObject> {
      if (!ctx.tasks.services.all().some((s) => s.name.startsWith(`${vendor}/`))) {
        throw new GatewayError('no_api', `Service ${vendor} is not registered`);
      }
      const owner = ownerOf(req);
      const body = jsonBody(req);
      const links = requestLinks(req, ctx);
      const visible = (t: Task | null): t is Task => t !== null && t.service.startsWith(`${vendor}/`);
      switch (body.action) {
        case 'retrieve': {
          const id = body.id ?? body.task_id;
          if (typeof id !== 'string' || id === '') throw new GatewayError('bad_request', 'Field id (or task_id) must be a non-empty string');
          const task = await ctx.tasks.get(owner.account.id, id);
          if (!visible(task)) throw new GatewayError('not_found', `Task ${id} not found`);
          return retrieveItem(task, shapeOf(task.service), links);
        }
        case 'retrieve_batch': {
          const ids = idsField.safeParse(body.ids).data;
          if (ids === undefined) throw new GatewayError('bad_request', 'Field ids must be an array of task id strings');
          if (ids.length > MAX_BATCH) throw new GatewayError('bad_request', `Field ids holds ${ids.length} ids; at most ${MAX_BATCH} per call`);
          const items = (await ctx.tasks.getMany(owner.account.id, ids)).filter(visible).map((t) => retrieveItem(t, shapeOf(t.service), links));
          return { items, count: items.length };
        }
        case 'cancel': {
          // A taskgate extension, through the same core cancel as the other dialects: the task as
          // `retrieve` shows it once cancelled, or 409 `already_completed` if it had finished.
          const id = cancelId(body);
          const task = await ctx.tasks.get(owner.account.id, id);
          if (!visible(task)) throw new GatewayError('not_found', `Task ${id} not found`);
          const result = await ctx.tasks.cancel(owner.account.id, id);
          if (result.outcome === 'not_found') throw new GatewayError('not_found', `Task ${id} not found`);
          if (result.outcome === 'already_completed') {
            throw new GatewayError('already_completed', `Task ${id} had already finished (it was not cancelled and is left as it is)`);
          }
          req.log.info({ task_id: id }, 'task cancelled');
          return retrieveItem(result.task, shapeOf(result.task.service), links);
        }
        case undefined:
          throw new GatewayError('bad_request', 'Field action is required (retrieve, retrieve_batch or cancel)');
        default:
          throw new GatewayError('api_not_implemented', `Action ${JSON.stringify(body.action)} is not implemented for ${vendor}/tasks`);
      }
    }
  };
}

function renderFinished(reply: FastifyReply, task: Task, shape: TaskApiShape, links: FileLinks): JsonObject {
  if (task.state === 'succeeded') return successBody(task, shape, links);
  const { error } = failureBody(task);
  void reply.code(statusForCode(error.code));
  return errorBody(error, task.traceId, { task_id: task.id });
}

/** `cancel`'s `id` (or `task_id`, as `retrieve` takes): a non-empty string of at most MAX_TASK_ID characters. */
function cancelId(body: JsonObject): string {
  const id = body.id ?? body.task_id;
  if (typeof id !== 'string' || id === '') throw new GatewayError('bad_request', 'Field id (or task_id) must be a non-empty string');
  if (!taskIdField.safeParse(id).success) throw new GatewayError('bad_request', `Field id is longer than ${MAX_TASK_ID} characters`);
  return id;
}

async function controlFields(body: JsonObject, policy: CallbackPolicy): Promise<{ callbackUrl: string | null; async: boolean }> {
  const { callback_url: callback, async } = body;
  if (!createFields.shape.async.safeParse(async).success) throw new GatewayError('bad_request', 'Field async must be a boolean');
  return { callbackUrl: await checkCallbackUrl(callback, 'Field callback_url', policy), async: async === true };
}
