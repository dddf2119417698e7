/** The list's filters; each change becomes the route's query (so a filtered list is a link). */
import type { ComponentChildren } from 'preact';
import { useApp, useLoad } from '../lib/context';
import { isoToLocal, localToIso, type TaskFilters } from '../lib/filters';
import { TASK_STATES, type List, type Service, type TaskState } from '../lib/types';

export function Filters({ value, onChange, children }: { value: TaskFilters; onChange: (f: TaskFilters) => void; children?: ComponentChildren }) {
  const { session } = useApp();
  const services = useLoad(() => session.api.get<List<Service>>(`${session.base}/services`), [session]);
  const names = (services.data?.items ?? []).map((s) => s.name);
  for (const s of value.service) if (!names.includes(s)) names.push(s);
  const toggle = (s: TaskState, on: boolean) =>
    onChange({ ...value, state: on ? [...value.state, s] : value.state.filter((x) => x !== s) });
  return (
    <div data-testid="filters" class="filters">
      <form onSubmit={(e) => e.preventDefault()}>
        <fieldset>
          {TASK_STATES.map((s) => (
            <label key={s} class="inline">
              <input type="checkbox" name="state" value={s} checked={value.state.includes(s)} onChange={(e) => toggle(s, e.currentTarget.checked)} />
              {s}
            </label>
          ))}
        </fieldset>
        <div class="row">
          <label>
            Service
            <select
              name="service"
              value={value.service[0] ?? ''}
              onChange={(e) => onChange({ ...value, service: e.currentTarget.value === '' ? [] : [e.currentTarget.value] })}
            >
              <option value="">any</option>
              {names.map((n) => <option key={n} value={n}>{n}</option>)}
            </select>
          </label>
          {session.who.role === 'admin' && (
            <label>
              Account
              <input name="account" placeholder="account id" value={value.account} onChange={(e) => onChange({ ...value, account: e.currentTarget.value.trim() })} />
            </label>
          )}
          <label>
            Channel
            <input name="channel" placeholder="relay channel" value={value.channel} onChange={(e) => onChange({ ...value, channel: e.currentTarget.value.trim() })} />
          </label>
          <label>
            Since
            <input name="since" type="datetime-local" value={isoToLocal(value.since)} onChange={(e) => onChange({ ...value, since: localToIso(e.currentTarget.value) })} />
          </label>
          <label>
            Until
            <input name="until" type="datetime-local" value={isoToLocal(value.until)} onChange={(e) => onChange({ ...value, until: localToIso(e.currentTarget.value) })} />
          </label>
        </div>
        <div class="actions">
          <button type="button" class="secondary outline" onClick={() => onChange({ service: [], state: [], account: '', channel: '', since: '', until: '' })}>
            Clear filters
          </button>
          {children}
        </div>
      </form>
    </div>
  );
}
