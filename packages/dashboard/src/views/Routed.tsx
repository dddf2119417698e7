import { useApp } from '../lib/context';
import type { Route } from '../lib/router';
import { AccountPage } from './AccountPage';
import { Accounts } from './Accounts';
import { Charts } from './Charts';
import { MyAccount } from './MyAccount';
import { Playground } from './Playground';
import { Services } from './Services';
import { TaskList } from './TaskList';
import { TaskView } from './TaskView';

export function Routed({ route }: { route: Route }) {
  const { session } = useApp();
  const admin = session.who.role === 'admin';
  const [first = 'tasks', second] = route.parts;
  switch (first) {
    case 'tasks':
      return second ? <TaskView key={second} id={second} /> : <TaskList query={route.query} />;
    case 'charts':
      return <Charts />;
    case 'services':
      return <Services />;
    case 'playground':
      return <Playground />;
    case 'accounts':
      if (!admin) return <NotHere />;
      return second ? <AccountPage key={second} id={second} /> : <Accounts />;
    case 'account':
      return admin ? <NotHere /> : <MyAccount />;
    default:
      return <NotHere />;
  }
}

function NotHere() {
  return (
    <article data-testid="not-found">
      <h2>Not here</h2>
      <p>There is no such page for this token. <a href="#/tasks">Tasks</a></p>
    </article>
  );
}
