import { NavLink, Outlet } from 'react-router';
import { useSession } from '../lib/session';

/** The pages a signed-in person sees, each shown only to those whose scopes open it. */
const NAV: ReadonlyArray<{ to: string; label: string; scope: string; end?: boolean }> = [
  { to: '/', label: 'Dashboard', scope: 'channels:read', end: true },
  { to: '/messages', label: 'Messages', scope: 'messages:read' },
  { to: '/dead-letters', label: 'Dead letters', scope: 'messages:read' },
  { to: '/channels', label: 'Channels', scope: 'channels:read' },
  { to: '/reconciliations', label: 'Reconciliation', scope: 'reconciliations:read' },
  { to: '/access/users', label: 'Users', scope: 'admin' },
  { to: '/access/keys', label: 'API keys', scope: 'admin' },
  { to: '/access/clients', label: 'OAuth clients', scope: 'admin' },
  { to: '/access/apps', label: 'Apps', scope: 'admin' },
  { to: '/audit', label: 'Audit log', scope: 'audit:read' },
];

export function Layout() {
  const { who, can, signOut } = useSession();
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Sinew</span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => can(n.scope)).map((n) => (
              <li key={n.to}>
                <NavLink to={n.to} end={n.end ?? false}>
                  {n.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span title={who?.scopes.join(', ')}>{who?.name}</span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
