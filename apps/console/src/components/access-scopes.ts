/**
 * The engine's scopes and roles as the console shows them (the same names and descriptions as
 * the API's reference; the console cannot import the engine's code). The engine decides.
 */

/** The fixed scopes, in the order the API's reference lists them. */
export const SCOPES = [
  'channels:read',
  'channels:operate',
  'channels:write',
  'messages:read',
  'phi:read',
  'messages:replay',
  'audit:read',
  'metrics:read',
  'admin',
] as const;

export type FixedScope = (typeof SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Record<FixedScope, string> = {
  'channels:read': 'list channels, their state, configuration (secrets masked), history and statistics',
  'channels:operate': 'pause and resume channels (held deliveries are kept, nothing is lost)',
  'channels:write': 'lint, deploy, roll back and shadow-run channels; implies channels:operate',
  'messages:read':
    'search messages and read their metadata, deliveries, attempts and dead letters, without content',
  'phi:read': 'read message content (raw, transformed, payloads, responses): protected health information',
  'messages:replay': 'replay deliveries and reprocess messages',
  'audit:read': 'search and export the audit log',
  'metrics:read': 'read /metrics and /ready when they require a key',
  admin: 'everything, including users, API keys and OAuth clients',
};

export const ROLES = ['admin', 'engineer', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  admin: 'every scope, including users, keys, clients and the audit log',
  engineer: 'channels (read, operate, deploy), messages with their content, replay',
  operator: 'channels (read, pause and resume), message metadata, replay',
  viewer: 'channels and message metadata, read only',
};

/** The scope that lets a key send to a channel's HTTP source. */
export function ingestScope(channelId: string): string {
  return `ingest:${channelId}`;
}

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
