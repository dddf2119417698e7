/** The operator's accounts: balances, limits, and a form for a new one. */
import { useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { useApp, useLoad } from '../lib/context';
import { optionalNumber, text } from '../lib/forms';
import { num, when } from '../lib/format';
import { go, href } from '../lib/router';
import type { Account, List } from '../lib/types';
import { Failed } from './bits';

export function Accounts() {
  const { session } = useApp();
  const accounts = useLoad(() => session.api.get<List<Account>>('/admin/accounts'), [session]);
  const [error, setError] = useState('');

  const create = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setError('');
    try {
      const body: Record<string, unknown> = { name: text(form.get('name')) };
      const rps = optionalNumber(form.get('rate_limit_rps'));
      const cap = optionalNumber(form.get('max_concurrency'));
      if (rps !== null) body.rate_limit_rps = rps;
      if (cap !== null) body.max_concurrency = cap;
      const account = await session.api.post<Account>('/admin/accounts', body);
      go(href('accounts', account.id));
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section data-testid="accounts">
      <h2>Accounts</h2>
      <Failed error={accounts.error} />
      <div class="scroll">
        <table aria-busy={accounts.loading}>
          <thead>
            <tr><th>Name</th><th>Id</th><th>Balance</th><th>Held</th><th>Used</th><th>Rate limit</th><th>Max concurrency</th><th>Created</th><th>State</th></tr>
          </thead>
          <tbody>
            {(accounts.data?.items ?? []).map((a) => (
              <tr key={a.id} data-account-id={a.id}>
                <td><a href={href('accounts', a.id)}>{a.name}</a></td>
                <td><code>{a.id}</code></td>
                <td>{num(a.balance)}</td><td>{num(a.held)}</td><td>{num(a.used)}</td>
                <td>{a.rate_limit_rps === null ? 'none' : `${a.rate_limit_rps}/s`}</td>
                <td>{a.max_concurrency ?? 'none'}</td>
                <td>{when(a.created_at)}</td>
                <td>{a.disabled ? 'disabled' : 'active'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form onSubmit={create} data-testid="new-account">
        <h3>New account</h3>
        <div class="row">
          <label>Name<input name="name" required maxLength={200} /></label>
          <label>Rate limit (requests/s)<input name="rate_limit_rps" type="number" min="1" step="1" placeholder="none" /></label>
          <label>Max concurrency<input name="max_concurrency" type="number" min="1" step="1" placeholder="none" /></label>
        </div>
        {error !== '' && <p role="alert">{error}</p>}
        <button type="submit">Create account</button>
      </form>
    </section>
  );
}
