/** One task: what was asked, what came back, how it got there, and what it cost. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { useApp, useLive } from '../lib/context';
import { ms, num, when } from '../lib/format';
import { href } from '../lib/router';
import type { TaskDetail } from '../lib/types';
import { JsonBlock, Section, StateBadge } from './bits';
import { Deliveries, Ledger, Output } from './TaskParts';

export function TaskView({ id }: { id: string }) {
  const { session } = useApp();
  const { api, base } = session;
  const [task, setTask] = useState<TaskDetail | null>(null);
  const [error, setError] = useState('');
  const [reloads, setReloads] = useState(0);
  const pending = useRef<number | null>(null);

  useEffect(() => {
    let current = true;
    api.get<TaskDetail>(`${base}/tasks/${encodeURIComponent(id)}`).then(
      (t) => {
        if (!current) return;
        setTask(t);
        setError('');
      },
      (err: unknown) => current && setError(errorText(err)),
    );
    return () => {
      current = false;
    };
  }, [api, base, id, reloads]);

  // A change of this task reloads its page (at most every 250 ms: progress events come in bursts).
  const soon = () => {
    if (pending.current !== null) return;
    pending.current = window.setTimeout(() => {
      pending.current = null;
      setReloads((n) => n + 1);
    }, 250);
  };
  useEffect(() => () => {
    if (pending.current !== null) clearTimeout(pending.current);
  }, []);
  useLive({ task: (t) => t.id === id && soon(), resync: soon });

  if (!task) {
    return error !== '' ? <p role="alert" data-testid="task-error">{error}</p> : <p aria-busy="true">Loading task…</p>;
  }
  return (
    <article data-testid="task-page" data-state={task.state}>
      <header>
        <p><a href="#/tasks">← Tasks</a></p>
        <h2><code>{task.id}</code></h2>
        <p>
          <StateBadge state={task.state} /> {task.service} · {task.dialect}
          {task.progress !== null && task.state === 'running' && <progress value={task.progress} max={1} />}
        </p>
      </header>
      {error !== '' && <p role="alert">{error}</p>}
      <table>
        <tbody>
          {session.who.role === 'admin' && <tr><th>Account</th><td><a href={href('accounts', task.account_id)}><code>{task.account_id}</code></a></td></tr>}
          <tr><th>Created</th><td>{when(task.created_at)}</td></tr>
          <tr><th>Started</th><td>{when(task.started_at)}</td></tr>
          <tr><th>Finished</th><td>{when(task.finished_at)}</td></tr>
          <tr><th>Duration</th><td>{ms(task.duration_ms)}</td></tr>
          <tr><th>Channel</th><td>{task.channel ?? '—'}</td></tr>
          <tr><th>Attempts</th><td>{task.attempts}</td></tr>
          <tr><th>Price</th><td>{num(task.price)}</td></tr>
          <tr><th>Trace</th><td><code>{task.trace_id}</code></td></tr>
          <tr><th>Callback</th><td>{task.callback_url ?? '—'}</td></tr>
        </tbody>
      </table>
      {task.error && <p role="alert" data-testid="task-failure"><strong>{task.error.code}</strong>: {task.error.message}</p>}
      <div class="cols">
        <Section title="Request" testid="request"><JsonBlock value={task.request} /></Section>
        <Section title="Response" testid="output"><Output task={task} /></Section>
      </div>
      <details data-testid="response">
        <summary>Response as the {task.dialect} client sees it</summary>
        <JsonBlock value={task.response} />
      </details>
      <Section title="Timeline" testid="timeline">
        <table>
          <thead><tr><th>At</th><th>Event</th><th>Detail</th></tr></thead>
          <tbody>
            {task.timeline.map((e, i) => (
              <tr key={i}><td>{when(e.at)}</td><td>{e.event}</td><td>{e.detail ?? ''}</td></tr>
            ))}
          </tbody>
        </table>
      </Section>
      {task.upstream && (
        <Section title="Upstream" testid="upstream">
          <table>
            <tbody>
              <tr><th>Channel</th><td>{task.upstream.channel}</td></tr>
              <tr><th>Submitted</th><td>{when(task.upstream.submitted_at)}</td></tr>
              <tr><th>Polls</th><td>{task.upstream.polls}</td></tr>
              <tr><th>Last status</th><td>{task.upstream.last_status ?? '—'}</td></tr>
              <tr><th>Last progress</th><td>{num(task.upstream.last_progress)}</td></tr>
              <tr><th>Next poll</th><td>{when(task.upstream.next_poll_at)}</td></tr>
            </tbody>
          </table>
        </Section>
      )}
      <Section title="Webhook deliveries" testid="deliveries">
        <Deliveries task={task} onChanged={() => setReloads((n) => n + 1)} />
      </Section>
      <Section title="Ledger" testid="ledger"><Ledger entries={task.ledger} /></Section>
      {task.logs.length > 0 && (
        <Section title="Log" testid="logs">
          <table>
            <tbody>
              {task.logs.map((l, i) => <tr key={i}><td>{when(l.at)}</td><td>{l.level}</td><td>{l.message}</td></tr>)}
            </tbody>
          </table>
        </Section>
      )}
    </article>
  );
}
