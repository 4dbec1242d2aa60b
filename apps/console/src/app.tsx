import { lazy, Suspense, useEffect, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { Layout } from './components/layout';
import { Loading } from './components/states';
import { useSession } from './lib/session';
import SignIn from './pages/sign-in';
import Dashboard from './pages/dashboard';

// The dashboard and sign-in are in the first load; every other page is fetched when opened.
const Messages = lazy(() => import('./pages/messages'));
const Message = lazy(() => import('./pages/message'));
const DeadLetters = lazy(() => import('./pages/dead-letters'));
const Channels = lazy(() => import('./pages/channels'));
const Channel = lazy(() => import('./pages/channel'));
const Users = lazy(() => import('./pages/users'));
const Keys = lazy(() => import('./pages/keys'));
const Clients = lazy(() => import('./pages/clients'));
const Audit = lazy(() => import('./pages/audit'));

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
                  <Route path="audit" element={<Audit />} />
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
