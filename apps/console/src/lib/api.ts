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
