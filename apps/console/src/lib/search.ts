/**
 * The Messages page's one search field: what a person types, turned into the API's filters.
 *
 * - a message id (a UUID) opens that message;
 * - `channel:`, `type:`, `status:`, `since:`, `until:` set those filters;
 * - `control:ABC` (or `control_id:ABC`, `msh10:ABC`) is a control id (MSH-10);
 * - any other `name:value` is a business key (`mrn:123`);
 * - the rest is free text: the API matches it against message ids, control ids and every
 *   business key's value (`q`).
 *
 * Values may be quoted (`mrn:"A 12"`). Nothing is sent to the API from here.
 */

export const MESSAGE_STATUSES = [
  'received',
  'filtered',
  'rejected',
  'errored',
  'processed',
  'delivered',
  'failed',
  'dead_lettered',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** The filters the search API takes (GET /api/v1/messages), each as its query parameter. */
export interface MessageFilters {
  q?: string;
  key?: string;
  control_id?: string;
  channel?: string;
  type?: string;
  status?: string;
  since?: string;
  until?: string;
}

export const FILTER_NAMES = [
  'q',
  'key',
  'control_id',
  'channel',
  'type',
  'status',
  'since',
  'until',
] as const;

export type ParsedSearch =
  { kind: 'message'; id: string } | { kind: 'search'; filters: MessageFilters; problems: string[] };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEY_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const CHANNEL = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const TYPE = /^[A-Za-z0-9^_]+$/;
const CONTROL_NAMES = new Set(['control', 'control_id', 'controlid', 'msh10', 'msh-10']);

/** True for a message id as the engine makes them (a UUID). */
export function isMessageId(text: string): boolean {
  return UUID.test(text.trim());
}

/** Words, with `"…"` keeping spaces together (also after `name:`). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /(?:[^\s"]+)?"[^"]*"?|[^\s"]+/g;
  for (const m of text.matchAll(re)) {
    const t = m[0].replace(/"/g, '');
    if (t !== '') out.push(t);
  }
  return out;
}

/** An instant from what a person types: a date (`2026-12-01`) or a date-time, as ISO 8601. */
export function instantOf(text: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return undefined;
  const d = new Date(text.length === 10 ? `${text}T00:00:00` : text.replace(' ', 'T'));
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** What the text asks for. */
export function parseSearch(text: string): ParsedSearch {
  const trimmed = text.trim();
  if (isMessageId(trimmed)) return { kind: 'message', id: trimmed.toLowerCase() };
  const filters: MessageFilters = {};
  const problems: string[] = [];
  const free: string[] = [];
  for (const token of tokenize(trimmed)) {
    const at = token.indexOf(':');
    const name = at > 0 ? token.slice(0, at) : '';
    const value = at > 0 ? token.slice(at + 1) : '';
    if (!name || !KEY_NAME.test(name) || value === '') {
      free.push(token);
      continue;
    }
    const lower = name.toLowerCase();
    if (lower === 'channel') {
      if (CHANNEL.test(value)) filters.channel = value;
      else problems.push(`"${value}" is not a channel id`);
    } else if (lower === 'type') {
      if (TYPE.test(value)) filters.type = value;
      else problems.push(`"${value}" is not a message type (e.g. ORU^R01)`);
    } else if (lower === 'status') {
      const s = value.toLowerCase().replace(/-/g, '_');
      if ((MESSAGE_STATUSES as readonly string[]).includes(s)) filters.status = s;
      else problems.push(`"${value}" is not a status (${MESSAGE_STATUSES.join(', ')})`);
    } else if (lower === 'since' || lower === 'until') {
      const iso = instantOf(value);
      if (iso) filters[lower] = iso;
      else problems.push(`${lower}: "${value}" is not a date (e.g. 2026-12-01 or 2026-12-01T08:00)`);
    } else if (CONTROL_NAMES.has(lower)) {
      filters.control_id = value;
    } else if (lower === 'id' && isMessageId(value)) {
      return { kind: 'message', id: value.toLowerCase() };
    } else {
      filters.key = `${name}:${value}`;
    }
  }
  if (free.length > 0) filters.q = free.join(' ');
  return { kind: 'search', filters, problems };
}

/**
 * The search field's text for filters (the part the field shows: free text, key, control
 * id). `parseSearch(searchText(f))` gives those filters back.
 */
export function searchText(f: MessageFilters): string {
  const quote = (v: string) => (/[\s"]/.test(v) ? `"${v.replace(/"/g, '')}"` : v);
  const parts: string[] = [];
  if (f.key) {
    const at = f.key.indexOf(':');
    parts.push(`${f.key.slice(0, at)}:${quote(f.key.slice(at + 1))}`);
  }
  if (f.control_id) parts.push(`control:${quote(f.control_id)}`);
  if (f.q) parts.push(f.q);
  return parts.join(' ');
}

/** The filters a URL's query holds (unknown parameters ignored, empty ones dropped). */
export function filtersFromParams(params: URLSearchParams): MessageFilters {
  const f: MessageFilters = {};
  for (const name of FILTER_NAMES) {
    const v = params.get(name);
    if (v) f[name] = v;
  }
  return f;
}

/** The URL query for filters, in a stable order (so a link to a search reads the same). */
export function paramsFromFilters(f: MessageFilters): URLSearchParams {
  const p = new URLSearchParams();
  for (const name of FILTER_NAMES) {
    const v = f[name];
    if (v) p.set(name, v);
  }
  return p;
}
