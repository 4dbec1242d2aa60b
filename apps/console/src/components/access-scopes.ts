/**
 * The engine's scopes and roles as the console shows them: the names and descriptions come from
 * the engine's own declaration (a module without dependencies, bundled into the console as is).
 * The engine decides.
 */
import {
  ingestScope,
  ROLES,
  SCOPE_DESCRIPTIONS,
  SCOPES,
  type FixedScope,
  type Role,
} from '../../../../libs/auth/src/scopes';

export { ingestScope, ROLES, SCOPE_DESCRIPTIONS, SCOPES };
export type { FixedScope, Role };

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  admin: 'every scope, including users, keys, clients and the audit log',
  engineer: 'channels (read, operate, deploy), messages with their content, replay',
  operator: 'channels (read, pause and resume), message metadata, replay',
  viewer: 'channels and message metadata, read only',
};

/** What a scope allows, for a person choosing it. */
export function describeScope(scope: string): string {
  if (scope.startsWith('ingest:')) return `send messages to the HTTP source of channel ${scope.slice(7)}`;
  return (SCOPE_DESCRIPTIONS as Record<string, string | undefined>)[scope] ?? scope;
}

/**
 * The scopes chosen, in the declared order and then the ingest scopes by channel; each once,
 * and without the ingest scopes of channels that are not offered any more.
 */
export function orderedScopes(chosen: Iterable<string>, channels: readonly string[] = []): string[] {
  const set = new Set(chosen);
  const fixed = SCOPES.filter((s) => set.has(s));
  const ingest = channels.map(ingestScope).filter((s) => set.has(s));
  return [...fixed, ...ingest];
}
