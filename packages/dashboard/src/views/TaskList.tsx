/** The live task list: filtered through the API, kept current by the live feed, exportable as CSV. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { useApp, useLive } from '../lib/context';
import { applyChange, filtersFromQuery, filtersToQuery, type TaskFilters } from '../lib/filters';
import { ms, shortId, when } from '../lib/format';
import { go, href } from '../lib/router';
import type { TaskPage, TaskSummary } from '../lib/types';
import { StateBadge } from './bits';
import { Filters } from './TaskFilters';

const PAGE = 50;

export function TaskList({ query }: { query: URLSearchParams }) {
  const { session } = useApp();
  const { api, base } = session;
  const qs = query.toString();
  // The route's query is the filters' only home: no copy that could lag behind it.
  const filters = useMemo<TaskFilters>(() => filtersFromQuery(new URLSearchParams(qs)), [qs]);
  const [items, setItems] = useState<TaskSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(true);
  const [exporting, setExporting] = useState(false);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let current = true;
    setLoading(true);
    api.get<TaskPage>(`${base}/tasks?${filtersToQuery(filters, { limit: PAGE })}`).then(
      (page) => {
        if (!current) return;
        setItems(page.items);
        setNext(page.next_before);
        setError('');
        setLoading(false);
      },
      (err: unknown) => {
        if (!current) return;
        setError(errorText(err));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [api, base, filters, reloads]);

  useLive({
    task: (t) => setItems((list) => applyChange(list, filters, t)),
    resync: () => setReloads((n) => n + 1),
  });

  const more = async () => {
    if (next === null) return;
    try {
      const page = await api.get<TaskPage>(`${base}/tasks?${filtersToQuery(filters, { limit: PAGE, before: next })}`);
      setItems((list) => [...list, ...page.items.filter((t) => !list.some((x) => x.id === t.id))]);
      setNext(page.next_before);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const exportCsv = async () => {
    setExporting(true);
    try {
      const res = await api.raw(`${base}/tasks/export.csv?${filtersToQuery(filters)}`);
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = 'tasks.csv';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setExporting(false);
    }
  };

  return (
    <section>
      <hgroup>
        <h2>Tasks</h2>
        <p>Newest first; rows change as the tasks do. Filter by state, service, account, channel and creation time; the export holds at most 100,000 rows.</p>
      </hgroup>
      <Filters value={filters} onChange={(f) => go(`#/tasks?${filtersToQuery(f)}`)}>
        <button type="button" class="secondary" data-testid="export-csv" aria-busy={exporting} onClick={exportCsv}>Export CSV</button>
      </Filters>
      {error !== '' && <p role="alert">{error}</p>}
      <div class="scroll">
        <table data-testid="task-table" aria-busy={loading}>
          <thead>
            <tr>
              <th>Task</th><th>Service</th><th>State</th><th>Progress</th>
              {session.who.role === 'admin' && <th>Account</th>}
              <th>Channel</th><th>Created</th><th>Duration</th><th>Price</th>
            </tr>
          </thead>
          <tbody>
            {items.map((t) => (
              <tr key={t.id} data-task-id={t.id} data-state={t.state} data-service={t.service}>
                <td><a href={href('tasks', t.id)} title={t.id}><code>{shortId(t.id)}</code></a></td>
                <td>{t.service}</td>
                <td data-testid="state"><StateBadge state={t.state} /></td>
                <td>{t.progress === null ? '—' : <progress value={t.progress} max={1} title={`${Math.round(t.progress * 100)} %`} />}</td>
                {session.who.role === 'admin' && <td><a href={href('accounts', t.account_id)}><code>{shortId(t.account_id)}</code></a></td>}
                <td>{t.channel ?? '—'}</td>
                <td>{when(t.created_at)}</td>
                <td>{ms(t.duration_ms)}</td>
                <td>{t.price ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!loading && items.length === 0 && <p data-testid="no-tasks">No tasks match.</p>}
      {next !== null && <button type="button" class="secondary outline" onClick={more}>Older tasks</button>}
    </section>
  );
}
