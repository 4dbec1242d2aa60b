import type { ReactNode } from 'react';
import { errorMessage } from '../lib/api';

/** Shown while data loads (announced to screen readers). */
export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

/** Shown when a request failed: what went wrong, and a way to try again. */
export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <p>{errorMessage(error)}</p>
      {retry ? (
        <button type="button" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** Shown when there is nothing to show, with what would make something appear. */
export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

/** A query's three states in one place: loading, error, or its data rendered. */
export function QueryView<T>({
  query,
  children,
  what,
}: {
  query: { data: T | undefined; error: unknown; isPending: boolean; refetch: () => unknown };
  children: (data: T) => ReactNode;
  what?: string;
}) {
  if (query.isPending) return <Loading {...(what ? { what: `Loading ${what}` } : {})} />;
  if (query.error || query.data === undefined)
    return <ErrorBox error={query.error} retry={() => void query.refetch()} />;
  return <>{children(query.data)}</>;
}
