/**
 * The token owner's webhook API, under `/v1/webhooks` (task API error envelope):
 *   GET  /secret                       → {secret, previous}     the signing secrets in force
 *   POST /secret/rotate                → {secret, previous_expire_at}   body {overlap_seconds?}
 *   GET  /default/secret               → {key}                  Replicate's shape
 *   GET  /deliveries?task_id=&limit=   → {items, count}         newest first, with every attempt
 *   POST /deliveries/{id}/redeliver    → the delivery, queued again (same webhook-id and payload)
 * Every POST has three or more segments after /v1, so the task API's `POST /v1/{service}/{action}`
 * never takes them. Only the token's own secrets and deliveries are ever shown; payloads are not,
 * nor a callback URL's userinfo or query values.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';
import type { WebhookStore } from '../core/ports.js';
import type { DeliveryAttempt, JsonObject, WebhookDelivery } from '../core/types.js';
import { isJsonObject } from '../core/types.js';
import type { WebhookSecrets } from '../webhooks/secrets.js';
import { authenticate, ownerOf } from './auth.js';
import type { DialectContext } from './context.js';
import { iso } from './admin-views.js';

export interface WebhooksApiDeps {
  store: WebhookStore;
  secrets: WebhookSecrets;
  /** Tells this process's delivery workers to look now (a redelivery goes out at once). */
  wake?: () => void;
}

/** Deliveries per list call: default and most. */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 100;
/** Longest overlap a rotation may ask for (the config's own limit): 30 days. */
export const MAX_OVERLAP_SECONDS = 30 * 86_400;
const MAX_ID = 200;

interface IdParams {
  id: string;
}

export function webhooksApiPlugin(ctx: DialectContext, deps: WebhooksApiDeps) {
  const { store, secrets } = deps;
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', authenticate(ctx));
    const owner = async (req: FastifyRequest): Promise<string> => ownerOf(req).account.id;

    app.get('/secret', async (req) => {
      const [secret, ...previous] = await secrets.active(await owner(req));
      return { secret: secret ?? null, previous };
    });

    app.post('/secret/rotate', async (req) => {
      const ownerId = await owner(req);
      const overlap = overlapSeconds(req.body);
      const { secret, previousExpireAt } = await secrets.rotate(ownerId, overlap);
      req.log.info({ owner_id: ownerId, overlap_seconds: overlap ?? null }, 'webhook secret rotated');
      return { secret, previous_expire_at: new Date(previousExpireAt).toISOString() };
    });

    app.get('/default/secret', async (req) => ({ key: await secrets.current(await owner(req)) }));

    app.get('/deliveries', async (req) => {
      const ownerId = await owner(req);
      const { taskId, limit } = listQuery(req.query);
      const rows = await store.listDeliveries(ownerId, { taskId, limit });
      return { items: rows.map((d) => renderDelivery(d, d.log)), count: rows.length };
    });

    app.post<{ Params: IdParams }>('/deliveries/:id/redeliver', async (req) => {
      const ownerId = await owner(req);
      const { id } = req.params;
      const delivery = id.length <= MAX_ID ? await store.redeliver(ownerId, id, ctx.tasks.now()) : null;
      if (!delivery) throw new GatewayError('not_found', `Delivery ${id} not found`);
      req.log.info({ delivery_id: id, task_id: delivery.taskId }, 'webhook redelivery requested');
      deps.wake?.();
      const [listed] = (await store.listDeliveries(ownerId, { taskId: delivery.taskId, limit: MAX_LIMIT })).filter((d) => d.id === id);
      return renderDelivery(delivery, listed?.log ?? []);
    });
  };
}


/** A delivery as the owner sees it: state and attempts, never the payload. */
export function renderDelivery(d: WebhookDelivery, log: readonly DeliveryAttempt[]): JsonObject {
  return {
    id: d.id,
    task_id: d.taskId,
    event: d.event,
    // The owner's own callback URL, but a password or signature in it is not echoed back.
    url: redactUrl(d.url),
    state: d.state,
    attempts: d.attempts,
    // When the next attempt is due; only a pending delivery has one.
    next_attempt_at: d.state === 'pending' ? iso(d.nextAttemptAt) : null,
    created_at: iso(d.createdAt),
    finished_at: iso(d.finishedAt),
    last_status: d.lastStatus,
    last_error: d.lastError,
    log: log.map((a) => ({ n: a.n, at: iso(a.at), status_code: a.statusCode, latency_ms: a.latencyMs, error: a.error })),
  };
}

function overlapSeconds(body: unknown): number | undefined {
  if (body === undefined || body === null) return undefined;
  if (!isJsonObject(body)) throw new GatewayError('bad_request', 'Request body must be a JSON object');
  const value = body.overlap_seconds;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_OVERLAP_SECONDS) {
    throw new GatewayError('bad_request', `Field overlap_seconds must be an integer from 0 to ${MAX_OVERLAP_SECONDS}`);
  }
  return value;
}

function listQuery(query: unknown): { taskId: string | undefined; limit: number } {
  const q = isJsonObject(query) ? query : {};
  const { task_id: taskId, limit } = q;
  if (taskId !== undefined && (typeof taskId !== 'string' || taskId === '' || taskId.length > MAX_ID)) {
    throw new GatewayError('bad_request', 'Query parameter task_id must be given once, as a task id');
  }
  if (limit === undefined) return { taskId, limit: DEFAULT_LIMIT };
  const n = typeof limit === 'string' && /^\d{1,4}$/.test(limit) ? Number(limit) : Number.NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw new GatewayError('bad_request', `Query parameter limit must be an integer from 1 to ${MAX_LIMIT}`);
  return { taskId, limit: n };
}
