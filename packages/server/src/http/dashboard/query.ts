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
const MAX_VALUES = 100;
const MAX_TEXT = 200;

export const bad = (message: string): GatewayError => new GatewayError('bad_request', message);

/** A parameter's values: repeated (`?state=a&state=b`) and/or comma-separated (`?state=a,b`); undefined when absent. */
export function values(query: Record<string, unknown>, name: string): string[] | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((x) => (typeof x === 'string' ? x.split(',') : [''])).map((x) => x.trim());
  if (parts.length > MAX_VALUES || parts.some((x) => x === '' || x.length > MAX_TEXT)) {
    throw bad(`${name} must be up to ${MAX_VALUES} non-empty values of at most ${MAX_TEXT} characters (repeat it or separate them with commas)`);
  }
  return [...new Set(parts)];
}

/** One value of a single-valued parameter; undefined when absent. */
export function single(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`${name} must be given once`);
  return v;
}

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** A query time: Unix milliseconds, or an ISO 8601 date or date-time. */
export function parseTime(name: string, text: string): number {
  const ms = /^\d{1,15}$/.test(text) ? Number(text) : ISO.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw bad(`${name} must be an ISO 8601 time or Unix milliseconds, got "${text.slice(0, 64)}"`);
  return ms;
}

/** A time parameter, or undefined. */
export function timeParam(query: Record<string, unknown>, name: string): number | undefined {
  const raw = single(query, name);
  return raw === undefined ? undefined : parseTime(name, raw);
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
  if (before !== undefined) {
    if (before === '' || before.length > MAX_TEXT) throw bad('before must be a task id (next_before of the previous page)');
    filter.before = before;
  }
  const limit = single(query, 'limit');
  if (limit !== undefined) {
    const n = /^\d{1,4}$/.test(limit) ? Number(limit) : Number.NaN;
    if (!(n >= 1 && n <= MAX_PAGE)) throw bad(`Query parameter limit must be an integer from 1 to ${MAX_PAGE}`);
    filter.limit = n;
  }
  return filter;
}
