/** Throughput, latency percentiles, error rate and spend over time (GET …/stats). */
import { useMemo, useState } from 'preact/hooks';
import { useApp, useLoad } from '../lib/context';
import { ms, num, pct } from '../lib/format';
import type { List, Service, Stats } from '../lib/types';
import { Failed } from './bits';
import { TimeChart, type Line } from './TimeChart';

const RANGES: Array<[string, number]> = [['1 hour', 3600], ['6 hours', 6 * 3600], ['24 hours', 24 * 3600], ['7 days', 7 * 24 * 3600]];

export function Charts() {
  const { session } = useApp();
  const { api, base } = session;
  const [range, setRange] = useState(3600);
  const [service, setService] = useState('');
  const [account, setAccount] = useState('');
  const services = useLoad(() => api.get<List<Service>>(`${base}/services`), [api, base]);
  const stats = useLoad(() => {
    const q = new URLSearchParams({ since: new Date(Date.now() - range * 1000).toISOString() });
    if (service !== '') q.set('service', service);
    if (account !== '') q.set('account', account);
    return api.get<Stats>(`${base}/stats?${q}`);
  }, [api, base, range, service, account]);

  const charts = useMemo(() => {
    const s = stats.data;
    if (!s) return null;
    const times = s.buckets.map((b) => Date.parse(b.at) / 1000);
    const col = (k: 'finished' | 'succeeded' | 'failed' | 'cancelled' | 'p50_ms' | 'p95_ms' | 'p99_ms' | 'error_rate' | 'spend') => s.buckets.map((b) => b[k]);
    const throughput: Line[] = [
      { label: 'finished', color: '#1e88e5', values: col('finished') },
      { label: 'succeeded', color: '#2e7d32', values: col('succeeded') },
      { label: 'failed', color: '#c62828', values: col('failed') },
      { label: 'cancelled', color: '#757575', values: col('cancelled') },
    ];
    const latency: Line[] = [
      { label: 'p50', color: '#2e7d32', values: col('p50_ms') },
      { label: 'p95', color: '#f9a825', values: col('p95_ms') },
      { label: 'p99', color: '#c62828', values: col('p99_ms') },
    ];
    const errors: Line[] = [{ label: 'error rate', color: '#c62828', values: col('error_rate') }];
    const spend: Line[] = [{ label: 'spend', color: '#6a1b9a', values: col('spend') }];
    return { times, throughput, latency, errors, spend };
  }, [stats.data]);

  const t = stats.data?.totals;
  return (
    <section data-testid="charts">
      <h2>Charts</h2>
      <form class="row" onSubmit={(e) => e.preventDefault()}>
        <label>
          Range
          <select value={String(range)} onChange={(e) => setRange(Number(e.currentTarget.value))}>
            {RANGES.map(([label, secs]) => <option key={secs} value={String(secs)}>{label}</option>)}
          </select>
        </label>
        <label>
          Service
          <select value={service} onChange={(e) => setService(e.currentTarget.value)}>
            <option value="">all</option>
            {(services.data?.items ?? []).map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}
          </select>
        </label>
        {session.who.role === 'admin' && (
          <label>Account<input placeholder="all" value={account} onChange={(e) => setAccount(e.currentTarget.value.trim())} /></label>
        )}
        <button type="button" class="secondary outline" onClick={stats.reload}>Refresh</button>
      </form>
      <Failed error={stats.error} />
      {stats.data?.truncated && <p role="status">Too many tasks in this range: the earlier buckets are incomplete. Pick a shorter range.</p>}
      {t && (
        <p data-testid="totals">
          {num(t.finished)} finished · {num(t.succeeded)} succeeded · {num(t.failed)} failed · error rate {pct(t.error_rate)} · p50 {ms(t.p50_ms)} · p95 {ms(t.p95_ms)} · p99 {ms(t.p99_ms)} · spend {num(t.spend)}
          {stats.data && <small> ({stats.data.bucket_seconds} s buckets)</small>}
        </p>
      )}
      {charts && (
        <div class="charts">
          <TimeChart title="Throughput" times={charts.times} lines={charts.throughput} />
          <TimeChart title="Latency" times={charts.times} lines={charts.latency} unit={ms} />
          <TimeChart title="Error rate" times={charts.times} lines={charts.errors} unit={pct} />
          <TimeChart title="Spend" times={charts.times} lines={charts.spend} />
        </div>
      )}
    </section>
  );
}
