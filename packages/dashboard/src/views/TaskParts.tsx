/** The task page's output previews, webhook deliveries (with redeliver) and ledger entries. */
import { useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { useApp } from '../lib/context';
import { bytes, ms, when } from '../lib/format';
import type { LedgerEntry, OutputFile, TaskDetail } from '../lib/types';
import { JsonBlock } from './bits';

function Preview({ file }: { file: OutputFile }) {
  const size = [file.width && file.height ? `${file.width}×${file.height}` : '', file.duration_sec ? `${file.duration_sec} s` : '', bytes(file.bytes)]
    .filter((s) => s !== '')
    .join(' · ');
  return (
    <figure data-testid={`file-${file.kind}`}>
      {file.kind === 'image' && <img src={file.url} alt={`output ${file.id}`} loading="lazy" />}
      {file.kind === 'audio' && <audio controls preload="metadata" src={file.url} />}
      {file.kind === 'video' && <video controls preload="metadata" src={file.url} />}
      <figcaption>
        <a href={file.url} target="_blank" rel="noopener noreferrer">{file.content_type}</a> · {size}
      </figcaption>
    </figure>
  );
}

export function Output({ task }: { task: TaskDetail }) {
  if (!task.output) return <p>{task.finished_at ? 'No output.' : 'Not finished yet.'}</p>;
  return (
    <>
      <div class="files">
        {task.output.files.map((f) => <Preview key={f.id} file={f} />)}
      </div>
      {task.output.seed !== null && <p>Seed: {task.output.seed}</p>}
      {task.output.data !== null && <JsonBlock value={task.output.data} />}
    </>
  );
}

export function Deliveries({ task, onChanged }: { task: TaskDetail; onChanged: () => void }) {
  const { session } = useApp();
  const [busy, setBusy] = useState('');
  const [message, setMessage] = useState('');
  if (task.deliveries.length === 0) return <p>{task.callback_url ? 'No delivery yet.' : 'This task has no callback URL.'}</p>;
  const redeliver = async (delivery: string) => {
    setBusy(delivery);
    setMessage('');
    try {
      await session.api.post(`${session.base}/tasks/${encodeURIComponent(task.id)}/deliveries/${encodeURIComponent(delivery)}/redeliver`);
      setMessage('Queued again.');
      onChanged();
    } catch (err) {
      setMessage(errorText(err));
    } finally {
      setBusy('');
    }
  };
  return (
    <>
      {message !== '' && <p role="status" data-testid="redeliver-status">{message}</p>}
      {task.deliveries.map((d) => (
        <details key={d.id} open data-testid="delivery" data-delivery-id={d.id} data-state={d.state}>
          <summary>
            <code>{d.id}</code> · {d.event} · {d.state} · {d.attempts} attempt{d.attempts === 1 ? '' : 's'}
          </summary>
          <p>
            {d.url} · last status {d.last_status ?? '—'}{d.last_error ? ` · ${d.last_error}` : ''}
            {d.next_attempt_at && ` · next attempt ${when(d.next_attempt_at)}`}
          </p>
          <table>
            <thead><tr><th>#</th><th>At</th><th>Status</th><th>Latency</th><th>Error</th></tr></thead>
            <tbody>
              {d.log.map((a) => (
                <tr key={a.n} data-testid="attempt"><td>{a.n}</td><td>{when(a.at)}</td><td>{a.status_code ?? '—'}</td><td>{ms(a.latency_ms)}</td><td>{a.error ?? ''}</td></tr>
              ))}
            </tbody>
          </table>
          <button type="button" class="secondary" data-testid="redeliver" aria-busy={busy === d.id} disabled={busy !== ''} onClick={() => redeliver(d.id)}>
            Redeliver
          </button>
        </details>
      ))}
    </>
  );
}

export function Ledger({ entries }: { entries: LedgerEntry[] }) {
  if (entries.length === 0) return <p>No ledger entries.</p>;
  return (
    <table>
      <thead><tr><th>Seq</th><th>Kind</th><th>Amount</th><th>Reason</th><th>At</th></tr></thead>
      <tbody>
        {entries.map((e) => (
          <tr key={e.seq}><td>{e.seq}</td><td>{e.kind}</td><td>{e.amount}</td><td>{e.reason ?? ''}</td><td>{when(e.at)}</td></tr>
        ))}
      </tbody>
    </table>
  );
}
