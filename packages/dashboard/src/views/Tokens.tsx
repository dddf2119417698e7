/**
 * An account's tokens. A new token's secret is shown once, right after its create: it lives in
 * this component's state only, so leaving the page or reloading forgets it.
 */
import { useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { useApp } from '../lib/context';
import { optionalNumber, servicePatterns, text } from '../lib/forms';
import { when } from '../lib/format';
import type { CreatedToken, Token } from '../lib/types';

export function TokenTable({ tokens, onDisable }: { tokens: Token[]; onDisable?: (t: Token) => void }) {
  return (
    <div class="scroll">
      <table data-testid="token-table">
        <thead>
          <tr><th>Name</th><th>Id</th><th>Services</th><th>Rate limit</th><th>Expires</th><th>Created</th><th>State</th>{onDisable && <th />}</tr>
        </thead>
        <tbody>
          {tokens.map((t) => (
            <tr key={t.id} data-token-id={t.id}>
              <td>{t.name}</td>
              <td><code>{t.id}</code></td>
              <td>{t.allowed_services === null ? 'all' : t.allowed_services.join(', ')}</td>
              <td>{t.rate_limit_rps === null ? 'none' : `${t.rate_limit_rps}/s`}</td>
              <td>{when(t.expires_at)}</td>
              <td>{when(t.created_at)}</td>
              <td>{t.disabled ? 'disabled' : 'active'}</td>
              {onDisable && (
                <td>{!t.disabled && <button type="button" class="secondary outline" onClick={() => onDisable(t)}>Disable</button>}</td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function NewToken({ accountId, onCreated }: { accountId: string; onCreated: () => void }) {
  const { session } = useApp();
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [error, setError] = useState('');

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const formEl = e.currentTarget as HTMLFormElement;
    const form = new FormData(formEl);
    setError('');
    try {
      const body: Record<string, unknown> = { name: text(form.get('name')) };
      const services = servicePatterns(form.get('allowed_services'));
      const rps = optionalNumber(form.get('rate_limit_rps'));
      const expires = text(form.get('expires_at'));
      if (services !== null) body.allowed_services = services;
      if (rps !== null) body.rate_limit_rps = rps;
      if (expires !== '') body.expires_at = new Date(expires).toISOString();
      setCreated(await session.api.post<CreatedToken>(`/admin/accounts/${encodeURIComponent(accountId)}/tokens`, body));
      formEl.reset();
      onCreated();
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <>
      {created && (
        <article data-testid="new-token" class="once">
          <header><strong>Token {created.name} created</strong></header>
          <p>Copy it now: it is shown this once and the gateway keeps only its hash.</p>
          <input readOnly value={created.token} data-testid="new-token-secret" onFocus={(e) => e.currentTarget.select()} />
          <footer>
            <button type="button" onClick={() => void navigator.clipboard?.writeText(created.token)}>Copy</button>{' '}
            <button type="button" class="secondary" data-testid="dismiss-token" onClick={() => setCreated(null)}>Done</button>
          </footer>
        </article>
      )}
      <form onSubmit={submit} data-testid="token-form">
        <h4>New token</h4>
        <div class="row">
          <label>Name<input name="name" required maxLength={200} /></label>
          <label>Allowed services<input name="allowed_services" placeholder="all (or e.g. midjourney/*, suno/audios)" /></label>
          <label>Rate limit (requests/s)<input name="rate_limit_rps" type="number" min="1" step="1" placeholder="none" /></label>
          <label>Expires<input name="expires_at" type="datetime-local" /></label>
        </div>
        {error !== '' && <p role="alert">{error}</p>}
        <button type="submit">Create token</button>
      </form>
    </>
  );
}
