/**
 * SMART on FHIR scopes of the apps that use the clinic's data (`system/Patient.rs`,
 * `system/Appointment.cruds`, `system/*.rs`; the v1 forms `system/Patient.read`,
 * `system/Patient.write` and `system/Patient.*` are read as their v2 equivalents), and the app
 * as the FHIR API sees it.
 */

/** create, read, update, delete, search (SMART v2 order). */
export type SmartInteraction = 'c' | 'r' | 'u' | 'd' | 's';
const ORDER: readonly SmartInteraction[] = ['c', 'r', 'u', 'd', 's'];

export interface SmartScope {
  context: 'system' | 'patient' | 'user';
  /** A FHIR resource type, or `*`. */
  resourceType: string;
  interactions: ReadonlySet<SmartInteraction>;
}

const SCOPE = /^(system|patient|user)\/(\*|[A-Z][A-Za-z]{1,63})\.(\*|read|write|c?r?u?d?s?)$/;

/** Parses one scope; undefined when it is not a SMART resource scope (or names no interaction). */
export function parseSmartScope(text: string): SmartScope | undefined {
  const m = SCOPE.exec(text);
  if (!m) return undefined;
  const [, context, resourceType, what] = m as unknown as [string, SmartScope['context'], string, string];
  let interactions: SmartInteraction[];
  if (what === '*') interactions = [...ORDER];
  else if (what === 'read') interactions = ['r', 's'];
  else if (what === 'write') interactions = ['c', 'u', 'd'];
  else interactions = [...what] as SmartInteraction[];
  if (interactions.length === 0) return undefined;
  return { context, resourceType, interactions: new Set(interactions) };
}

/** The v2 text of a scope (`system/Patient.rs`). */
export function formatSmartScope(scope: SmartScope): string {
  return `${scope.context}/${scope.resourceType}.${ORDER.filter((i) => scope.interactions.has(i)).join('')}`;
}

/** Whether any of the scopes allows the interaction on the resource type. */
export function smartAllows(
  scopes: readonly SmartScope[],
  resourceType: string,
  interaction: SmartInteraction,
): boolean {
  return scopes.some(
    (s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.interactions.has(interaction),
  );
}

/**
 * The part of `requested` that `granted` covers: each requested scope narrowed to the
 * interactions some granted scope allows for its type (a token carries only approved scopes).
 */
export function narrowSmartScopes(
  requested: readonly SmartScope[],
  granted: readonly SmartScope[],
): SmartScope[] {
  const out: SmartScope[] = [];
  for (const r of requested) {
    const interactions = new Set<SmartInteraction>();
    for (const g of granted) {
      if (g.context !== r.context) continue;
      if (g.resourceType !== '*' && g.resourceType !== r.resourceType) continue;
      for (const i of r.interactions) if (g.interactions.has(i)) interactions.add(i);
    }
    if (interactions.size > 0) out.push({ context: r.context, resourceType: r.resourceType, interactions });
  }
  return out;
}

/** An app calling the FHIR API with an access token, as its state is at this request. */
export interface AppPrincipal {
  kind: 'app';
  appId: string;
  name: string;
  /** The OAuth2 client id the token was issued to. */
  clientId: string;
  environment: 'production' | 'sandbox';
  /** The token's scopes: approved for the app, and asked for when the token was issued. */
  scopes: readonly SmartScope[];
  /** False when an admin has disabled the app's writes: every create, update and delete is refused. */
  writesEnabled: boolean;
  /** Path prefixes under `/fhir/R4` the app is limited to (`Patient`, `Observation`, `$export`); undefined: no limit beyond its scopes. */
  endpoints?: readonly string[];
}

/** Why an app's request was refused before it reached a handler. */
export type AppRefusal =
  | { code: 'token.invalid'; detail: string }
  | { code: 'app.paused' | 'app.suspended' | 'app.revoked' | 'app.pending'; detail: string }
  | { code: 'rate.limited'; detail: string; retryAfterMs: number };

/** Kinds of misuse the API reports for an app; past a threshold the app is throttled, then suspended. */
export type AppMisuse = 'rate_limit' | 'unexpected_payload' | 'unauthorised_write' | 'forbidden' | 'volume';

/** One finished FHIR API call, for the audit log and the app's own call log. */
export interface AppCall {
  method: string;
  /** The path under `/fhir/R4` without the query string (`Patient/123`, `Observation`). */
  path: string;
  status: number;
  /** Resource ids (`Type/id`) the answer held; the audit log keeps them, never their content. */
  objectIds?: readonly string[];
  remoteAddress?: string;
}

/**
 * What the FHIR API asks of the app registry on every request: who the bearer is (read fresh,
 * so revoking, pausing, changing scopes or disabling writes acts on the next request), whether
 * the app is within its rate limit, and to record its calls and misuse.
 */
export interface AppGate {
  authenticate(bearer: string): Promise<AppPrincipal | AppRefusal>;
  /** Takes one request from the app's bucket (shared across API processes when Redis is used). */
  admit(app: AppPrincipal): Promise<{ allowed: true; remaining: number } | AppRefusal>;
  misuse(app: AppPrincipal, kind: AppMisuse, detail: string): Promise<void>;
  called(app: AppPrincipal, call: AppCall): Promise<void>;
}
