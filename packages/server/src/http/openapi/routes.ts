/**
 * What the OpenAPI document says about each route, keyed by `METHOD url` as Fastify registers it.
 * A route without an entry still appears in the document, but with no summary: the route test
 * (test/openapi.test.ts) fails on it, so a new route cannot go undocumented.
 */
import type { JsonObject } from '../../core/types.js';
import {
  apixoCancelBody, apixoGenerateBody, apixoTaskIdQuery, jsonSchema, queueReadQuery, queueSubmitQuery, replicateCreateBody,
  replicateListQuery, replicatePreferHeader, taskApiTasksBody,
} from './envelopes.js';
import { dashboardRouteDocs } from './dashboard-routes.js';

export type Auth = 'none' | 'token' | 'admin';

export interface RouteDoc {
  tag: string;
  summary: string;
  description?: string;
  auth: Auth;
  body?: JsonObject;
  querystring?: JsonObject;
  headers?: JsonObject;
  params?: JsonObject;
}

const obj = (description: string, properties: Record<string, JsonObject> = {}, required: string[] = []): JsonObject => ({
  type: 'object', description, properties, ...(required.length ? { required } : {}),
});
const str = (description: string): JsonObject => ({ type: 'string', description });
const id = { id: str('The id.') };
const page = obj('', { limit: { type: 'integer', minimum: 1 }, before: { type: 'integer', minimum: 0 } });
const tokenFields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  allowed_services: { type: 'array', items: { type: 'string' }, description: 'Service names or patterns ("vendor/*", "*").' },
  expires_at: { type: ['string', 'null'], description: 'ISO 8601 time, or null for never.' },
  rate_limit_rps: { type: ['integer', 'null'], minimum: 1 },
};
const accountFields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  rate_limit_rps: { type: ['integer', 'null'], minimum: 1 },
  max_concurrency: { type: ['integer', 'null'], minimum: 1 },
};

/** Documentation of the routes whose body does not depend on the configured services. */
export function routeDocs(createBody: { taskApi: JsonObject; queue: JsonObject; apixoInput: JsonObject; replicateInput: JsonObject }): Record<string, RouteDoc> {
  const withInput = (envelope: JsonObject, input: JsonObject): JsonObject => ({
    ...envelope, properties: { ...(envelope.properties as JsonObject), input },
  });
  const ops: Record<string, RouteDoc> = {
    'GET /': { tag: 'operations', summary: 'Index: version, dialects and base paths, configured services, links', auth: 'none' },
    'GET /healthz': { tag: 'operations', summary: 'Liveness: 200 while the process serves HTTP', auth: 'none' },
    'GET /readyz': { tag: 'operations', summary: 'Readiness: store reachable, migrations applied, Redis reachable when configured (else 503)', auth: 'none' },
    'GET /openapi.json': { tag: 'operations', summary: 'This document', auth: 'none' },
    'GET /dashboard': { tag: 'operations', summary: 'The dashboard (redirects to /dashboard/, its pages; 404 when it was not built)', auth: 'none' },
    'GET /dashboard/*': {
      tag: 'operations', auth: 'none', summary: 'The dashboard\'s pages and assets (no data: it signs in with a token and reads the dashboard routes)',
      params: obj('', { '*': str('A file of the built dashboard; empty for its page.') }),
    },
    'GET /metrics': {
      tag: 'operations', auth: 'admin', summary: 'Prometheus metrics (text format)',
      description: 'The admin token, or the metrics token (metrics.token, TASKGATE_METRICS_TOKEN) as a bearer token.',
    },
    'GET /files/*': {
      tag: 'files', summary: 'A result file, through a signed, expiring link (as a result or webhook hands it out)', auth: 'none',
      params: obj('', { path: str('The file path from a result URL.') }, ['path']),
      querystring: obj('', { exp: str('Expiry (unix seconds).'), kid: str('Signing key id.'), sig: str('HMAC-SHA256 signature (base64url).') }, ['exp', 'kid', 'sig']),
    },
    'GET /files/:key/:name': {
      tag: 'files', summary: 'A result file stored in S3-compatible storage, through a signed, expiring link (Range requests supported)', auth: 'none',
      params: obj('', { key: str('The file key.'), name: str('The file name.') }, ['key', 'name']),
      querystring: obj('', { exp: str('Expiry (unix seconds).'), kid: str('Signing key id.'), sig: str('HMAC-SHA256 signature (base64url).') }, ['exp', 'kid', 'sig']),
    },
    'POST /admin/files/keys/rotate': {
      tag: 'admin', auth: 'admin', summary: 'Rotate the file-link signing key (links signed before keep working for overlap_seconds)',
      body: obj('', { overlap_seconds: { type: 'integer', minimum: 0, maximum: 31_622_400 } }),
    },

    'POST /v1/:service/:action': {
      tag: 'task-api', auth: 'token', summary: 'Create a task of {service}/{action}, or (action "tasks") retrieve, retrieve a batch or cancel',
      description: 'The per-service paths below show each service\'s exact create body.',
      params: obj('', { service: str('The vendor (first part of the service name).'), action: str('The action, or "tasks".') }, ['service', 'action']),
      body: { anyOf: [createBody.taskApi, jsonSchema(taskApiTasksBody)] },
    },

    'POST /api/v1/generateTask/:model': {
      tag: 'apixo', auth: 'token', summary: 'Create a task of an APIXO model', params: obj('', { model: str('An APIXO model alias.') }, ['model']),
      body: withInput(jsonSchema(apixoGenerateBody), createBody.apixoInput),
    },
    'GET /api/v1/statusTask/:model': {
      tag: 'apixo', auth: 'token', summary: 'A task\'s state and result', params: obj('', { model: str('The model.') }, ['model']), querystring: jsonSchema(apixoTaskIdQuery),
    },
    'POST /api/v1/cancelTask/:model': {
      tag: 'apixo', auth: 'token', summary: 'Cancel a task (taskgate extension)', params: obj('', { model: str('The model.') }, ['model']), body: jsonSchema(apixoCancelBody),
    },

    'POST /v1/queue/*': {
      tag: 'queue', auth: 'token', summary: 'Submit to a fal endpoint ({path} = owner/alias[/sub]); or cancel (PUT)',
      params: obj('', { path: str('The endpoint id.') }, ['path']), querystring: jsonSchema(queueSubmitQuery), body: createBody.queue,
    },
    'GET /v1/queue/*': {
      tag: 'queue', auth: 'token', summary: 'A request\'s result, status or status stream ({path} = owner/alias/requests/{id}[/status[/stream]])',
      params: obj('', { path: str('owner/alias/requests/{id}[/status[/stream]]') }, ['path']), querystring: jsonSchema(queueReadQuery),
    },
    'PUT /v1/queue/*': {
      tag: 'queue', auth: 'token', summary: 'Cancel a request ({path} = owner/alias/requests/{id}/cancel)',
      params: obj('', { path: str('owner/alias/requests/{id}/cancel') }, ['path']),
    },

    'POST /v1/predictions': {
      tag: 'replicate', auth: 'token', summary: 'Create a prediction of a model named by version', headers: jsonSchema(replicatePreferHeader),
      body: withInput(jsonSchema(replicateCreateBody(true)), createBody.replicateInput),
    },
    'GET /v1/predictions': { tag: 'replicate', auth: 'token', summary: 'List predictions, newest first', querystring: jsonSchema(replicateListQuery) },
    'POST /v1/models/:owner/:name/predictions': {
      tag: 'replicate', auth: 'token', summary: 'Create a prediction of owner/name', headers: jsonSchema(replicatePreferHeader),
      params: obj('', { owner: str('Model owner.'), name: str('Model name.') }, ['owner', 'name']),
      body: withInput(jsonSchema(replicateCreateBody(false)), createBody.replicateInput),
    },
    'GET /v1/predictions/:id': { tag: 'replicate', auth: 'token', summary: 'A prediction', params: obj('', id, ['id']) },
    'POST /v1/predictions/:id/cancel': { tag: 'replicate', auth: 'token', summary: 'Cancel a prediction', params: obj('', id, ['id']) },
    'GET /v1/predictions/:id/stream': {
      tag: 'replicate', auth: 'none', summary: 'Server-sent events of a prediction (the stream URL carries its own key)', params: obj('', id, ['id']),
    },

    'GET /v1/account/balance': { tag: 'account', auth: 'token', summary: 'The caller\'s credits: balance, held, used' },
    'GET /v1/account/ledger': { tag: 'account', auth: 'token', summary: 'The caller\'s ledger entries, newest first', querystring: page },
    'GET /v1/webhooks/secret': { tag: 'webhooks', auth: 'token', summary: 'The caller\'s webhook signing secret' },
    'POST /v1/webhooks/secret/rotate': {
      tag: 'webhooks', auth: 'token', summary: 'Rotate the webhook signing secret (the old one keeps signing for the overlap)',
      body: obj('', { overlap_seconds: { type: 'integer', minimum: 0, maximum: 30 * 86_400 } }),
    },
    'GET /v1/webhooks/default/secret': { tag: 'webhooks', auth: 'token', summary: 'The current webhook signing secret (Replicate\'s path)' },
    'GET /v1/webhooks/deliveries': {
      tag: 'webhooks', auth: 'token', summary: 'Webhook deliveries with every attempt, newest first',
      querystring: obj('', { task_id: str('Only this task\'s.'), limit: { type: 'integer', minimum: 1 } }),
    },
    'POST /v1/webhooks/deliveries/:id/redeliver': { tag: 'webhooks', auth: 'token', summary: 'Send a delivery again', params: obj('', id, ['id']) },

    'POST /v1/upstream/callbacks/:task/:sig': {
      tag: 'upstream', auth: 'none', summary: 'Where an upstream platform reports a relayed task (a signed URL; any body)',
      params: obj('', { task: str('The task id.'), sig: str('The URL\'s signature.') }, ['task', 'sig']),
    },

    'GET /admin/channels': { tag: 'admin', auth: 'admin', summary: 'Upstream channels: health, in-flight tasks, caps' },
    'POST /admin/tokens': {
      tag: 'admin', auth: 'admin', summary: 'Create an API token (of an existing account, or a new one); the token is shown once',
      body: obj('', { ...tokenFields, account_id: str('An existing account.'), max_concurrency: accountFields.max_concurrency }, ['name']),
    },
    'GET /admin/tokens': { tag: 'admin', auth: 'admin', summary: 'List tokens (never the secrets)' },
    'GET /admin/tokens/:id': { tag: 'admin', auth: 'admin', summary: 'A token', params: obj('', id, ['id']) },
    'PATCH /admin/tokens/:id': {
      tag: 'admin', auth: 'admin', summary: 'Change a token', params: obj('', id, ['id']),
      body: obj('', { ...tokenFields, disabled: { type: 'boolean' } }),
    },
    'DELETE /admin/tokens/:id': { tag: 'admin', auth: 'admin', summary: 'Delete a token', params: obj('', id, ['id']) },
    'POST /admin/tokens/:id/disable': { tag: 'admin', auth: 'admin', summary: 'Disable a token', params: obj('', id, ['id']) },
    'POST /admin/tokens/:id/rotate': { tag: 'admin', auth: 'admin', summary: 'A new secret for the same token (the old one stops at once)', params: obj('', id, ['id']) },
    'POST /admin/accounts': { tag: 'admin', auth: 'admin', summary: 'Create an account', body: obj('', accountFields, ['name']) },
    'GET /admin/accounts': { tag: 'admin', auth: 'admin', summary: 'List accounts with their credits' },
    'GET /admin/accounts/:id': { tag: 'admin', auth: 'admin', summary: 'An account with its credits', params: obj('', id, ['id']) },
    'PATCH /admin/accounts/:id': {
      tag: 'admin', auth: 'admin', summary: 'Change an account', params: obj('', id, ['id']), body: obj('', { ...accountFields, disabled: { type: 'boolean' } }),
    },
    'GET /admin/accounts/:id/tokens': { tag: 'admin', auth: 'admin', summary: 'An account\'s tokens', params: obj('', id, ['id']) },
    'POST /admin/accounts/:id/tokens': {
      tag: 'admin', auth: 'admin', summary: 'Create a token of this account (shown once)', params: obj('', id, ['id']), body: obj('', tokenFields, ['name']),
    },
    'POST /admin/accounts/:id/topup': {
      tag: 'admin', auth: 'admin', summary: 'Add credits', params: obj('', id, ['id']),
      body: obj('', { amount: { type: 'integer', minimum: 1, maximum: 1e12 }, reason: { type: 'string', minLength: 1, maxLength: 500 } }, ['amount', 'reason']),
    },
    'POST /admin/accounts/:id/adjust': {
      tag: 'admin', auth: 'admin', summary: 'Correct the balance by a signed amount', params: obj('', id, ['id']),
      body: obj('', { amount: { type: 'integer', minimum: -1e12, maximum: 1e12, not: { const: 0 } }, reason: { type: 'string', minLength: 1, maxLength: 500 } }, ['amount', 'reason']),
    },
  };
  // The dashboard's live changes and charts (docs/dashboard-api.md), for the operator and for an account.
  const stats = (account: boolean): JsonObject => obj('', {
    since: str('Finished at or after this time: ISO 8601 or Unix ms (default: one hour before until).'),
    until: str('Finished before this time: ISO 8601 or Unix ms (default: now). At most 31 days after since.'),
    bucket: { type: 'integer', minimum: 10, description: 'Bucket width in seconds (default: a round width giving about 60 buckets); at most 1000 buckets.' },
    service: str('Only these services (repeat, or separate with commas).'),
    ...(account ? { account: str('Only this account\'s tasks.') } : {}),
  });
  const events = 'text/event-stream: `event: task` with the TaskSummary after each change, `: ping` every 15 s, `event: resync` after the stream fell behind. At most 100 streams per gateway (429 beyond).';
  ops['GET /admin/events'] = { tag: 'dashboard', auth: 'admin', summary: 'Live changes of every account\'s tasks (server-sent events)', description: events };
  ops['GET /v1/account/events'] = { tag: 'dashboard', auth: 'token', summary: 'Live changes of the caller\'s account\'s tasks (server-sent events)', description: events };
  ops['GET /admin/stats'] = {
    tag: 'dashboard', auth: 'admin', summary: 'Finished tasks per time bucket: counts, error rate, latency percentiles, spend', querystring: stats(true),
  };
  ops['GET /v1/account/stats'] = {
    tag: 'dashboard', auth: 'token', summary: 'The caller\'s account\'s finished tasks per time bucket: counts, error rate, latency percentiles, spend',
    querystring: stats(false),
  };
  // The accounts plugin's root routes answer with and without the trailing slash.
  ops['POST /admin/accounts/'] = ops['POST /admin/accounts']!;
  ops['GET /admin/accounts/'] = ops['GET /admin/accounts']!;
  return { ...ops, ...dashboardRouteDocs() };
}
