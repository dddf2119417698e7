/** The shell: sign-in until a token is accepted, then the nav and the routed view. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { errorText } from './lib/api';
import { Ctx, type AppContext } from './lib/context';
import { LiveFeed } from './lib/live';
import { useRoute } from './lib/router';
import { forgetToken, signIn, storedToken, type Session } from './lib/session';
import { Nav } from './views/Nav';
import { SignIn } from './views/SignIn';
import { Routed } from './views/Routed';

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(storedToken() !== null);
  const [error, setError] = useState('');
  const route = useRoute();

  useEffect(() => {
    const token = storedToken();
    if (token === null) return;
    signIn(token).then(setSession, (err: unknown) => {
      forgetToken();
      setError(errorText(err));
    }).finally(() => setRestoring(false));
  }, []);

  const ctx = useMemo<AppContext | null>(() => {
    if (!session) return null;
    return { session, live: new LiveFeed(session.api, `${session.base}/events`) };
  }, [session]);

  useEffect(() => {
    if (!ctx) return;
    ctx.live.start();
    return () => ctx.live.stop();
  }, [ctx]);

  const signOut = () => {
    forgetToken();
    setSession(null);
    location.hash = '#/';
  };

  if (restoring) return <main><p aria-busy="true">Signing in…</p></main>;
  if (!ctx) {
    return (
      <SignIn
        error={error}
        onSubmit={async (token) => {
          setError('');
          try {
            setSession(await signIn(token));
            if (location.hash === '' || location.hash === '#/') location.hash = '#/tasks';
          } catch (err) {
            setError(errorText(err));
          }
        }}
      />
    );
  }
  return (
    <Ctx.Provider value={ctx}>
      <Nav route={route} onSignOut={signOut} />
      <main>
        <Routed route={route} />
      </main>
    </Ctx.Provider>
  );
}
