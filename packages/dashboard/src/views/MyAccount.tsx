/** An account's own page: its balance, its tokens (never a secret) and its ledger. */
import { useApp, useLoad } from '../lib/context';
import { num, when } from '../lib/format';
import type { LedgerEntry, List, Token } from '../lib/types';
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
      <h3>Ledger</h3>
      <Failed error={ledger.error} />
      <Ledger entries={ledger.data?.items ?? []} />
    </section>
  );
}
