/**
 * Who may do what: the declared scopes, the roles of people and the scopes each role holds,
 * and the caller as the API sees it (`Principal`). Every route declares the one scope it
 * needs; `hasScope` and `mayUseChannel` are the only checks.
 */

/** The scopes, in the order the docs list them. */
export const SCOPES = [
  'channels:read',
  'channels:operate',
  'channels:write',
  'messages:read',
  'phi:read',
  'messages:replay',
  'audit:read',
  'metrics:read',
  'reconciliations:read',
  'reconciliations:run',
  'admin',
] as const;

/** The declared scopes (each route needs one of these). */
export type FixedScope = (typeof SCOPES)[number];

/**
 * `ingest:<channel>`: may send messages to that channel's HTTP source (with `api_keys: true`
 * in its settings). Given to API keys of the systems that send to Sinew over HTTP.
 */
export type IngestScope = `ingest:${string}`;

export type Scope = FixedScope | IngestScope;

const INGEST_SCOPE = /^ingest:[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** The scope that lets a key send to a channel's HTTP source. */
export function ingestScope(channelId: string): IngestScope {
  return `ingest:${channelId}`;
}

/** One line per scope, for the docs, `sinew keys create --help` and the OpenAPI document. */
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
  'reconciliations:read':
    'list reconciliations, their runs, discrepancies (values only with phi:read) and sync-error flags',
  'reconciliations:run':
    'start reconciliation runs and acknowledge sync-error flags; implies reconciliations:read',
  admin: 'everything, including users, API keys and OAuth clients',
};

export const ROLES = ['admin', 'engineer', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The scopes of each role. Decisions: pausing and resuming a channel is `channels:operate`,
 * which operators hold, while changing what a channel does (`channels:write`: deploy,
 * rollback) stays with engineers; only `admin` and `engineer` read message content
 * (`phi:read`); a viewer sees metadata and statistics. A user may be given more scopes
 * (`extraScopes`) and restricted to some channels.
 */
export const ROLE_SCOPES: Record<Role, readonly Scope[]> = {
  admin: SCOPES,
  engineer: [
    'channels:read',
    'channels:operate',
    'channels:write',
    'messages:read',
    'phi:read',
    'messages:replay',
    'reconciliations:read',
    'reconciliations:run',
  ],
  operator: [
    'channels:read',
    'channels:operate',
    'messages:read',
    'messages:replay',
    'reconciliations:read',
    'reconciliations:run',
  ],
  viewer: ['channels:read', 'messages:read', 'reconciliations:read'],
};

/** Scopes that another one includes: `admin` includes every scope. */
const IMPLIED_BY: Partial<Record<Scope, readonly Scope[]>> = {
  'channels:operate': ['channels:write'],
  'reconciliations:read': ['reconciliations:run'],
};

/** The caller of the API: a person (after login), an API key, or an OAuth2 client (by its access token). */
export interface Principal {
  kind: 'user' | 'key' | 'client';
  /** The user's id, the key's id or the client's id. */
  id: string;
  /** The username, the key's name or the client's name (never a secret). */
  name: string;
  scopes: readonly Scope[];
  /** The channels the caller may use; undefined: every channel. */
  channels?: readonly string[];
  /** An API key's identifying prefix (the 8 characters after `snw_`), or a client's id. */
  via?: string;
}

export function isScope(value: unknown): value is Scope {
  return (
    typeof value === 'string' && ((SCOPES as readonly string[]).includes(value) || INGEST_SCOPE.test(value))
  );
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether the caller holds `scope`: directly, through `admin`, or through a scope that implies it. */
export function hasScope(p: Principal, scope: Scope): boolean {
  if (p.scopes.includes('admin') || p.scopes.includes(scope)) return true;
  return (IMPLIED_BY[scope] ?? []).some((s) => p.scopes.includes(s));
}

/** Whether the caller may act on the channel (an unrestricted caller may act on every channel). */
export function mayUseChannel(p: Principal, channelId: string): boolean {
  return p.channels === undefined || p.channels.includes(channelId);
}

/** The role's scopes and the extra ones, each once, in the declared order. */
export function scopesOf(role: Role, extra: readonly Scope[] = []): Scope[] {
  const held = new Set<Scope>([...ROLE_SCOPES[role], ...extra]);
  return [...SCOPES.filter((s) => held.has(s)), ...extra.filter((s) => INGEST_SCOPE.test(s))];
}

/**
 * Scopes from a comma-separated list (`channels:read,messages:read`): throws naming the
 * unknown ones.
 */
export function parseScopes(text: string): Scope[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => !isScope(n));
  if (unknown.length > 0) {
    throw new Error(`unknown scope ${unknown.join(', ')} (known: ${SCOPES.join(', ')}, ingest:<channel>)`);
  }
  return [...new Set(names as Scope[])];
}
