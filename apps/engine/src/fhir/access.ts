import type { AppPrincipal, AppRefusal, SmartInteraction } from '@sinew/auth';
import { smartAllows } from '@sinew/auth';
import type { HubViewer } from '@sinew/hub';
import type { Request, Response } from 'express';
import type { FhirDeps } from './deps';
import { FhirError } from './outcome';

/** One authenticated FHIR API request: the app, its hub view, and what the answer held. */
export interface FhirCall {
  app: AppPrincipal;
  viewer: HubViewer;
  /** `Type/id` of every resource returned, for the app's call log (never content). */
  objectIds: string[];
  /** The path under `/fhir/R4`, without the query string. */
  path: string;
}

type WithCall = Request & { fhirCall?: FhirCall };

/** The call a request was authenticated as, if it was. */
export function callOf(req: Request): FhirCall | undefined {
  return (req as WithCall).fhirCall;
}

const BEARER = /^Bearer +([\x21-\x7e]{1,4096})$/i;

function challenge(error: string, description: string): string {
  return `Bearer realm="sinew", error="${error}", error_description="${description.replace(/["\\]/g, '')}"`;
}

/** What an `AppRefusal` answers. */
export function refusalError(refusal: AppRefusal): FhirError {
  switch (refusal.code) {
    case 'token.invalid':
    case 'app.revoked':
      return new FhirError(401, 'login', refusal.detail, {
        headers: { 'WWW-Authenticate': challenge('invalid_token', refusal.detail) },
      });
    case 'rate.limited':
      return new FhirError(429, 'throttled', refusal.detail, {
        headers: {
          'Retry-After': String(Math.max(1, Math.ceil(refusal.retryAfterMs / 1000))),
          'WWW-Authenticate': challenge('rate_limited', refusal.detail),
        },
      });
    default:
      return new FhirError(403, 'suspended', refusal.detail, {
        headers: { 'WWW-Authenticate': challenge('insufficient_scope', refusal.detail) },
      });
  }
}

/** Whether an app limited to `endpoints` may call `path` (`Patient/1`, `$export`, `Patient/$export`). */
export function endpointAllowed(endpoints: readonly string[] | undefined, path: string): boolean {
  if (!endpoints) return true;
  const segments = path.split('/');
  return endpoints.some((e) => {
    const prefix = e.replace(/^\/+|\/+$/g, '');
    if (prefix === '') return true;
    if (path === prefix || path.startsWith(`${prefix}/`)) return true;
    // An operation prefix (`$export`) covers that operation at every level.
    return prefix.startsWith('$') && segments.includes(prefix);
  });
}

/**
 * Authenticates a request (`Authorization: Bearer`), takes it from the app's rate limit, checks
 * its endpoint limits, and records the call in the app's log once the answer is sent.
 */
export async function authenticate(
  deps: FhirDeps,
  req: Request,
  res: Response,
  path: string,
  options: { checkEndpoints?: boolean } = {},
): Promise<FhirCall> {
  // Set once the bearer is known; the answer is recorded either way.
  const seen: { call?: FhirCall } = {};
  res.once('finish', () => record(deps, req, res, seen.call, path));
  const header = req.headers.authorization;
  const token = header ? BEARER.exec(header)?.[1] : undefined;
  if (!token) {
    throw new FhirError(401, 'login', 'an access token is required (Authorization: Bearer)', {
      headers: { 'WWW-Authenticate': 'Bearer realm="sinew"' },
    });
  }
  const who = await deps.apps.authenticate(token);
  if (!('kind' in who)) throw refusalError(who);
  const app = who;
  const call: FhirCall = {
    app,
    viewer: { environment: app.environment, appId: app.appId },
    objectIds: [],
    path,
  };
  seen.call = call;
  (req as WithCall).fhirCall = call;
  const admitted = await deps.apps.admit(app);
  if (!('allowed' in admitted)) {
    await reportMisuse(deps, app, 'rate_limit', admitted.detail);
    throw refusalError(admitted);
  }
  if (options.checkEndpoints !== false && !endpointAllowed(app.endpoints, path)) {
    const detail = `this app is limited to ${(app.endpoints ?? []).join(', ')}`;
    await reportMisuse(deps, app, 'forbidden', `${req.method} ${path}: outside its endpoints`);
    throw new FhirError(403, 'forbidden', detail);
  }
  return call;
}

/** The route as a template (`GET /fhir/R4/{type}/{id}`): the audit log keeps no concrete ids in actions. */
function routeTemplate(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route?.path;
  const path =
    typeof route === 'string' ? route.replace(/:([A-Za-z]+)/g, '{$1}') : '/fhir/R4/(no such route)';
  return `${req.method} ${path}`;
}

/** Records a finished request: in the app's call log (AppGate.called) and in the audit log. */
function record(deps: FhirDeps, req: Request, res: Response, call: FhirCall | undefined, path: string): void {
  if (call) {
    const app = call.app;
    deps.apps
      .called(app, {
        method: req.method,
        path: call.path,
        status: res.statusCode,
        ...(call.objectIds.length ? { objectIds: call.objectIds } : {}),
        ...(req.socket.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}),
      })
      .catch((err: unknown) =>
        deps.logger?.error({ appId: app.appId, err: errorName(err) }, 'recording an app call failed'),
      );
  }
  if (!deps.audit) return;
  const names = [...new Set(queryNames(req.originalUrl))];
  deps.audit
    .append({
      actor: call?.app.name ?? 'anonymous',
      actorKind: call ? 'client' : 'anonymous',
      ...(call ? { via: call.app.clientId } : {}),
      action: routeTemplate(req),
      ...(call?.objectIds.length ? { objectIds: [...new Set(call.objectIds)] } : {}),
      // Parameter names only: search values can hold PHI (names, identifiers, birth dates).
      ...(names.length ? { filter: Object.fromEntries(names.map((n) => [n, '*'])) } : {}),
      ...(req.ip ? { from: req.ip } : {}),
      outcome: String(res.statusCode),
      contentRead: res.statusCode < 300 && (call?.objectIds.length ?? 0) > 0,
    })
    .catch((err: unknown) =>
      deps.logger?.error({ path: path.slice(0, 200), err: errorName(err) }, 'audit log append failed'),
    );
}

function queryNames(url: string): string[] {
  const q = url.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(url.slice(q + 1)).keys()].map((k) => k.slice(0, 64));
}

export async function reportMisuse(
  deps: FhirDeps,
  app: AppPrincipal,
  kind: 'rate_limit' | 'forbidden' | 'unexpected_payload',
  detail: string,
): Promise<void> {
  try {
    await deps.apps.misuse(app, kind, detail);
  } catch (err) {
    deps.logger?.error({ appId: app.appId, err: errorName(err) }, 'recording app misuse failed');
  }
}

const NAMES: Record<SmartInteraction, string> = {
  c: 'create',
  r: 'read',
  u: 'update',
  d: 'delete',
  s: 'search',
};

/** Whether the app's scopes allow every interaction on the type. */
export function allows(
  call: FhirCall,
  resourceType: string,
  interactions: readonly SmartInteraction[],
): boolean {
  return interactions.every((i) => smartAllows(call.app.scopes, resourceType, i));
}

/** Refuses (403, reported as misuse) unless the app's scopes allow the interactions on the type. */
export async function requireScope(
  deps: FhirDeps,
  call: FhirCall,
  resourceType: string,
  interactions: readonly SmartInteraction[],
): Promise<void> {
  if (allows(call, resourceType, interactions)) return;
  const scope = `system/${resourceType}.${interactions.join('')}`;
  await reportMisuse(deps, call.app, 'forbidden', `${call.path}: needs ${scope}`);
  throw new FhirError(
    403,
    'forbidden',
    `this needs the scope ${scope} (${interactions.map((i) => NAMES[i]).join(' and ')} of ${resourceType})`,
  );
}

/**
 * For the engine's global error filter: an unreadable FHIR request body (malformed JSON, a
 * wrong charset) is reported as an unexpected payload of the app whose token it carried.
 */
export function reportUnreadableRequest(deps: FhirDeps): (err: unknown, req: Request) => void {
  return (err, req) => {
    const status =
      (err as { status?: unknown } | undefined)?.status ??
      (err as { getStatus?: () => number }).getStatus?.();
    if (typeof status !== 'number' || status < 400 || status >= 500) return;
    const token = req.headers.authorization ? BEARER.exec(req.headers.authorization)?.[1] : undefined;
    if (!token) return;
    void deps.apps
      .authenticate(token)
      .then((who) =>
        'kind' in who
          ? reportMisuse(
              deps,
              who,
              'unexpected_payload',
              `${req.method} ${req.path.slice(0, 200)}: unreadable body`,
            )
          : undefined,
      )
      .catch((e: unknown) => deps.logger?.error({ err: errorName(e) }, 'recording app misuse failed'));
  };
}

/** An error's class (and code, when it has one) for the log: messages may quote a request. */
export function errorName(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  const name = err instanceof Error ? err.name : typeof err;
  return typeof code === 'string' ? `${name} (${code})` : name;
}
