import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { hasScope, type Scope } from '../../../../libs/auth/src/scopes';
import { api, ApiError, setCsrfToken, setUnauthorizedHandler } from './api';

/** `GET /api/v1/session`: who is signed in. */
export interface Who {
  kind: 'user' | 'key' | 'client';
  name: string;
  scopes: string[];
  channels?: string[];
  csrf_token?: string;
  expires_at?: string;
}

interface SessionState {
  /** undefined while the first check runs; null when nobody is signed in. */
  who: Who | null | undefined;
  signIn(username: string, password: string): Promise<void>;
  signOut(): Promise<void>;
  /** Whether the signed-in caller holds `scope` (admin holds every scope). */
  can(scope: string): boolean;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

/** Whether the caller holds `scope`, by the engine's own rule (admin holds all; some scopes imply others). */
export function holds(who: Who | null | undefined, scope: string): boolean {
  if (!who) return false;
  return hasScope({ kind: 'user', id: '', name: '', scopes: who.scopes as Scope[] }, scope as Scope);
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [who, setWho] = useState<Who | null | undefined>(undefined);
  const queries = useQueryClient();

  const ended = useCallback(() => {
    setCsrfToken(undefined);
    setWho(null);
    queries.clear();
  }, [queries]);

  useEffect(() => {
    setUnauthorizedHandler(ended);
    let live = true;
    api<Who>('/api/v1/session', { quiet401: true }).then(
      (w) => {
        if (!live) return;
        setCsrfToken(w.csrf_token);
        setWho(w);
      },
      (err: unknown) => {
        if (!live) return;
        // Not signed in (401), or the engine is down: the sign-in page says which on submit.
        if (!(err instanceof ApiError) || err.status === 401) setWho(null);
        else setWho(null);
      },
    );
    return () => {
      live = false;
      setUnauthorizedHandler(undefined);
    };
  }, [ended]);

  const value = useMemo<SessionState>(
    () => ({
      who,
      async signIn(username, password) {
        const w = await api<Who>('/api/v1/session', {
          method: 'POST',
          body: { username, password },
          quiet401: true,
        });
        setCsrfToken(w.csrf_token);
        queries.clear();
        setWho(w);
      },
      async signOut() {
        try {
          await api('/api/v1/session', { method: 'DELETE', quiet401: true });
        } finally {
          ended();
        }
      },
      can: (scope) => holds(who, scope),
    }),
    [who, queries, ended],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
