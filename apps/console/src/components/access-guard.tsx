import type { ReactNode } from 'react';
import { useSession } from '../lib/session';
import { Empty } from './states';

/**
 * A page that needs `scope`: its content for those who hold it, else what is missing (the
 * page's requests are not made; the API would refuse them anyway).
 */
export function NeedsScope({
  scope,
  title,
  children,
}: {
  scope: string;
  title: string;
  children: ReactNode;
}) {
  const { can } = useSession();
  if (can(scope)) return <>{children}</>;
  return (
    <section className="access-page">
      <h1>{title}</h1>
      <Empty>
        This page needs the <code>{scope}</code> scope, which you do not hold. Ask an administrator.
      </Empty>
    </section>
  );
}
