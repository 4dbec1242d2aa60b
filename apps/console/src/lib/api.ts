/**
 * The console's only way to the engine: `/api/v1` with the session cookie, the CSRF token on
 * every change, and RFC 9457 problems turned into `ApiError`s whose message a person can read.
 */

/** An answer that was not 2xx: the problem document's fields, when there was one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly invalidParams?: ReadonlyArray<{ name: string; reason: string }>,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | undefined;

/** The session's CSRF token (from sign-in or `GET /api/v1/session`), sent as X-CSRF-Token. */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when any request answers 401: the session has ended (signed out elsewhere, expired). */
let onUnauthorized: (() => void) | undefined;
export function setUnauthorizedHandler(f: (() => void) | undefined): void {
  onUnauthorized = f;
}

type Query = Record<string, string | number | boolean | undefined | null>;

/** `path` with the query's set values appended. */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const text = params.toString();
  return text ? `${path}${path.includes('?') ? '&' : '?'}${text}` : path;
}

async function problemOf(res: Response): Promise<ApiError> {
  let body: {
    title?: string;
    detail?: string;
    code?: string;
    invalid_params?: Array<{ name: string; reason: string }>;
  } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // Not a problem document: the status says enough.
  }
  const retry = Number(res.headers.get('Retry-After'));
  const detail = body.detail ?? body.title ?? `${res.status} ${res.statusText}`;
  const params = body.invalid_params?.map((p) => `${p.name}: ${p.reason}`).join('; ');
  return new ApiError(
    res.status,
    params ? `${detail} (${params})` : detail,
    body.code,
    body.invalid_params,
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Do not treat a 401 as the end of the session (the sign-in form's own request). */
  quiet401?: boolean;
}

/** A JSON request to the engine; throws ApiError on anything but 2xx. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch(withQuery(path, options.query), {
    method,
    headers,
    credentials: 'same-origin',
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!res.ok) {
    const err = await problemOf(res);
    if (res.status === 401 && !options.quiet401) onUnauthorized?.();
    throw err;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A file download (exports): the browser saves what the URL answers, with the session cookie. */
export function downloadUrl(path: string, query?: Query): string {
  return withQuery(path, query);
}

/** The message a person reads for any error thrown by `api`. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403) return `You do not have permission for this: ${err.message}`;
    if (err.status === 429 && err.retryAfterS) return `${err.message} (try again in ${err.retryAfterS} s)`;
    return err.message;
  }
  if (err instanceof TypeError) return 'The engine cannot be reached. Check that it is running.';
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Reconciliations: the engine's answers as JSON (dates are ISO strings) and the calls.

export type RunStatus = 'running' | 'clean' | 'discrepancies' | 'failed';

/** Why a record differs, as the ledger tells it. */
export type DiscrepancyClass =
  | 'never_received'
  | 'filtered'
  | 'rejected'
  | 'errored'
  | 'pending'
  | 'dead_lettered'
  | 'delivered_not_applied'
  | 'changed_after_delivery'
  | 'unexplained'
  | 'target_only'
  | 'duplicate';

export type DifferenceKind =
  | 'missing_in_target'
  | 'missing_in_source'
  | 'field_mismatch'
  | 'duplicate_in_source'
  | 'duplicate_in_target';

export type RawValue = string | number | boolean | null;

export interface EntitySummaryJson {
  name: string;
  counts: {
    /** Per status (`''` when the entity has no status). */
    source: Record<string, number>;
    /** Distinct identity values Sinew received in the period; absent without a ledger side. */
    ledger?: number;
    target: Record<string, number>;
  };
  matched: number;
  byKind: Partial<Record<DifferenceKind, number>>;
  byClass: Partial<Record<DiscrepancyClass, number>>;
}

export interface RunSummaryJson {
  entities: EntitySummaryJson[];
  discrepancies: number;
  alerts: string[];
}

export interface RunJson {
  id: string;
  reconciliation: string;
  status: RunStatus;
  trigger: 'schedule' | 'cli' | 'api' | 'catch_up';
  period: { from?: string; to?: string; label: string };
  startedAt: string;
  finishedAt?: string;
  summary?: RunSummaryJson;
  error?: string;
}

export interface FlagJson {
  id: string;
  reconciliation: string;
  entity: string;
  class: DiscrepancyClass;
  count: number;
  runId: string;
  raisedAt: string;
  acknowledgedAt?: string;
  acknowledgedBy?: string;
  note?: string;
}

/** A record as one side holds it; its values only reach callers holding phi:read. */
export interface SideRecordJson {
  key?: string;
  fields?: Record<string, RawValue>;
  status?: string | null;
  updatedAt?: string | null;
  ref?: string;
}

/** A differing field: `source`/`target` and their normalised forms are omitted without phi:read. */
export interface FieldDifferenceJson {
  field: string;
  source?: RawValue;
  target?: RawValue;
  sourceNormalised?: string | null;
  targetNormalised?: string | null;
}

export interface DiscrepancyJson {
  id: string;
  runId: string;
  entity: string;
  kind: DifferenceKind;
  class: DiscrepancyClass;
  /** The identity value; `"…"` without phi:read. */
  key: string;
  reason: string;
  messageIds: string[];
  fields?: FieldDifferenceJson[];
  source?: SideRecordJson;
  target?: SideRecordJson;
  copies?: number;
  repairedAt?: string;
  repair?: { by: string; action: string; detail: string };
}

export interface ReconciliationJson {
  id: string;
  description?: string;
  schedule: { cron: string; timezone: string; next?: string };
  /** The period a run covers unless asked for another (`yesterday`, `all` …). */
  period?: string;
  entities: string[];
  lastRun?: RunJson;
  flags: FlagJson[];
}

export interface RepairActionJson {
  discrepancyId: string;
  entity?: string;
  class?: DiscrepancyClass;
  /** `replayed` (or, in a dry run, would be), `skipped` (with why in `detail`). */
  action: string;
  deliveryIds?: string[];
  messageIds: string[];
  detail: string;
}

const RECON = '/api/v1/reconciliations';

export const reconcileApi = {
  list: (signal?: AbortSignal) => api<{ items: ReconciliationJson[] }>(RECON, { signal }),
  runs: (id: string, limit: number, signal?: AbortSignal) =>
    api<{ items: RunJson[] }>(`${RECON}/${encodeURIComponent(id)}/runs`, { query: { limit }, signal }),
  run: (runId: string, signal?: AbortSignal) =>
    api<RunJson>(`${RECON}/runs/${encodeURIComponent(runId)}`, { signal }),
  discrepancies: (
    runId: string,
    filter: { class?: string; entity?: string; limit?: number; after?: string },
    signal?: AbortSignal,
  ) =>
    api<{ items: DiscrepancyJson[]; next?: string }>(
      `${RECON}/runs/${encodeURIComponent(runId)}/discrepancies`,
      { query: filter, signal },
    ),
  start: (id: string, period?: string) =>
    api<RunJson>(`${RECON}/${encodeURIComponent(id)}/runs`, {
      method: 'POST',
      body: period ? { period } : {},
    }),
  /** `dryRun` is said explicitly: the engine takes a repair without it as a dry run. */
  repair: (runId: string, body: { classes?: string[]; dryRun: boolean }) =>
    api<{ dryRun?: boolean; actions: RepairActionJson[] }>(
      `${RECON}/runs/${encodeURIComponent(runId)}/repair`,
      { method: 'POST', body },
    ),
  syncStatus: (signal?: AbortSignal) =>
    api<{ ok: boolean; flags: FlagJson[] }>('/api/v1/sync-status', { signal }),
  acknowledge: (flagId: string, note?: string) =>
    api<FlagJson | undefined>(`/api/v1/sync-status/flags/${encodeURIComponent(flagId)}/acknowledge`, {
      method: 'POST',
      body: note ? { note } : {},
    }),
};
