import { useEffect, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Navigate, useLocation } from 'react-router';
import { api, ApiError, errorMessage } from '../lib/api';
import { useSession } from '../lib/session';

interface Providers {
  methods: Array<{ type: 'password' | 'oidc'; name: string; url: string }>;
}

/** Username and password, or single sign-on when the engine has an identity provider. */
export default function SignIn() {
  const { who, signIn } = useSession();
  const location = useLocation();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const providers = useQuery({
    queryKey: ['session', 'providers'],
    queryFn: () => api<Providers>('/api/v1/session/providers'),
    retry: false,
  });
  useEffect(() => {
    document.title = 'Sign in · Sinew';
  }, []);
  const ssoError = new URLSearchParams(location.search).get('error');

  if (who) {
    const from = (location.state as { from?: string } | null)?.from;
    return <Navigate to={from && from !== '/sign-in' ? from : '/'} replace />;
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signIn(username, password);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError('Wrong username or password.');
      else if (err instanceof ApiError && err.status === 429)
        setError(
          `Too many failed sign-ins: this account is locked for now${err.retryAfterS ? ` (try again in ${err.retryAfterS} s)` : ''}. An administrator can reset the password.`,
        );
      else setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  const oidc = providers.data?.methods.find((m) => m.type === 'oidc');
  return (
    <main id="main" className="sign-in">
      <h1>Sinew</h1>
      <form onSubmit={(e) => void submit(e)} aria-describedby={error ? 'sign-in-error' : undefined}>
        <h2>Sign in</h2>
        <label htmlFor="username">Username</label>
        <input
          id="username"
          name="username"
          autoComplete="username"
          required
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {error ? (
          <p id="sign-in-error" className="error" role="alert">
            {error}
          </p>
        ) : null}
        {ssoError ? (
          <p className="error" role="alert">
            Single sign-on failed: {ssoError}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          Sign in
        </button>
        {oidc ? (
          <a className="button" href={oidc.url}>
            Sign in with {oidc.name}
          </a>
        ) : null}
      </form>
    </main>
  );
}
