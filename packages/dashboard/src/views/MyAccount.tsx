/** An account's own page: its balance, its tokens (never a secret), its latest webhook deliveries and its ledger. */
import { useApp, useLoad } from '../lib/context';
import { num, when } from '../lib/format';
import { href } from '../lib/router';
import type { Delivery, LedgerEntry, List, Token } from '../lib/types';
import { Failed } from './bits';
import { Ledger } from './TaskParts';
import { TokenTable } from './Tokens';

interface Balance {
  balance: number;
  held: number;
  used: number;
}

export function MyAccount() {
  const { session } = useApp();
  const { api } = session;
  const balance = useLoad(() => api.get<Balance>('/v1/account/balance'), [api]);
  const tokens = useLoad(() => api.get<List<Token>>('/v1/account/tokens'), [api]);
  const ledger = useLoad(() => api.get<List<LedgerEntry>>('/v1/account/ledger'), [api]);
  const deliveries = useLoad(() => api.get<List<Delivery>>('/v1/webhooks/deliveries?limit=50'), [api]);
  if (session.who.role !== 'account') return null;
  const { account, token } = session.who;
  return (
    <section data-testid="my-account">
      <hgroup>
        <h2>{account.name}</h2>
        <p><code>{account.id}</code> · created {when(account.created_at)} · signed in with token {token.name}</p>
      </hgroup>
      <Failed error={balance.error} />
      <p>
        Balance <strong data-testid="balance">{num(balance.data?.balance)}</strong> · held {num(balance.data?.held)} · used {num(balance.data?.used)}
      </p>
      <p>
        Rate limit {account.rate_limit_rps === null ? 'none' : `${account.rate_limit_rps}/s`} · max concurrency {account.max_concurrency ?? 'none'}
      </p>
      <h3>Tokens</h3>
      <Failed error={tokens.error} />
      <TokenTable tokens={tokens.data?.items ?? []} />
      <h3>Webhook deliveries</h3>
      <Failed error={deliveries.error} />
      <RecentDeliveries items={deliveries.data?.items ?? []} />
      <h3>Ledger</h3>
      <Failed error={ledger.error} />
      <Ledger entries={ledger.data?.items ?? []} />
    </section>
  );
}

/** The account's latest deliveries, newest first; each task's page has their attempts and a Redeliver button. */
function RecentDeliveries({ items }: { items: Delivery[] }) {
  if (items.length === 0) return <p>No webhook deliveries yet.</p>;
  return (
    <table data-testid="account-deliveries">
      <thead><tr><th>Task</th><th>Event</th><th>State</th><th>Attempts</th><th>Last status</th><th>Created</th></tr></thead>
      <tbody>
        {items.map((d) => (
          <tr key={d.id} data-delivery-id={d.id}>
            <td><a href={href('tasks', d.task_id)}><code>{d.task_id}</code></a></td>
            <td>{d.event}</td><td>{d.state}</td><td>{d.attempts}</td><td>{d.last_status ?? '—'}</td><td>{when(d.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
