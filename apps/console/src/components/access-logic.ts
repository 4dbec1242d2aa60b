/**
 * What the access pages compute from the API's answers: a user's state, a credential's badge,
 * the example commands shown with a new secret, and the audit log's filters in the URL.
 */

/** A user as `GET /api/v1/users` lists them. */
export interface UserRow {
  id: string;
  username: string;
  role: string;
  scopes: string[];
  channels?: string[];
  state: 'active' | 'disabled';
  sso?: boolean;
  locked_until?: string;
  last_login_at?: string;
  created_at: string;
}

/** An API key as `GET /api/v1/keys` lists them. */
export interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  channels?: string[];
  state: 'active' | 'paused' | 'revoked' | 'expired';
  created_at: string;
  created_by?: string;
  expires_at?: string;
  last_used_at?: string;
  last_used_from?: string;
}

/** An OAuth2 client as `GET /api/v1/clients` lists them. */
export interface ClientRow {
  id: string;
  name: string;
  scopes: string[];
  channels?: string[];
  auth: 'client_secret' | 'private_key_jwt';
  state: 'active' | 'paused' | 'revoked';
  created_at: string;
  created_by?: string;
  last_used_at?: string;
  last_used_from?: string;
}

/** One row of `GET /api/v1/audit`. */
export interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  actor_kind: string;
  via?: string;
  action: string;
  object_ids: string[];
  filter?: Record<string, string>;
  from?: string;
  outcome: string;
  content_read: boolean;
  hash: string;
  prev_hash: string;
}

export type Tone = 'ok' | 'warn' | 'bad';

/** A user's state as a person reads it: disabled, locked (until when), or active. */
export function userState(
  u: UserRow,
  now: Date = new Date(),
): { label: string; tone: Tone; lockedUntil?: string } {
  if (u.state === 'disabled') return { label: 'disabled', tone: 'bad' };
  if (u.locked_until && new Date(u.locked_until).getTime() > now.getTime())
    return { label: 'locked until', tone: 'warn', lockedUntil: u.locked_until };
  return { label: 'active', tone: 'ok' };
}

/** A key's or client's state as a badge's tone. */
export function credentialTone(state: string): Tone {
  if (state === 'active') return 'ok';
  if (state === 'paused') return 'warn';
  return 'bad';
}

/** Which actions a key or client in this state offers. */
export function credentialActions(state: string): { pause: boolean; resume: boolean; revoke: boolean } {
  return {
    pause: state === 'active',
    resume: state === 'paused',
    revoke: state === 'active' || state === 'paused',
  };
}

/** Why a new password cannot be sent, or undefined (the engine checks its length itself). */
export function passwordMismatch(password: string, confirmation: string): string | undefined {
  if (password === '') return 'Enter a password.';
  if (password !== confirmation) return 'The two passwords differ.';
  return undefined;
}

/** A shell word in single quotes (a secret holds no quote, but a URL might). */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_:/.@=?&%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A read-only route the scopes open, to show a new key working. */
export function exampleRoute(scopes: readonly string[]): string {
  if (scopes.includes('admin') || scopes.includes('channels:read')) return '/api/v1/channels';
  if (scopes.includes('messages:read')) return '/api/v1/messages?limit=5';
  if (scopes.includes('audit:read')) return '/api/v1/audit?limit=5';
  return '/api/v1/session';
}

/** `curl` with the new key, against a route its scopes open. */
export function keyCurl(origin: string, secret: string, scopes: readonly string[]): string {
  return `curl -s -H "Authorization: Bearer ${secret}" ${shellQuote(`${origin}${exampleRoute(scopes)}`)}`;
}

/** `curl` asking for an access token with a new client's id and secret. */
export function clientCurl(origin: string, clientId: string, secret: string): string {
  return `curl -s -u ${shellQuote(`${clientId}:${secret}`)} -d grant_type=client_credentials ${shellQuote(`${origin}/oauth/token`)}`;
}

/** The audit log's filters, as the URL holds them. */
export interface AuditFilters {
  actor?: string;
  action?: string;
  /** ISO 8601 instants. */
  since?: string;
  until?: string;
}

const FILTER_NAMES = ['actor', 'action', 'since', 'until'] as const;

/** The filters in a URL's query (blank and unparseable times left out). */
export function auditFiltersFrom(params: URLSearchParams): AuditFilters {
  const out: AuditFilters = {};
  for (const name of FILTER_NAMES) {
    const v = params.get(name)?.trim();
    if (!v) continue;
    if ((name === 'since' || name === 'until') && Number.isNaN(new Date(v).getTime())) continue;
    out[name] = v;
  }
  return out;
}

/** The filters as a URL's query, in a fixed order. */
export function auditFiltersQuery(f: AuditFilters): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FILTER_NAMES) {
    const v = f[name]?.trim();
    if (v) out[name] = v;
  }
  return out;
}

/** An ISO instant as a `datetime-local` input's value, in the browser's time zone. */
export function isoToLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A `datetime-local` value (the browser's time zone) as an ISO instant; undefined when blank or bad. */
export function localInputToIso(value: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** An HTTP status's tone: 2xx and 3xx fine, 4xx refused, 5xx failed. */
export function outcomeTone(outcome: string): Tone {
  const n = Number(outcome);
  if (!Number.isInteger(n)) return 'warn';
  if (n < 400) return 'ok';
  if (n < 500) return 'warn';
  return 'bad';
}

/** A few words for an HTTP status, so colour is never the only signal. */
export function outcomeLabel(outcome: string): string {
  const n = Number(outcome);
  if (!Number.isInteger(n)) return outcome;
  if (n < 400) return `${outcome} ok`;
  if (n === 401) return `${outcome} not signed in`;
  if (n === 403) return `${outcome} refused`;
  if (n === 404) return `${outcome} not found`;
  if (n === 429) return `${outcome} too many`;
  if (n < 500) return `${outcome} rejected`;
  return `${outcome} failed`;
}
