/**
 * The dashboard routes' query parameters (docs/dashboard-api.md): filters of the task list and
 * its CSV export. Every bad value is a 400 naming the parameter; a filter the scope may not use
 * (`account` on an account's own routes) is refused, not ignored.
 */
import { GatewayError } from '../../core/errors.js';
import type { TaskFilter } from '../../core/ports.js';
import { TASK_STATES, isJsonObject, type TaskState } from '../../core/types.js';
import type { DashboardScope } from './views.js';

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;
const MAX_VALUES = 50;
const MAX_TEXT = 200;

const bad = (message: string): GatewayError => new GatewayError('bad_request', message);

/** A parameter's values: repeated (`?state=a&state=b`) and/or comma-separated (`?state=a,b`). */
export function values(query: Record<string, unknown>, name: string): string[] | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  const list = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (typeof v === 'string' ? v.split(',') : [null]));
  if (list.some((v) => v === null)) throw bad(`Query parameter ${name} must be text`);
  const items = (list as string[]).map((v) => v.trim()).filter((v) => v !== '');
  if (items.length === 0) throw bad(`Query parameter ${name} is empty`);
  if (items.length > MAX_VALUES || items.some((v) => v.length > MAX_TEXT)) {
    throw bad(`Query parameter ${name} takes at most ${MAX_VALUES} values of at most ${MAX_TEXT} characters`);
  }
  return items;
}

/** One value of a parameter, or undefined. */
export function single(query: Record<string, unknown>, name: string): string | undefined {
  const items = values(query, name);
  if (items && items.length > 1) throw bad(`Query parameter ${name} takes one value`);
  return items?.[0];
}

/** A time: ISO 8601, or Unix milliseconds. */
export function timeParam(query: Record<string, unknown>, name: string): number | undefined {
  const raw = single(query, name);
  if (raw === undefined) return undefined;
  const ms = /^\d{1,15}$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw bad(`Query parameter ${name} must be an ISO 8601 time or Unix milliseconds`);
  return ms;
}

export const queryOf = (query: unknown): Record<string, unknown> => (isJsonObject(query) ? query : {});

/** The list's filters, pinned to the caller's own account on an account's routes. */
export function taskFilter(rawQuery: unknown, scope: DashboardScope, paging: boolean): TaskFilter {
  const query = queryOf(rawQuery);
  const filter: TaskFilter = { limit: DEFAULT_PAGE };
  const services = values(query, 'service');
  if (services) filter.services = services;
  const states = values(query, 'state');
  if (states) {
    const unknown = states.filter((s) => !(TASK_STATES as readonly string[]).includes(s));
    if (unknown.length) throw bad(`Unknown state(s): ${unknown.join(', ')}; expected ${TASK_STATES.join(', ')}`);
    filter.states = states as TaskState[];
  }
  const account = single(query, 'account');
  if (scope.kind === 'account') {
    if (account !== undefined) throw bad('Query parameter account is for the admin token only: an account sees its own tasks');
    filter.ownerId = scope.accountId;
  } else if (account !== undefined) {
    filter.ownerId = account;
  }
  const channel = single(query, 'channel');
  if (channel !== undefined) filter.channel = channel;
  const since = timeParam(query, 'since');
  const until = timeParam(query, 'until');
  if (since !== undefined) filter.createdFrom = since;
  if (until !== undefined) filter.createdTo = until;
  if (!paging) {
    if (query.before !== undefined || query.limit !== undefined) throw bad('The export takes the filters only (no before or limit): it has every matching task');
    return filter;
  }
  const before = single(query, 'before');
  if (before !== undefined) filter.before = before;
  const limit = single(query, 'limit');
  if (limit !== undefined) {
    const n = /^\d{1,4}$/.test(limit) ? Number(limit) : Number.NaN;
    if (!(n >= 1 && n <= MAX_PAGE)) throw bad(`Query parameter limit must be an integer from 1 to ${MAX_PAGE}`);
    filter.limit = n;
  }
  return filter;
}
