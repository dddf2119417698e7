import { useState } from 'preact/hooks';

/** The token form: the admin token (everything) or an account's token (its own data). */
export function SignIn({ error, onSubmit }: { error: string; onSubmit: (token: string) => Promise<void> }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <main>
      <article>
        <header>
          <h1>taskgate</h1>
          <p>Sign in with the admin token to see every account, or with an account's token to see its own tasks, balance, deliveries and tokens.</p>
        </header>
        <form
          data-testid="signin"
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            try {
              await onSubmit(token);
            } finally {
              setBusy(false);
            }
          }}
        >
          <label>
            Token
            <input
              name="token"
              type="password"
              autocomplete="off"
              required
              value={token}
              onInput={(e) => setToken(e.currentTarget.value)}
              aria-invalid={error !== '' ? 'true' : undefined}
            />
          </label>
          {error !== '' && <p role="alert" data-testid="signin-error">{error}</p>}
          <button type="submit" aria-busy={busy}>Sign in</button>
          <small>The token stays in this tab's session storage and is sent only in the Authorization header.</small>
        </form>
      </article>
    </main>
  );
}
