/** One account (operator view): limits, balance and top-up, tokens, disable. */
import { useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { useApp, useLoad } from '../lib/context';
import { filtersToQuery, NO_FILTERS } from '../lib/filters';
import { optionalNumber, text } from '../lib/forms';
import { num, when } from '../lib/format';
import type { Account, List, Token } from '../lib/types';
import { Failed } from './bits';
import { NewToken, TokenTable } from './Tokens';

export function AccountPage({ id }: { id: string }) {
  const { session } = useApp();
  const { api } = session;
  const path = `/admin/accounts/${encodeURIComponent(id)}`;
  const account = useLoad(() => api.get<Account>(path), [api, path]);
  const tokens = useLoad(() => api.get<List<Token>>(`${path}/tokens`), [api, path]);
  const [message, setMessage] = useState('');

  const act = async (fn: () => Promise<unknown>, done: string) => {
    setMessage('');
    try {
      await fn();
      setMessage(done);
      account.reload();
      tokens.reload();
    } catch (err) {
      setMessage(errorText(err));
    }
  };
  const formOf = (e: SubmitEvent) => {
    e.preventDefault();
    return new FormData(e.currentTarget as HTMLFormElement);
  };

  const a = account.data;
  if (!a) return account.error ? <Failed error={account.error} /> : <p aria-busy="true">Loading account…</p>;
  return (
    <section data-testid="account-page">
      <p><a href="#/accounts">← Accounts</a></p>
      <hgroup>
        <h2>{a.name}</h2>
        <p><code>{a.id}</code> · created {when(a.created_at)} · {a.disabled ? 'disabled' : 'active'}</p>
      </hgroup>
      {message !== '' && <p role="status">{message}</p>}
      <p>
        Balance <strong data-testid="balance">{num(a.balance)}</strong> · held {num(a.held)} · used {num(a.used)} ·{' '}
        <a href={`#/tasks?${filtersToQuery({ ...NO_FILTERS, account: a.id })}`}>its tasks</a>
      </p>
      <div class="cols">
        <form
          data-testid="topup"
          onSubmit={(e) => {
            const f = formOf(e);
            void act(() => api.post(`${path}/topup`, { amount: Number(f.get('amount')), reason: text(f.get('reason')) }), 'Credits added.');
          }}
        >
          <h3>Top up</h3>
          <label>Credits<input name="amount" type="number" min="1" step="1" required /></label>
          <label>Reason<input name="reason" required maxLength={500} /></label>
          <button type="submit">Add credits</button>
        </form>
        <form
          data-testid="limits"
          onSubmit={(e) => {
            const f = formOf(e);
            void act(
              () => api.patch(path, { rate_limit_rps: optionalNumber(f.get('rate_limit_rps')), max_concurrency: optionalNumber(f.get('max_concurrency')) }),
              'Limits saved.',
            );
          }}
        >
          <h3>Limits</h3>
          <label>Rate limit (requests/s)<input name="rate_limit_rps" type="number" min="1" step="1" placeholder="none" defaultValue={String(a.rate_limit_rps ?? '')} /></label>
          <label>Max concurrency<input name="max_concurrency" type="number" min="1" step="1" placeholder="none" defaultValue={String(a.max_concurrency ?? '')} /></label>
          <button type="submit">Save limits</button>
        </form>
      </div>
      <button
        type="button"
        class={a.disabled ? '' : 'secondary'}
        data-testid="toggle-account"
        onClick={() => void act(() => api.patch(path, { disabled: !a.disabled }), a.disabled ? 'Account enabled.' : 'Account disabled.')}
      >
        {a.disabled ? 'Enable account' : 'Disable account'}
      </button>
      <h3>Tokens</h3>
      <Failed error={tokens.error} />
      <TokenTable
        tokens={tokens.data?.items ?? []}
        onDisable={(t) => void act(() => api.post(`/admin/tokens/${encodeURIComponent(t.id)}/disable`), `Token ${t.name} disabled.`)}
      />
      <NewToken accountId={a.id} onCreated={tokens.reload} />
    </section>
  );
}
