/** Services and their relay channels: load, health, cool-downs and caps (refreshed every 5 s). */
import { useEffect } from 'preact/hooks';
import { useApp, useLoad } from '../lib/context';
import { ms, when } from '../lib/format';
import { filtersToQuery, NO_FILTERS } from '../lib/filters';
import type { Channel, List, Service } from '../lib/types';
import { Failed, StateBadge } from './bits';

function Channels({ channels }: { channels: Channel[] }) {
  return (
    <table data-testid="channels">
      <thead>
        <tr><th>Channel</th><th>Protocol</th><th>State</th><th>In flight</th><th>Caps</th><th>Priority / weight</th><th>Failures</th><th>Last error</th></tr>
      </thead>
      <tbody>
        {channels.map((c) => (
          <tr key={c.name} data-channel={c.name} data-state={c.state}>
            <td>{c.name}</td>
            <td>{c.protocol}</td>
            <td>
              <StateBadge state={c.state} />
              {c.cool_until && <small> until {when(c.cool_until)}</small>}
            </td>
            <td>{c.in_flight}{c.max_concurrency !== null && ` / ${c.max_concurrency}`}</td>
            <td>{c.max_requests_per_second === null ? '—' : `${c.max_requests_per_second}/s`}</td>
            <td>{c.priority} / {c.weight}</td>
            <td>{c.consecutive_failures}</td>
            <td>{c.last_error ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Services() {
  const { session } = useApp();
  const services = useLoad(() => session.api.get<List<Service>>(`${session.base}/services`), [session]);
  useEffect(() => {
    const timer = setInterval(services.reload, 5000);
    return () => clearInterval(timer);
  }, [services.reload]);
  return (
    <section data-testid="services">
      <h2>Services</h2>
      <Failed error={services.error} />
      {(services.data?.items ?? []).map((s) => (
        <article key={s.name} data-service={s.name}>
          <header>
            <strong>{s.name}</strong> · {s.kind} · {s.mode} ·{' '}
            <a href={`#/tasks?${filtersToQuery({ ...NO_FILTERS, service: [s.name] })}`}>tasks</a> ·{' '}
            <a href={`#/playground?service=${encodeURIComponent(s.name)}`}>try it</a>
          </header>
          <p>
            Queued <strong data-testid="queued">{s.queued}</strong> · running <strong data-testid="running">{s.running}</strong>
            {s.concurrency !== null && ` of ${s.concurrency}`} · timeout {ms(s.timeout_ms)}
          </p>
          {s.channels && s.channels.length > 0 && <Channels channels={s.channels} />}
        </article>
      ))}
    </section>
  );
}
