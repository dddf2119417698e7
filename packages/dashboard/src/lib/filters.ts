/**
 * The task list's filters: as the hash route's query (shareable, no secrets), as the API's query,
 * and as a predicate for the live stream (a changed task stays in the list only while it matches).
 */
import type { TaskState, TaskSummary } from './types';
import { TASK_STATES } from './types';

export interface TaskFilters {
  service: string[];
  state: TaskState[];
  account: string;
  channel: string;
  /** ISO 8601 (or empty). */
  since: string;
  until: string;
}

export const NO_FILTERS: TaskFilters = { service: [], state: [], account: '', channel: '', since: '', until: '' };

const list = (v: string | null): string[] => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

export function filtersFromQuery(q: URLSearchParams): TaskFilters {
  return {
    service: list(q.get('service')),
    state: list(q.get('state')).filter((s): s is TaskState => (TASK_STATES as readonly string[]).includes(s)),
    account: q.get('account') ?? '',
    channel: q.get('channel') ?? '',
    since: q.get('since') ?? '',
    until: q.get('until') ?? '',
  };
}

/** The filters as a query string (without `?`), for the API and for the hash route alike. */
export function filtersToQuery(f: TaskFilters, extra: Record<string, string | number | null | undefined> = {}): string {
  const q = new URLSearchParams();
  if (f.service.length > 0) q.set('service', f.service.join(','));
  if (f.state.length > 0) q.set('state', f.state.join(','));
  if (f.account !== '') q.set('account', f.account);
  if (f.channel !== '') q.set('channel', f.channel);
  if (f.since !== '') q.set('since', f.since);
  if (f.until !== '') q.set('until', f.until);
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  return q.toString();
}

/** Whether a task (as the live stream sends it) belongs in a list with these filters. */
export function matches(f: TaskFilters, t: TaskSummary): boolean {
  if (f.service.length > 0 && !f.service.includes(t.service)) return false;
  if (f.state.length > 0 && !f.state.includes(t.state)) return false;
  if (f.account !== '' && t.account_id !== f.account) return false;
  if (f.channel !== '' && t.channel !== f.channel) return false;
  const created = Date.parse(t.created_at);
  if (f.since !== '' && created < Date.parse(f.since)) return false;
  if (f.until !== '' && created >= Date.parse(f.until)) return false;
  return true;
}

/**
 * The list after one live change: replaced in place, dropped when it no longer matches, or added
 * at the top (newest first) when it is new and matches.
 */
export function applyChange(items: readonly TaskSummary[], f: TaskFilters, t: TaskSummary): TaskSummary[] {
  const at = items.findIndex((x) => x.id === t.id);
  const keep = matches(f, t);
  if (at >= 0) {
    if (!keep) return items.filter((x) => x.id !== t.id);
    const next = items.slice();
    next[at] = t;
    return next;
  }
  if (!keep) return items.slice();
  const next = [t, ...items];
  next.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  return next;
}

/** `<input type="datetime-local">` value (local time) ⇄ ISO 8601. */
export const localToIso = (v: string): string => (v === '' ? '' : new Date(v).toISOString());
export function isoToLocal(v: string): string {
  if (v === '') return '';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
