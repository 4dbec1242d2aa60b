import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import type { AppChanges, AppEnvironment, AppMisuseRecord, AppRecord, AppState, Store } from '@sinew/store';
import { hashKey, sameHash } from './api-keys';
import type { AuditLog } from './audit-log';
import { conflict, invalidInput, notFound } from './errors';
import {
  assertionClient,
  generateClientSecret,
  JWT_BEARER_ASSERTION,
  loadSigningKey,
  newSigningKey,
  OAuthError,
  publicJwkOf,
  signAccessToken,
  verifyAccessToken,
  verifyAssertion,
  type TokenKeys,
} from './oauth';
import type { Principal } from './scopes';
import {
  formatSmartScope,
  narrowSmartScopes,
  parseSmartScope,
  type AppCall,
  type AppGate,
  type AppMisuse,
  type AppPrincipal,
  type AppRefusal,
  type SmartScope,
} from './smart-scopes';

/** The events an app may listen to (webhooks). */
export const APP_EVENTS = [
  'patient.created',
  'patient.updated',
  'patient.merged',
  'appointment.booked',
  'appointment.cancelled',
  'appointment.changed',
  'result.final',
  'result.corrected',
  'charge.created',
  'reconciliation.discrepancy',
] as const;
export type AppEvent = (typeof APP_EVENTS)[number];

export const APP_STATES: readonly AppState[] = ['pending', 'active', 'paused', 'suspended', 'revoked'];

/** An app's client id: `sna_` and 20 hex characters (an OAuth2 client is `snc_…`, an API key `snw_…`). */
export const APP_ID = /^sna_[0-9a-f]{20}$/;
/** Access tokens of apps name this audience and the app's environment (`sinew-fhir:sandbox`). */
export const APP_TOKEN_AUDIENCE = 'sinew-fhir';
/** SMART Backend Services: access tokens live 5 minutes. */
export const APP_TOKEN_TTL_S = 300;

/** Misuse thresholds and the rate limits they act on. */
export interface MisusePolicy {
  /** The window misuse is counted over (default 10 minutes). */
  windowMs: number;
  /** Misuse in the window from which the app's rate is lowered for a window (default 20). */
  throttleAt: number;
  /** Misuse in the window from which the app is suspended (default 60). */
  suspendAt: number;
  /** The throttled rate as a fraction of the app's own (default 0.1). */
  throttleFactor: number;
  /** A day's calls count as unusual volume above this many times the mean of the 7 days before (default 10)… */
  volumeFactor: number;
  /** … and above this many calls (default 50,000). */
  volumeFloor: number;
}

export const DEFAULT_MISUSE: MisusePolicy = {
  windowMs: 10 * 60_000,
  throttleAt: 20,
  suspendAt: 60,
  throttleFactor: 0.1,
  volumeFactor: 10,
  volumeFloor: 50_000,
};

/** What the gate needs of the admin API's rate limiter (Redis-shared when scaled out). */
export interface AppRateLimiter {
  take(
    key: string,
    policy: { limit: number; windowMs: number },
  ): Promise<{ allowed: boolean; remaining: number; resetMs: number; retryAfterMs: number }>;
}

/** Where a suspension is announced: a URL that receives a signed JSON POST (Standard Webhooks). */
export interface AdminAlertTarget {
  url: string;
  /** `whsec_<base64>` or any text (its UTF-8 bytes are the key). */
  secret: string;
}

export interface AppsServiceOptions {
  now?: () => Date;
  /** The access tokens' `iss` (default `sinew`, as the admin API's). */
  tokenIssuer?: string;
  /** Requests per minute of an app without its own limit (default 600). */
  defaultRateLimit?: number;
  misuse?: Partial<MisusePolicy>;
  limiter?: AppRateLimiter;
  alert?: AdminAlertTarget;
  /** Reports failures to deliver an alert or to count calls (no PHI). */
  warn?: (message: string, detail: Record<string, unknown>) => void;
  /** Call counts are written this often (default 1 s); `flushCalls` writes them at once. */
  callFlushMs?: number;
}

/** An app as listings show it (never its secret nor its hash). */
export interface AppInfo {
  id: string;
  name: string;
  contact?: string;
  environment: AppEnvironment;
  requestedScopes: string[];
  approvedScopes: string[];
  events: string[];
  grantReason?: string;
  state: AppState;
  stateReason?: string;
  writesEnabled: boolean;
  endpoints?: string[];
  /** Requests per minute (its own, else the default). */
  rateLimit: number;
  throttledUntil?: Date;
  auth: Array<'client_secret' | 'private_key_jwt'>;
  createdAt: Date;
  createdBy?: string;
  approvedAt?: Date;
  approvedBy?: string;
  lastCallAt?: Date;
  /** Read (`r`, `s`) and write (`c`, `u`, `d`) per resource type, from the approved scopes. */
  touches: Array<{ resourceType: string; read: boolean; write: boolean }>;
}

export interface AppDetail extends AppInfo {
  /** Calls per UTC day, the last 30 days that had any. */
  callsPerDay: Array<{ day: string; calls: number }>;
  misuse: Array<{ at: Date; kind: string; detail: string }>;
}

export interface NewApp {
  name: string;
  /** SMART scopes, space-separated or a list (`system/Patient.rs system/Observation.rs`). */
  scopes: string | readonly string[];
  environment?: AppEnvironment;
  events?: readonly string[];
  contact?: string;
  /** Why it is granted (recorded with an approval). */
  reason?: string;
  /** A public JWK, a JWKS (`{"keys":[…]}`) or a PEM public key: the app authenticates by `private_key_jwt`. */
  jwks?: string;
  /** Approve every requested scope at once. */
  approve?: boolean;
  createdBy?: string;
  rateLimit?: number;
}

/** A token request as the token endpoint received it (see `AccessService`'s). */
export interface AppTokenRequest {
  grantType?: string;
  scope?: string;
  clientId?: string;
  clientSecret?: string;
  clientAssertionType?: string;
  clientAssertion?: string;
  basic?: { clientId: string; clientSecret: string };
  audiences: readonly string[];
  from?: string;
}

export interface AppTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  /** Who got it (for the admin API's audit log). */
  principal: Principal;
}

const NAME = /^[\x20-\x7e]{1,100}$/;
const CONTACT = /^[^\x00-\x1f]{1,200}$/;
const ENDPOINT = /^[A-Za-z$][A-Za-z0-9$/_.-]{0,99}$/;
const MAX_SCOPES = 100;
const DAY_MS = 86_400_000;

const day = (d: Date): string => d.toISOString().slice(0, 10);

/** Which clients the token endpoint hands to the app registry. */
export function isAppClientId(id: string | undefined): boolean {
  return id !== undefined && APP_ID.test(id);
}

/** The client id a token request names (Basic, form, or a client assertion's `iss`). */
export function tokenRequestClient(req: AppTokenRequest): string | undefined {
  if (req.basic) return req.basic.clientId;
  if (req.clientId !== undefined) return req.clientId;
  return req.clientAssertion !== undefined ? assertionClient(req.clientAssertion) : undefined;
}

/** SMART scopes from text or a list; throws naming the first one that is not a `system/` resource scope. */
export function parseAppScopes(scopes: string | readonly string[]): SmartScope[] {
  const list = typeof scopes === 'string' ? scopes.split(/[\s,]+/) : [...scopes];
  const out: SmartScope[] = [];
  const seen = new Set<string>();
  for (const text of list.map((s) => s.trim()).filter((s) => s !== '')) {
    const scope = parseSmartScope(text);
    if (!scope || scope.context !== 'system')
      throw invalidInput(
        `not a SMART system scope: ${text.slice(0, 80)} (write system/<Type>.<cruds>, e.g. system/Patient.rs)`,
      );
    const formatted = formatSmartScope(scope);
    if (!seen.has(formatted)) out.push(scope);
    seen.add(formatted);
  }
  if (out.length > MAX_SCOPES) throw invalidInput(`at most ${MAX_SCOPES} scopes`);
  return out;
}

const formatAll = (scopes: readonly SmartScope[]): string[] => scopes.map(formatSmartScope);

/** What the scopes let an app do, per resource type. */
export function touchesOf(scopes: readonly string[]): AppInfo['touches'] {
  const byType = new Map<string, { read: boolean; write: boolean }>();
  for (const s of scopes.map(parseSmartScope)) {
    if (!s) continue;
    const t = byType.get(s.resourceType) ?? { read: false, write: false };
    if (s.interactions.has('r') || s.interactions.has('s')) t.read = true;
    if (s.interactions.has('c') || s.interactions.has('u') || s.interactions.has('d')) t.write = true;
    byType.set(s.resourceType, t);
  }
  return [...byType.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resourceType, t]) => ({ resourceType, ...t }));
}

/** A JWK, a JWKS or a PEM public key as a JWKS of public keys (JSON text); throws naming what is wrong. */
export function normaliseJwks(text: string): string {
  if (typeof text !== 'string' || text.trim() === '') throw invalidInput('the JWKS is empty');
  if (text.length > 65_536) throw invalidInput('the JWKS is larger than 64 KiB');
  const trimmed = text.trim();
  let keys: unknown[];
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw invalidInput('the JWKS is not JSON');
    }
    const set = (parsed as { keys?: unknown }).keys;
    keys = Array.isArray(set) ? set : [parsed];
  } else keys = [trimmed];
  if (keys.length === 0 || keys.length > 10) throw invalidInput('a JWKS holds 1 to 10 keys');
  const out: JWK[] = keys.map((k, i) => {
    try {
      const jwk = publicJwkOf(typeof k === 'string' ? k : JSON.stringify(k));
      const kid = typeof k === 'object' && k !== null ? (k as { kid?: unknown }).kid : undefined;
      return typeof kid === 'string' && kid.length <= 200 ? { ...jwk, kid } : jwk;
    } catch (error) {
      throw invalidInput(`key ${i + 1}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  return JSON.stringify({ keys: out });
}

/** Standard Webhooks signature (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`). */
export function signAlert(secret: string, id: string, timestamp: number, body: string): string {
  const key = secret.startsWith('whsec_')
    ? Buffer.from(secret.slice('whsec_'.length), 'base64')
    : Buffer.from(secret, 'utf8');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/**
 * The app registry and the gate the FHIR API asks on every request. Apps are registered with
 * the SMART scopes they ask for; an admin approves them (all or some); tokens carry only
 * approved scopes. Nothing about an app's state is cached: revoking, pausing, suspending,
 * changing scopes, disabling writes or limiting endpoints acts on the next request, in every
 * process sharing the ledger.
 */
export class AppsService implements AppGate {
  private readonly now: () => Date;
  private readonly tokenIssuer: string;
  private readonly defaultRateLimit: number;
  private readonly policy: MisusePolicy;
  private tokenKeys: Promise<TokenKeys> | undefined;
  /** The record each principal was made from (the gate's later steps read it without a query). */
  private readonly records = new WeakMap<AppPrincipal, AppRecord>();
  private pendingCalls = new Map<string, { day: string; calls: number; lastCallAt: Date }>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Apps already reported for unusual volume, by app id and day. */
  private readonly volumeReported = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly options: AppsServiceOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.tokenIssuer = options.tokenIssuer ?? 'sinew';
    this.defaultRateLimit = options.defaultRateLimit ?? 600;
    this.policy = { ...DEFAULT_MISUSE, ...options.misuse };
  }

  // ---------------------------------------------------------------- registry

  async createApp(input: NewApp): Promise<{ app: AppInfo; clientId: string; clientSecret?: string }> {
    if (typeof input?.name !== 'string' || !NAME.test(input.name))
      throw invalidInput('an app name is 1 to 100 printable ASCII characters');
    const requested = parseAppScopes(input.scopes);
    if (requested.length === 0) throw invalidInput('an app asks for at least one scope');
    const environment = input.environment ?? 'sandbox';
    if (environment !== 'sandbox' && environment !== 'production')
      throw invalidInput('environment is sandbox or production');
    const events = checkEvents(input.events ?? []);
    if (input.contact !== undefined && !CONTACT.test(input.contact))
      throw invalidInput('a contact is 1 to 200 characters on one line');
    if (input.reason !== undefined) checkReason(input.reason);
    const rateLimit = input.rateLimit === undefined ? undefined : checkRate(input.rateLimit);
    const jwks = input.jwks !== undefined ? normaliseJwks(input.jwks) : undefined;
    const secret = jwks === undefined ? generateClientSecret() : undefined;
    const id = `sna_${randomBytes(10).toString('hex')}`;
    const now = this.now();
    const approve = input.approve === true;
    const record = await this.store.apps.insertApp({
      id,
      name: input.name,
      ...(input.contact !== undefined ? { contact: input.contact } : {}),
      environment,
      requestedScopes: formatAll(requested),
      approvedScopes: approve ? formatAll(requested) : [],
      events,
      ...(input.reason !== undefined ? { grantReason: input.reason } : {}),
      state: approve ? 'active' : 'pending',
      writesEnabled: true,
      ...(rateLimit !== undefined ? { rateLimit } : {}),
      ...(secret !== undefined ? { secretHash: hashKey(secret) } : {}),
      ...(jwks !== undefined ? { jwks } : {}),
      createdAt: now,
      ...(input.createdBy !== undefined ? { createdBy: input.createdBy } : {}),
      ...(approve ? { approvedAt: now, approvedBy: input.createdBy ?? 'unknown' } : {}),
    });
    return {
      app: this.info(record),
      clientId: id,
      ...(secret !== undefined ? { clientSecret: secret } : {}),
    };
  }

  async listApps(): Promise<AppInfo[]> {
    return (await this.store.apps.listApps()).map((a) => this.info(a));
  }

  async getApp(id: string): Promise<AppDetail | undefined> {
    const app = await this.store.apps.getApp(id);
    if (!app) return undefined;
    await this.flushCalls();
    const since = day(new Date(this.now().getTime() - 29 * DAY_MS));
    const [callsPerDay, misuse] = await Promise.all([
      this.store.apps.callsPerDay(id, since),
      this.store.apps.listMisuse(id, 20),
    ]);
    const fresh = (await this.store.apps.getApp(id)) ?? app;
    return {
      ...this.info(fresh),
      callsPerDay,
      misuse: misuse.map((m) => ({ at: m.at, kind: m.kind, detail: m.detail })),
    };
  }

  /** An app id, or an app's exact name when exactly one app has it. */
  async findAppId(reference: string): Promise<string | undefined> {
    if (APP_ID.test(reference)) return reference;
    const matches = (await this.store.apps.listApps()).filter((a) => a.name === reference);
    if (matches.length > 1) throw conflict(`${matches.length} apps are named ${reference}: give the id`);
    return matches[0]?.id;
  }

  private async change(id: string, decide: (app: AppRecord) => AppChanges): Promise<AppInfo> {
    const app = await this.store.apps.updateApp(id, decide, this.now());
    if (!app) throw notFound(`app ${id} does not exist`);
    return this.info(app);
  }

  /**
   * Approves scopes (default: every requested one; each must be among the requested) with the
   * reason they are granted. A pending app becomes active; a revoked one cannot be approved.
   */
  async approve(
    id: string,
    input: { scopes?: string | readonly string[]; reason?: string; by: string },
  ): Promise<AppInfo> {
    if (input.reason !== undefined) checkReason(input.reason);
    const given = input.scopes === undefined ? undefined : parseAppScopes(input.scopes);
    const now = this.now();
    return this.change(id, (app) => {
      if (app.state === 'revoked') throw conflict(`app ${id} is revoked`);
      const approved = this.withinRequested(app, given);
      return {
        approvedScopes: approved,
        ...(input.reason !== undefined ? { grantReason: input.reason } : {}),
        approvedAt: now,
        approvedBy: input.by,
        ...(app.state === 'pending' ? { state: 'active' as const } : {}),
      };
    });
  }

  private withinRequested(app: AppRecord, given: SmartScope[] | undefined): string[] {
    const requested = parseAppScopes(app.requestedScopes);
    if (given === undefined) return formatAll(requested);
    const narrowed = narrowSmartScopes(given, requested);
    const kept = new Set(formatAll(narrowed));
    const beyond = formatAll(given).filter((s) => !kept.has(s));
    if (beyond.length > 0)
      throw invalidInput(`not requested by the app: ${beyond.join(' ')} (change its requested scopes first)`);
    return formatAll(narrowed);
  }

  /**
   * Changes the scopes: the requested ones (what the app asks for) and/or the approved ones
   * (within the requested). Approved scopes no longer requested are dropped. Acts on the next
   * request: tokens already issued lose what is no longer approved.
   */
  async setScopes(
    id: string,
    input: { requested?: string | readonly string[]; approved?: string | readonly string[] },
  ): Promise<AppInfo> {
    const requested = input.requested === undefined ? undefined : parseAppScopes(input.requested);
    if (requested !== undefined && requested.length === 0)
      throw invalidInput('an app asks for at least one scope');
    const approved = input.approved === undefined ? undefined : parseAppScopes(input.approved);
    return this.change(id, (app) => {
      if (app.state === 'revoked') throw conflict(`app ${id} is revoked`);
      const next: AppRecord = { ...app, ...(requested ? { requestedScopes: formatAll(requested) } : {}) };
      const keep = approved ?? parseAppScopes(app.approvedScopes);
      const narrowed = approved
        ? this.withinRequested(next, approved)
        : formatAll(narrowSmartScopes(keep, parseAppScopes(next.requestedScopes)));
      return { ...(requested ? { requestedScopes: formatAll(requested) } : {}), approvedScopes: narrowed };
    });
  }

  async pause(id: string): Promise<AppInfo> {
    return this.change(id, (app) => {
      if (app.state !== 'active' && app.state !== 'paused') throw conflict(`app ${id} is ${app.state}`);
      return { state: 'paused', stateReason: null };
    });
  }

  async resume(id: string): Promise<AppInfo> {
    return this.change(id, (app) => {
      if (app.state !== 'paused' && app.state !== 'active') throw conflict(`app ${id} is ${app.state}`);
      return { state: 'active', stateReason: null };
    });
  }

  /** Revokes an app for good: no new tokens, and its tokens stop working on their next request. */
  async revoke(id: string, reason?: string): Promise<AppInfo> {
    if (reason !== undefined) checkReason(reason);
    return this.change(id, () => ({ state: 'revoked', stateReason: reason ?? null }));
  }

  /** Reinstates a suspended app: ends any throttling, and misuse is counted afresh from now. */
  async reinstate(id: string): Promise<AppInfo> {
    const info = await this.change(id, (app) => {
      if (app.state !== 'suspended') throw conflict(`app ${id} is ${app.state}, not suspended`);
      return { state: 'active', stateReason: null, throttledUntil: null, misuseSince: this.now() };
    });
    return info;
  }

  async setWrites(id: string, enabled: boolean): Promise<AppInfo> {
    return this.change(id, () => ({ writesEnabled: enabled === true }));
  }

  /** Limits the app to path prefixes under `/fhir/R4` (`Patient`, `$export`); an empty list or null lifts the limit. */
  async setEndpoints(id: string, endpoints: readonly string[] | null): Promise<AppInfo> {
    let list: string[] | null = null;
    if (endpoints !== null) {
      if (!Array.isArray(endpoints) || endpoints.length > 50)
        throw invalidInput('endpoints: at most 50 path prefixes');
      for (const e of endpoints)
        if (typeof e !== 'string' || !ENDPOINT.test(e))
          throw invalidInput(`not a path prefix under /fhir/R4: ${String(e).slice(0, 80)}`);
      list = endpoints.length > 0 ? [...new Set(endpoints)] : null;
    }
    return this.change(id, () => ({ endpoints: list }));
  }

  /** Requests per minute (null: the default). */
  async setRateLimit(id: string, perMinute: number | null): Promise<AppInfo> {
    const limit = perMinute === null ? null : checkRate(perMinute);
    return this.change(id, () => ({ rateLimit: limit }));
  }

  /**
   * Promotes a sandbox app to production. The client id stays; a secret app gets a new secret
   * (in this answer only: the sandbox one stops working), and tokens issued in the sandbox never
   * authenticate in production (their audience names the sandbox).
   */
  async promote(id: string): Promise<{ app: AppInfo; clientSecret?: string }> {
    let secret: string | undefined;
    const app = await this.change(id, (current) => {
      if (current.environment === 'production') throw conflict(`app ${id} is already in production`);
      if (current.state === 'revoked') throw conflict(`app ${id} is revoked`);
      secret = current.secretHash !== undefined ? generateClientSecret() : undefined;
      return { environment: 'production', ...(secret !== undefined ? { secretHash: hashKey(secret) } : {}) };
    });
    return secret !== undefined ? { app, clientSecret: secret } : { app };
  }

  /** A new client secret (the old one stops working at once); shown once. */
  async rotateSecret(id: string): Promise<{ app: AppInfo; clientSecret: string }> {
    const secret = generateClientSecret();
    const app = await this.change(id, (current) => {
      if (current.state === 'revoked') throw conflict(`app ${id} is revoked`);
      return { secretHash: hashKey(secret) };
    });
    return { app, clientSecret: secret };
  }

  /** Sets the app's public keys for `private_key_jwt` (null removes them: only a secret is left). */
  async setJwks(id: string, jwks: string | null): Promise<AppInfo> {
    const normalised = jwks === null ? null : normaliseJwks(jwks);
    return this.change(id, (app) => {
      if (normalised === null && app.secretHash === undefined)
        throw conflict(`app ${id} has no secret: it keeps its keys until it gets one (rotate its secret)`);
      return { jwks: normalised };
    });
  }

  /** An app's calls (its audit entries), newest first, by pages. */
  async calls(id: string, page: { limit?: number; cursor?: string }) {
    return this.audit.search({
      via: id,
      ...(page.limit !== undefined ? { limit: page.limit } : {}),
      ...(page.cursor !== undefined ? { cursor: page.cursor } : {}),
    });
  }

  private info(a: AppRecord): AppInfo {
    const info: AppInfo = {
      id: a.id,
      name: a.name,
      environment: a.environment,
      requestedScopes: a.requestedScopes,
      approvedScopes: a.approvedScopes,
      events: a.events,
      state: a.state,
      writesEnabled: a.writesEnabled,
      rateLimit: a.rateLimit ?? this.defaultRateLimit,
      auth: [
        ...(a.secretHash !== undefined ? ['client_secret' as const] : []),
        ...(a.jwks !== undefined ? ['private_key_jwt' as const] : []),
      ],
      createdAt: a.createdAt,
      touches: touchesOf(a.approvedScopes),
    };
    if (a.contact !== undefined) info.contact = a.contact;
    if (a.grantReason !== undefined) info.grantReason = a.grantReason;
    if (a.stateReason !== undefined) info.stateReason = a.stateReason;
    if (a.endpoints) info.endpoints = a.endpoints;
    if (a.throttledUntil && a.throttledUntil.getTime() > this.now().getTime())
      info.throttledUntil = a.throttledUntil;
    if (a.createdBy !== undefined) info.createdBy = a.createdBy;
    if (a.approvedAt) info.approvedAt = a.approvedAt;
    if (a.approvedBy !== undefined) info.approvedBy = a.approvedBy;
    if (a.lastCallAt) info.lastCallAt = a.lastCallAt;
    return info;
  }

  // ---------------------------------------------------------------- tokens

  private keys(): Promise<TokenKeys> {
    this.tokenKeys ??= (async () =>
      loadSigningKey(await this.store.access.signingKey(await newSigningKey(this.now()))))();
    this.tokenKeys.catch(() => {
      this.tokenKeys = undefined;
    });
    return this.tokenKeys;
  }

  /**
   * The client credentials grant for an app (SMART Backend Services): the app authenticates by
   * its secret or a client assertion signed by a key of its JWKS; `scope` lists SMART scopes
   * (default: all approved); the token carries the part of them that is approved, and lives
   * 5 minutes. Throws `OAuthError`.
   */
  async issueToken(req: AppTokenRequest): Promise<AppTokenResponse> {
    const app = await this.authenticateClient(req);
    if (req.grantType === undefined || req.grantType === '')
      throw new OAuthError('invalid_request', 'grant_type is required');
    if (req.grantType !== 'client_credentials')
      throw new OAuthError('unsupported_grant_type', 'only grant_type=client_credentials is supported');
    if (app.state !== 'active')
      throw new OAuthError(
        'unauthorized_client',
        app.state === 'pending' ? 'the app awaits an administrator’s approval' : `the app is ${app.state}`,
      );
    const approved = parseAppScopes(app.approvedScopes);
    let asked: SmartScope[];
    if (req.scope === undefined || req.scope.trim() === '') asked = approved;
    else {
      const words = req.scope.split(' ').filter((s) => s !== '');
      const bad = words.filter((w) => parseSmartScope(w)?.context !== 'system');
      if (bad.length > 0)
        throw new OAuthError('invalid_scope', `not a SMART system scope: ${bad.join(' ').slice(0, 200)}`);
      asked = words.map((w) => parseSmartScope(w) as SmartScope);
    }
    const granted = narrowSmartScopes(asked, approved);
    if (granted.length === 0) {
      await this.recordMisuse(app, 'forbidden', 'token asked only for scopes that are not approved');
      throw new OAuthError('invalid_scope', 'none of the scopes asked for is approved for this app');
    }
    const now = this.now();
    const scopes = formatAll(granted);
    const token = await signAccessToken(await this.keys(), {
      issuer: this.tokenIssuer,
      audience: `${APP_TOKEN_AUDIENCE}:${app.environment}`,
      clientId: app.id,
      scopes,
      now,
      ttlS: APP_TOKEN_TTL_S,
    });
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: APP_TOKEN_TTL_S,
      scope: scopes.join(' '),
      principal: { kind: 'client', id: app.id, name: app.name, scopes: [], via: app.id },
    };
  }

  private async authenticateClient(req: AppTokenRequest): Promise<AppRecord> {
    const methods = [
      req.basic !== undefined,
      req.clientSecret !== undefined,
      req.clientAssertion !== undefined || req.clientAssertionType !== undefined,
    ].filter(Boolean).length;
    if (methods === 0) throw new OAuthError('invalid_client', 'client authentication is required');
    if (methods > 1) throw new OAuthError('invalid_request', 'use one client authentication method');
    const unknown = new OAuthError(
      'invalid_client',
      'the app is unknown, its credentials are wrong, or it is revoked',
    );
    const usable = (a: AppRecord | undefined): a is AppRecord => a !== undefined && a.state !== 'revoked';
    if (req.clientAssertion !== undefined || req.clientAssertionType !== undefined) {
      if (req.clientAssertionType !== JWT_BEARER_ASSERTION)
        throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
      if (!req.clientAssertion) throw new OAuthError('invalid_client', 'client_assertion is required');
      const id = assertionClient(req.clientAssertion);
      if (id === undefined || !APP_ID.test(id) || (req.clientId !== undefined && req.clientId !== id))
        throw unknown;
      const app = await this.store.apps.getApp(id);
      if (!usable(app) || app.jwks === undefined) throw unknown;
      const now = this.now();
      const { jti, exp } = await this.verifyWithJwks(req.clientAssertion, app, req.audiences, now);
      if (!(await this.store.access.useAssertion(`${id}:${jti}`, exp, now)))
        throw new OAuthError('invalid_client', 'the client assertion was already used (its jti is spent)');
      return app;
    }
    const id = req.basic?.clientId ?? req.clientId;
    const secret = req.basic?.clientSecret ?? req.clientSecret ?? '';
    if (id === undefined || !APP_ID.test(id)) throw unknown;
    const app = await this.store.apps.getApp(id);
    if (!app?.secretHash || !sameHash(hashKey(secret), app.secretHash) || !usable(app)) throw unknown;
    return app;
  }

  /** Checks an assertion against the app's keys: the one its `kid` names, else each in turn. */
  private async verifyWithJwks(assertion: string, app: AppRecord, audiences: readonly string[], now: Date) {
    const keys = (JSON.parse(app.jwks as string) as { keys: JWK[] }).keys;
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(assertion).kid;
    } catch {
      throw new OAuthError('invalid_client', 'the client assertion is not a JWT');
    }
    const candidates =
      kid !== undefined && keys.some((k) => k.kid === kid) ? keys.filter((k) => k.kid === kid) : keys;
    let last: unknown;
    for (const key of candidates) {
      try {
        return await verifyAssertion(assertion, JSON.stringify(key), { clientId: app.id, audiences, now });
      } catch (error) {
        last = error;
      }
    }
    throw last instanceof OAuthError
      ? last
      : new OAuthError('invalid_client', 'the client assertion is not valid');
  }

  // ---------------------------------------------------------------- the gate

  async authenticate(bearer: string): Promise<AppPrincipal | AppRefusal> {
    const invalid = (detail: string): AppRefusal => ({ code: 'token.invalid', detail });
    if (typeof bearer !== 'string' || bearer.length === 0 || bearer.length > 4096)
      return invalid('expected Authorization: Bearer <access token>');
    let sub: unknown;
    try {
      sub = decodeJwt(bearer).sub;
    } catch {
      return invalid('the access token is not a JWT');
    }
    if (typeof sub !== 'string' || !APP_ID.test(sub)) return invalid('the access token is not an app’s');
    const app = await this.store.apps.getApp(sub);
    if (!app) return invalid('the access token’s app does not exist');
    const claims = await verifyAccessToken(await this.keys(), bearer, {
      issuer: this.tokenIssuer,
      audience: `${APP_TOKEN_AUDIENCE}:${app.environment}`,
      now: this.now(),
    });
    if (!claims || claims.clientId !== app.id)
      return invalid(
        `the access token is expired, not signed by this server, or not for the app’s ${app.environment} environment`,
      );
    if (app.state !== 'active') {
      const detail =
        app.state === 'suspended'
          ? `the app is suspended${app.stateReason ? `: ${app.stateReason}` : ''}; an administrator can reinstate it`
          : app.state === 'pending'
            ? 'the app awaits an administrator’s approval'
            : `the app is ${app.state}`;
      return { code: `app.${app.state}`, detail };
    }
    const asked = claims.scopes.map(parseSmartScope).filter((s): s is SmartScope => s !== undefined);
    const principal: AppPrincipal = {
      kind: 'app',
      appId: app.id,
      name: app.name,
      clientId: app.id,
      environment: app.environment,
      scopes: narrowSmartScopes(asked, parseAppScopes(app.approvedScopes)),
      writesEnabled: app.writesEnabled,
      ...(app.endpoints ? { endpoints: app.endpoints } : {}),
    };
    this.records.set(principal, app);
    return principal;
  }

  private async recordOf(app: AppPrincipal): Promise<AppRecord | undefined> {
    return this.records.get(app) ?? (await this.store.apps.getApp(app.appId));
  }

  /** The app's rate per minute now: its own or the default, lowered while it is throttled. */
  private rateOf(app: AppRecord): number {
    const base = app.rateLimit ?? this.defaultRateLimit;
    const throttled = app.throttledUntil !== undefined && app.throttledUntil.getTime() > this.now().getTime();
    return throttled ? Math.max(1, Math.floor(base * this.policy.throttleFactor)) : base;
  }

  /**
   * Takes one request from the app's bucket (per minute; shared across processes when the
   * limiter is Redis's). The caller reports a refusal as misuse (`rate_limit`).
   */
  async admit(app: AppPrincipal): Promise<{ allowed: true; remaining: number } | AppRefusal> {
    const record = await this.recordOf(app);
    if (!record) return { code: 'token.invalid', detail: 'the app does not exist' };
    const limiter = this.options.limiter;
    if (!limiter) return { allowed: true, remaining: this.rateOf(record) };
    const limit = this.rateOf(record);
    const d = await limiter.take(`app:${record.id}`, { limit, windowMs: 60_000 });
    if (d.allowed) return { allowed: true, remaining: d.remaining };
    return {
      code: 'rate.limited',
      detail: `over ${limit} requests per minute`,
      retryAfterMs: Math.max(1, d.retryAfterMs),
    };
  }

  /** The rate policy an app is held to now (for `RateLimit-Policy` headers). */
  async ratePolicy(app: AppPrincipal): Promise<{ limit: number; windowMs: number }> {
    const record = await this.recordOf(app);
    return { limit: record ? this.rateOf(record) : this.defaultRateLimit, windowMs: 60_000 };
  }

  async misuse(app: AppPrincipal, kind: AppMisuse, detail: string): Promise<void> {
    const record = await this.recordOf(app);
    if (record) await this.recordMisuse(record, kind, detail);
  }

  /**
   * Records one misuse and acts on the count in the window: from `throttleAt` the app's rate is
   * lowered for a window, from `suspendAt` it is suspended (once) and the admins are alerted.
   */
  private async recordMisuse(app: AppRecord, kind: AppMisuse, detail: string): Promise<void> {
    const now = this.now();
    const misuse: AppMisuseRecord = {
      id: randomUUID(),
      appId: app.id,
      at: now,
      kind,
      detail: detail.slice(0, 500),
    };
    await this.store.apps.addMisuse(misuse);
    const current = (await this.store.apps.getApp(app.id)) ?? app;
    const windowStart = now.getTime() - this.policy.windowMs;
    const since = Math.max(windowStart, current.misuseSince?.getTime() ?? windowStart);
    const count = await this.store.apps.countMisuse(app.id, new Date(since));
    if (count >= this.policy.suspendAt) {
      let suspended = false;
      const reason = `automatic: ${count} misuse events in ${Math.round(this.policy.windowMs / 60_000)} min (latest: ${kind})`;
      await this.store.apps.updateApp(
        app.id,
        (current) => {
          if (current.state !== 'active' && current.state !== 'paused') return {};
          suspended = true;
          return { state: 'suspended', stateReason: reason };
        },
        now,
      );
      if (suspended) await this.announceSuspension(app, reason, count);
    } else if (count >= this.policy.throttleAt) {
      let throttled = false;
      const until = new Date(now.getTime() + this.policy.windowMs);
      await this.store.apps.updateApp(
        app.id,
        (current) => {
          if (current.throttledUntil && current.throttledUntil.getTime() > now.getTime()) return {};
          throttled = true;
          return { throttledUntil: until };
        },
        now,
      );
      if (throttled)
        await this.audit
          .append({
            actor: 'misuse monitor',
            actorKind: 'system',
            via: app.id,
            action: 'app.throttle',
            objectIds: [app.id],
            outcome: `throttled until ${until.toISOString()}`,
          })
          .catch((error: unknown) => this.warn('audit append failed', error));
    }
  }

  private async announceSuspension(app: AppRecord, reason: string, count: number): Promise<void> {
    await this.audit
      .append({
        actor: 'misuse monitor',
        actorKind: 'system',
        via: app.id,
        action: 'app.suspend',
        objectIds: [app.id],
        outcome: 'suspended',
      })
      .catch((error: unknown) => this.warn('audit append failed', error));
    const target = this.options.alert;
    if (!target) return;
    const id = `msg_${randomUUID()}`;
    const timestamp = Math.floor(this.now().getTime() / 1000);
    const body = JSON.stringify({
      type: 'app.suspended',
      timestamp: this.now().toISOString(),
      data: { app_id: app.id, name: app.name, environment: app.environment, reason, misuse_count: count },
    });
    const headers = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signAlert(target.secret, id, timestamp, body),
    };
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const res = await fetch(target.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(5_000),
        });
        if (res.ok) return;
        this.warn('admin alert refused', { status: res.status, attempt });
      } catch (error) {
        this.warn('admin alert failed', error);
      }
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }

  private warn(message: string, detail: unknown): void {
    const text = detail instanceof Error ? `${detail.name}: ${detail.message}` : detail;
    this.options.warn?.(
      message,
      typeof text === 'object' && text !== null ? (text as Record<string, unknown>) : { detail: text },
    );
  }

  /** Audits the call (`fhir.<interaction>`, the ids it returned, its status) and counts it. */
  async called(app: AppPrincipal, call: AppCall): Promise<void> {
    const now = this.now();
    await this.audit.append({
      actor: app.name,
      actorKind: 'app',
      via: app.appId,
      action: `fhir.${fhirInteraction(call.method, call.path)}`,
      ...(call.objectIds && call.objectIds.length > 0
        ? { objectIds: [...call.objectIds].slice(0, 1000) }
        : {}),
      ...(call.remoteAddress !== undefined ? { from: call.remoteAddress } : {}),
      outcome: String(call.status),
    });
    const today = day(now);
    const pending = this.pendingCalls.get(app.appId);
    if (pending && pending.day === today) {
      pending.calls += 1;
      pending.lastCallAt = now;
    } else {
      if (pending) await this.flushCalls();
      this.pendingCalls.set(app.appId, { day: today, calls: 1, lastCallAt: now });
    }
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.flushCalls().catch((error: unknown) => this.warn('call counts not written', error));
    }, this.options.callFlushMs ?? 1_000);
    this.flushTimer.unref?.();
  }

  /** Writes the call counts and last call times gathered so far, then checks each app's volume. */
  flushCalls(): Promise<void> {
    const run = async () => {
      if (this.pendingCalls.size === 0) return;
      const batch = [...this.pendingCalls.entries()];
      this.pendingCalls = new Map();
      await this.store.apps.recordCalls(batch.map(([appId, c]) => ({ appId, ...c })));
      for (const [appId, c] of batch) await this.checkVolume(appId, c.day);
    };
    this.flushing = this.flushing.then(run, run);
    return this.flushing;
  }

  private async checkVolume(appId: string, today: string): Promise<void> {
    const key = `${appId}:${today}`;
    if (this.volumeReported.has(key)) return;
    const since = day(new Date(Date.parse(`${today}T00:00:00Z`) - 7 * DAY_MS));
    const days = await this.store.apps.callsPerDay(appId, since);
    const todayCalls = days.find((d) => d.day === today)?.calls ?? 0;
    const before = days.filter((d) => d.day !== today);
    const mean = before.reduce((n, d) => n + d.calls, 0) / 7;
    if (todayCalls > this.policy.volumeFloor && todayCalls > mean * this.policy.volumeFactor) {
      this.volumeReported.add(key);
      const app = await this.store.apps.getApp(appId);
      if (app)
        await this.recordMisuse(
          app,
          'volume',
          `${todayCalls} calls today against a mean of ${Math.round(mean)} a day`,
        );
    }
  }

  /** Stops the call-count timer after writing what it holds. */
  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.flushCalls();
  }
}

/** The FHIR interaction of a call, from its method and path under `/fhir/R4`. */
export function fhirInteraction(method: string, path: string): string {
  const parts = path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((p) => p !== '');
  const m = method.toUpperCase();
  const op = parts.find((p) => p.startsWith('$'));
  if (op) return op;
  if (parts.length === 0) return m === 'POST' ? 'batch' : 'search-system';
  if (parts[0] === 'metadata') return 'capabilities';
  if (parts.includes('_history'))
    return parts.length >= 4 ? 'vread' : parts.length === 3 ? 'history-instance' : 'history-type';
  if (parts[1] === '_search') return 'search-type';
  if (parts.length === 1) return m === 'POST' ? 'create' : 'search-type';
  switch (m) {
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return 'read';
  }
}

function checkEvents(events: readonly string[]): string[] {
  if (!Array.isArray(events)) throw invalidInput('events must be a list');
  const known = new Set<string>(APP_EVENTS);
  const unknown = events.filter((e) => !known.has(e));
  if (unknown.length > 0)
    throw invalidInput(`unknown event ${unknown.map(String).join(', ')} (known: ${APP_EVENTS.join(', ')})`);
  return [...new Set(events)];
}

function checkReason(reason: string): void {
  if (typeof reason !== 'string' || reason.length < 1 || reason.length > 500 || /[\x00-\x1f]/.test(reason))
    throw invalidInput('a reason is 1 to 500 characters on one line');
}

function checkRate(perMinute: number): number {
  if (!Number.isInteger(perMinute) || perMinute < 1 || perMinute > 1_000_000)
    throw invalidInput('a rate limit is a whole number of requests per minute, 1 to 1,000,000');
  return perMinute;
}
