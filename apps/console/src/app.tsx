import { lazy, Suspense, useEffect, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { Layout } from './components/layout';
import { Loading } from './components/states';
import { useSession } from './lib/session';
import SignIn from './pages/sign-in';
import Dashboard from './pages/dashboard';

// The dashboard and sign-in are in the first load; every other page is fetched when opened.
const pages = {
  messages: () => import('./pages/messages'),
  message: () => import('./pages/message'),
  deadLetters: () => import('./pages/dead-letters'),
  channels: () => import('./pages/channels'),
  channel: () => import('./pages/channel'),
  users: () => import('./pages/users'),
  keys: () => import('./pages/keys'),
  clients: () => import('./pages/clients'),
  apps: () => import('./pages/apps'),
  audit: () => import('./pages/audit'),
  reconciliations: () => import('./pages/reconciliations'),
  reconciliationRun: () => import('./pages/reconciliation-run'),
};
const Messages = lazy(pages.messages);
const Message = lazy(pages.message);
const DeadLetters = lazy(pages.deadLetters);
const Channels = lazy(pages.channels);
const Channel = lazy(pages.channel);
const Users = lazy(pages.users);
const Keys = lazy(pages.keys);
const Clients = lazy(pages.clients);
const Apps = lazy(pages.apps);
const Audit = lazy(pages.audit);
const Reconciliations = lazy(pages.reconciliations);
const ReconciliationRun = lazy(pages.reconciliationRun);

/**
 * The code of the page the browser opened, fetched at once, alongside the session check
 * (not after it): `/messages?q=…` opened from a link or a bookmark shows its results sooner.
 */
export function prefetchOpenedPage(path: string): void {
  const first = path.split('/')[1] ?? '';
  const deep = path.split('/').length > 2;
  const load: Record<string, (() => Promise<unknown>) | undefined> = {
    messages: deep ? pages.message : pages.messages,
    'dead-letters': pages.deadLetters,
    channels: deep ? pages.channel : pages.channels,
    access: path.startsWith('/access/keys')
      ? pages.keys
      : path.startsWith('/access/clients')
        ? pages.clients
        : path.startsWith('/access/apps')
          ? pages.apps
          : pages.users,
    audit: pages.audit,
    reconciliations: deep ? pages.reconciliationRun : pages.reconciliations,
  };
  void load[first]?.().catch(() => undefined);
}
/** Pages behind sign-in: nobody signed in goes to /sign-in and comes back after. */
function Private({ children }: { children: ReactNode }) {
  const { who } = useSession();
  const location = useLocation();
  if (who === undefined) return <Loading what="Checking your session" />;
  if (who === null)
    return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

/** Each page's <title>, so a tab and a screen reader say where one is. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Sinew`;
  }, [title]);
}

function NotFound() {
  useTitle('Not found');
  return (
    <section>
      <h1>Not found</h1>
      <p>There is no page at this address.</p>
    </section>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/sign-in" element={<SignIn />} />
        <Route
          element={
            <Private>
              <Layout />
            </Private>
          }
        >
          <Route
            path="/*"
            element={
              <Suspense fallback={<Loading />}>
                <Routes>
                  <Route index element={<Dashboard />} />
                  <Route path="messages" element={<Messages />} />
                  <Route path="messages/:id" element={<Message />} />
                  <Route path="dead-letters" element={<DeadLetters />} />
                  <Route path="channels" element={<Channels />} />
                  <Route path="channels/:id" element={<Channel />} />
                  <Route path="access/users" element={<Users />} />
                  <Route path="access/keys" element={<Keys />} />
                  <Route path="access/clients" element={<Clients />} />
                  <Route path="access/apps" element={<Apps />} />
                  <Route path="audit" element={<Audit />} />
                  <Route path="reconciliations" element={<Reconciliations />} />
                  <Route path="reconciliations/runs/:runId" element={<ReconciliationRun />} />
                  <Route path="*" element={<NotFound />} />
                </Routes>
              </Suspense>
            }
          />
        </Route>
      </Routes>
    </BrowserRouter>
  );
}
