import { useApp, useLiveStatus } from '../lib/context';
import type { Route } from '../lib/router';

const LIVE_TEXT = { live: 'live', connecting: 'connecting…', down: 'offline' } as const;

export function Nav({ route, onSignOut }: { route: Route; onSignOut: () => void }) {
  const { session } = useApp();
  const status = useLiveStatus();
  const admin = session.who.role === 'admin';
  const links: Array<[string, string]> = [
    ['tasks', 'Tasks'],
    ['charts', 'Charts'],
    ['services', 'Services'],
    ['playground', 'Playground'],
    admin ? ['accounts', 'Accounts'] : ['account', 'My account'],
  ];
  const here = route.parts[0] ?? 'tasks';
  return (
    <header>
      <nav>
        <ul>
          <li><strong>taskgate</strong></li>
          {links.map(([to, label]) => (
            <li key={to}>
              <a href={`#/${to}`} aria-current={here === to ? 'page' : undefined} data-nav={to}>{label}</a>
            </li>
          ))}
        </ul>
        <ul>
          <li>
            <small data-testid="live-status" data-status={status} class={`live live-${status}`}>● {LIVE_TEXT[status]}</small>
          </li>
          <li>
            <small data-testid="whoami">{session.who.role === 'admin' ? 'admin' : `account ${session.who.account.name}`}</small>
          </li>
          <li><button type="button" class="secondary outline" data-testid="signout" onClick={onSignOut}>Sign out</button></li>
        </ul>
      </nav>
    </header>
  );
}
