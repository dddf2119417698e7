/** Submit a task to a service through the task API, then follow it on its page. */
import { useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { useApp, useLoad } from '../lib/context';
import { href, go, useRoute } from '../lib/router';
import type { List, Service } from '../lib/types';
import { Failed } from './bits';

export function Playground() {
  const { session } = useApp();
  const route = useRoute();
  const services = useLoad(() => session.api.get<List<Service>>(`${session.base}/services`), [session]);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  if (session.who.role === 'admin') {
    return (
      <section data-testid="playground">
        <h2>Playground</h2>
        <p>Tasks belong to an account: sign in with one of its tokens to submit from here. The admin token reads every account's tasks but creates none.</p>
      </section>
    );
  }

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const service = String(form.get('service') ?? '');
    setError('');
    setBusy(true);
    try {
      const extraText = String(form.get('extra') ?? '').trim();
      const extra: unknown = extraText === '' ? {} : JSON.parse(extraText);
      if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) throw new Error('Extra fields must be a JSON object');
      const body = { ...(extra as Record<string, unknown>), prompt: String(form.get('prompt') ?? ''), async: true };
      const path = `/v1/${service.split('/').map(encodeURIComponent).join('/')}`;
      const created = await session.api.post<{ task_id: string }>(path, body);
      go(href('tasks', created.task_id));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const names = (services.data?.items ?? []).map((s) => s.name);
  const chosen = route.query.get('service') ?? '';
  return (
    <section data-testid="playground">
      <h2>Playground</h2>
      <Failed error={services.error} />
      <form onSubmit={submit}>
        <label>
          Service
          <select name="service" required key={`${chosen}:${names.length}`} defaultValue={names.includes(chosen) ? chosen : names[0]}>
            {names.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
        <label>Prompt<textarea name="prompt" required rows={3} placeholder="a lighthouse at dusk, oil painting" /></label>
        <label>
          Extra fields (JSON, optional)
          <textarea name="extra" rows={2} placeholder='{"width": 512, "height": 512}' />
        </label>
        {error !== '' && <p role="alert">{error}</p>}
        <button type="submit" aria-busy={busy} disabled={busy || names.length === 0}>Submit</button>
      </form>
    </section>
  );
}
