/**
 * The OpenAPI entries of the dashboard's routes (docs/dashboard-api.md). Each data route is
 * documented twice: under /admin (admin token, every account) and /v1/account (an account's own).
 */
import { TASK_STATES, type JsonObject } from '../../core/types.js';
import { CSV_COLUMNS, EXPORT_MAX_ROWS } from '../dashboard/tasks.js';
import { MAX_PAGE } from '../dashboard/query.js';
import type { RouteDoc } from './routes.js';

const text = (description: string): JsonObject => ({ type: 'string', description });
const many = (description: string): JsonObject => ({
  description: `${description} Repeat the parameter or separate values with commas.`,
  oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
});

function filters(admin: boolean, paging: boolean): JsonObject {
  const properties: Record<string, JsonObject> = {
    service: many('Only these services.'),
    state: { ...many(`Only tasks in these states (${TASK_STATES.join(', ')}).`) },
    ...(admin ? { account: text('Only this account\'s tasks.') } : {}),
    channel: text('Only tasks relayed through this channel.'),
    since: text('Created at or after (ISO 8601 or Unix ms).'),
    until: text('Created before (ISO 8601 or Unix ms).'),
    ...(paging
      ? { before: text('The cursor: next_before of the previous page.'), limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 50 } }
      : {}),
  };
  return { type: 'object', properties };
}

const taskParams = (extra: Record<string, JsonObject> = {}): JsonObject => ({
  type: 'object', properties: { id: text('The task id.'), ...extra }, required: ['id', ...Object.keys(extra)],
});

export function dashboardRouteDocs(): Record<string, RouteDoc> {
  const docs: Record<string, RouteDoc> = {
    'GET /admin/whoami': { tag: 'dashboard', auth: 'admin', summary: 'Whether the token is the admin token ({"role":"admin"})' },
    'GET /v1/account': {
      tag: 'dashboard', auth: 'token', summary: 'The caller\'s account (with its credits) and the token it presented',
    },
    'GET /v1/account/tokens': { tag: 'dashboard', auth: 'token', summary: 'The caller\'s account\'s tokens (never a secret)' },
  };
  docs['GET /v1/account/'] = docs['GET /v1/account']!;
  for (const [prefix, auth, whose] of [['/admin', 'admin', 'every account'], ['/v1/account', 'token', 'the caller\'s account']] as const) {
    const admin = auth === 'admin';
    docs[`GET ${prefix}/tasks`] = {
      tag: 'dashboard', auth, summary: `Tasks of ${whose}, newest first, filtered and paged`, querystring: filters(admin, true),
    };
    docs[`GET ${prefix}/tasks/export.csv`] = {
      tag: 'dashboard', auth, summary: `The filtered tasks of ${whose} as CSV (at most ${EXPORT_MAX_ROWS.toLocaleString('en')} rows)`,
      description: `Columns: ${CSV_COLUMNS.join(', ')}.`, querystring: filters(admin, false),
    };
    docs[`GET ${prefix}/tasks/:id`] = {
      tag: 'dashboard', auth, params: taskParams(),
      summary: 'One task: request, output with file links, timeline, logs, upstream side, webhook deliveries with attempts, ledger entries',
    };
    docs[`POST ${prefix}/tasks/:id/deliveries/:delivery/redeliver`] = {
      tag: 'dashboard', auth, params: taskParams({ delivery: text('The delivery id (its webhook-id).') }),
      summary: 'Send a webhook delivery of the task again (same webhook-id, same payload)',
    };
    docs[`GET ${prefix}/services`] = {
      tag: 'dashboard', auth,
      summary: admin
        ? 'Services with queue depth, running tasks, caps, and their channels\' health, cool-downs and in-flight tasks'
        : 'The services the caller\'s token may use',
    };
  }
  return docs;
}
