import { randomBytes, randomUUID } from 'node:crypto';
import {
  StoreError,
  type ApiKeyRecord,
  type LoginState,
  type OAuthClientRecord,
  type Store,
  type UserRecord,
} from '@sinew/store';
import { generateKey, hashKey, KEY_MARK, parseKey, sameHash } from './api-keys';
import { conflict, invalidInput, notFound } from './errors';
import { jwtVerify, SignJWT } from 'jose';
import {
  assertionClient,
  CLIENT_ID,
  generateClientId,
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
import {
  afterFailure,
  afterSuccess,
  DEFAULT_LOCKOUT,
  hashPassword,
  lockedFor,
  MAX_PASSWORD_LENGTH,
  passwordProblem,
  verifyPassword,
  type LockoutPolicy,
} from './passwords';
import { isSsoHash, SSO_PASSWORD_MARK } from './oidc';
import { hasScope, isRole, isScope, scopesOf, type Principal, type Role, type Scope } from './scopes';

/** A user as listings show it (no password hash). */
export interface UserInfo {
  id: string;
  username: string;
  role: Role;
  /** The role's scopes and the extra ones. */
  scopes: Scope[];
  extraScopes: Scope[];
  /** undefined: every channel. */
  channels?: string[];
  state: 'active' | 'disabled';
  /** Signs in through single sign-on (OpenID Connect), never with a password. */
  sso?: true;
  /** Set while the account is locked after failed logins. */
  lockedUntil?: Date;
  lastLoginAt?: Date;
  lastLoginFrom?: string;
  createdAt: Date;
}

export type KeyState = 'active' | 'paused' | 'revoked' | 'expired';

/** An API key as listings show it (never its secret nor its hash). */
export interface KeyInfo {
  id: string;
  name: string;
  /** The 8 identifying characters (the key reads `snw_<prefix>_…`). */
  prefix: string;
  scopes: Scope[];
  channels?: string[];
  createdAt: Date;
  createdBy?: string;
  expiresAt?: Date;
  revokedAt?: Date;
  lastUsedAt?: Date;
  lastUsedFrom?: string;
  state: KeyState;
}

export type ClientState = 'active' | 'paused' | 'revoked';

/** An OAuth2 client as listings show it (never its secret nor its hash). */
export interface ClientInfo {
  id: string;
  name: string;
  scopes: Scope[];
  channels?: string[];
  /** How it authenticates at the token endpoint. */
  auth: 'client_secret' | 'private_key_jwt';
  state: ClientState;
  createdAt: Date;
  createdBy?: string;
  revokedAt?: Date;
  lastUsedAt?: Date;
  lastUsedFrom?: string;
}

/** A token request as the token endpoint received it (form fields and the Basic credentials). */
export interface TokenRequest {
  grantType?: string;
  scope?: string;
  clientId?: string;
  clientSecret?: string;
  clientAssertionType?: string;
  clientAssertion?: string;
  /** From `Authorization: Basic` (client_secret_basic), already form-decoded. */
  basic?: { clientId: string; clientSecret: string };
  /** The names of the token endpoint a client assertion's `aud` may carry. */
  audiences: readonly string[];
  from?: string;
}

/** RFC 6749 §5.1 answer. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  /** Who got it (for the audit log; not part of the answer). */
  principal: Principal;
}

export type LoginResult =
  { ok: true; principal: Principal } | { ok: false; reason: 'invalid' | 'locked'; retryAfterMs?: number };

export interface AccessServiceOptions {
  now?: () => Date;
  lockout?: Partial<LockoutPolicy>;
  /** A key's last use is written at most this often (default one minute), unless it comes from elsewhere. */
  keyTouchIntervalMs?: number;
  /** A browser session ends after this long without a request (default 30 minutes). */
  sessionIdleMs?: number;
  /** … and this long after sign-in, whatever happens (default 12 hours). */
  sessionMaxMs?: number;
  /** Lifetime of an OAuth2 access token (default 600 s). */
  tokenTtlS?: number;
  /** The access tokens' `iss` (default `sinew`). */
  tokenIssuer?: string;
}

/** The access tokens' `aud`: the admin API. */
export const TOKEN_AUDIENCE = 'sinew-api';

/** A browser session as a sign-in creates it: the cookie's value and the CSRF token, shown once. */
export interface NewSession {
  token: string;
  csrfToken: string;
  expiresAt: Date;
}

/** Who a session cookie stands for, and the CSRF token its unsafe requests must carry. */
export interface SessionPrincipal {
  principal: Principal;
  csrfToken: string;
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const KEY_NAME = /^[\x20-\x7e]{1,100}$/;
const CHANNEL_ID = /^[^\s,]{1,200}$/;
/** Unknown usernames whose failures are counted in memory (oldest forgotten first). */
const MAX_UNKNOWN_TRACKED = 10_000;

/**
 * People, API keys and OAuth2 clients: creating them, checking a login or a key, listing, disabling,
 * revoking. Nothing is cached: a revoked, paused or disabled credential stops working on the
 * next call, in every process sharing the ledger.
 */
export class AccessService {
  private readonly now: () => Date;
  private readonly lockout: LockoutPolicy;
  private readonly touchIntervalMs: number;
  private readonly sessionIdleMs: number;
  private readonly sessionMaxMs: number;
  /** A hash to verify against for unknown users, so their answer takes as long as a wrong password. */
  private dummyHash: Promise<string> | undefined;
  /**
   * Failures for usernames that do not exist, so they lock exactly as real ones do and the
   * answers do not tell an attacker which usernames exist (per process).
   */
  private readonly unknownLogins = new Map<string, LoginState>();
  private readonly tokenTtlS: number;
  private readonly tokenIssuer: string;
  private tokenKeys: Promise<TokenKeys> | undefined;

  constructor(
    private readonly store: Store,
    options: AccessServiceOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.lockout = { ...DEFAULT_LOCKOUT, ...options.lockout };
    this.touchIntervalMs = options.keyTouchIntervalMs ?? 60_000;
    this.sessionIdleMs = options.sessionIdleMs ?? 30 * 60_000;
    this.sessionMaxMs = options.sessionMaxMs ?? 12 * 3_600_000;
    this.tokenTtlS = options.tokenTtlS ?? 600;
    this.tokenIssuer = options.tokenIssuer ?? 'sinew';
  }

  /**
   * Opens a browser session for a user who has just signed in: a random cookie value (the
   * ledger keeps its sha256) and a CSRF token.
   */
  async createSession(userId: string, from?: string): Promise<NewSession> {
    const token = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.sessionMaxMs);
    await this.store.access.insertSession({
      idHash: hashKey(token),
      userId,
      csrfToken,
      createdAt: now,
      expiresAt,
      ...(from !== undefined ? { createdFrom: from } : {}),
    });
    return { token, csrfToken, expiresAt };
  }

  /**
   * The user a session cookie stands for, or undefined when it is unknown, signed out,
   * idle too long, past its absolute lifetime, or its user is disabled. Nothing is cached.
   */
  async authenticateSession(token: string): Promise<SessionPrincipal | undefined> {
    if (typeof token !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const idHash = hashKey(token);
    const session = await this.store.access.getSession(idHash);
    const now = this.now();
    if (!session || session.revokedAt) return undefined;
    if (now.getTime() >= session.expiresAt.getTime()) return undefined;
    if (now.getTime() - session.lastSeenAt.getTime() >= this.sessionIdleMs) return undefined;
    const principal = await this.principalOfUser(session.userId);
    if (!principal) return undefined;
    // The idle clock moves at most once a minute (one write per minute per session).
    if (now.getTime() - session.lastSeenAt.getTime() >= Math.min(60_000, this.sessionIdleMs / 2))
      await this.store.access.touchSession(idHash, now);
    return { principal, csrfToken: session.csrfToken };
  }

  /** Signs a session out (server side: the cookie stops working everywhere). */
  async endSession(token: string): Promise<boolean> {
    if (typeof token !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(token)) return false;
    return this.store.access.revokeSession(hashKey(token), this.now());
  }

  async createUser(input: {
    username: string;
    role: Role;
    password: string;
    channels?: string[];
    extraScopes?: Scope[];
  }): Promise<{ id: string }> {
    if (typeof input?.username !== 'string' || !USERNAME.test(input.username)) {
      throw invalidInput(
        'a username is 1 to 64 letters, digits, dots, underscores, @ or hyphens, starting with a letter or digit',
      );
    }
    if (!isRole(input.role))
      throw invalidInput(`the role is admin, engineer, operator or viewer, not ${String(input.role)}`);
    const problem = passwordProblem(input.password);
    if (problem) throw invalidInput(problem);
    const channels = checkChannels(input.channels);
    const extraScopes = checkScopes(input.extraScopes ?? [], true);
    const id = randomUUID();
    try {
      await this.store.access.insertUser({
        id,
        username: input.username,
        role: input.role,
        passwordHash: await hashPassword(input.password),
        ...(channels ? { channels } : {}),
        extraScopes,
        createdAt: this.now(),
      });
    } catch (error) {
      if (error instanceof StoreError && error.code === 'store.conflict') {
        throw conflict(`a user named ${input.username} exists`);
      }
      throw error;
    }
    return { id };
  }

  /**
   * Checks a username and password. One answer, `invalid`, for an unknown user, a disabled
   * one and a wrong password, each after one argon2 verification (unknown users verify
   * against a dummy hash). After repeated failures the account answers `locked` with the
   * time left, without checking the password, until the lock ends.
   */
  async login(username: string, password: string, from?: string): Promise<LoginResult> {
    const now = this.now();
    const name = typeof username === 'string' ? username : '';
    const guess = typeof password === 'string' && password.length <= MAX_PASSWORD_LENGTH * 4 ? password : '';
    const user = USERNAME.test(name) ? await this.store.access.getUserByName(name) : undefined;
    if (!user || user.state !== 'active') return this.unknownLogin(name, guess, now);
    const wait = lockedFor(user, now);
    if (wait > 0) return { ok: false, reason: 'locked', retryAfterMs: wait };
    const ok = await verifyPassword(user.passwordHash, guess);
    if (!ok) {
      const state = await this.store.access.updateLoginState(user.id, (s) =>
        afterFailure(s, now, this.lockout),
      );
      const locked = state ? lockedFor(state, now) : 0;
      return locked > 0
        ? { ok: false, reason: 'locked', retryAfterMs: locked }
        : { ok: false, reason: 'invalid' };
    }
    const state = await this.store.access.updateLoginState(user.id, (s) => afterSuccess(s, now, from));
    const locked = state ? lockedFor(state, now) : 0;
    if (!state) return { ok: false, reason: 'invalid' };
    if (locked > 0) return { ok: false, reason: 'locked', retryAfterMs: locked };
    return { ok: true, principal: userPrincipal(user) };
  }

  /**
   * A person the OpenID provider vouched for, with the role their claim maps to: creates
   * their user (marked SSO, no password) or brings its role up to date. Throws `conflict`
   * when the username belongs to a local (password) account, which SSO never takes over,
   * and answers undefined when the SSO user was disabled here.
   */
  async ssoUser(input: { username: string; role: Role }): Promise<Principal | undefined> {
    if (typeof input?.username !== 'string' || !USERNAME.test(input.username))
      throw invalidInput("the provider's username is not a valid Sinew username");
    if (!isRole(input.role)) throw invalidInput(`not a role: ${String(input.role)}`);
    const existing = await this.store.access.getUserByName(input.username);
    if (existing && !isSsoHash(existing.passwordHash))
      throw conflict(`a local account named ${input.username} exists: single sign-on does not take it over`);
    if (!existing) {
      try {
        await this.store.access.insertUser({
          id: randomUUID(),
          username: input.username,
          role: input.role,
          passwordHash: SSO_PASSWORD_MARK,
          extraScopes: [],
          createdAt: this.now(),
        });
      } catch (error) {
        // Two first sign-ins at once: the other one created it.
        if (!(error instanceof StoreError && error.code === 'store.conflict')) throw error;
      }
    } else if (existing.role !== input.role) {
      await this.store.access.updateUser(existing.id, { role: input.role }, this.now());
    }
    const user = await this.store.access.getUserByName(input.username);
    if (!user || user.state !== 'active' || !isSsoHash(user.passwordHash)) return undefined;
    await this.store.access.updateLoginState(user.id, (s) => ({ ...s, lastLoginAt: this.now() }));
    return userPrincipal(user);
  }

  /**
   * Signs a short-lived, tamper-proof note for the browser to carry (the OpenID sign-in's
   * state, nonce and PKCE verifier), with the shared signing key: any API process can read
   * it back. It cannot pass for an access token (another `typ` and `aud`).
   */
  async sealNote(note: Record<string, string>, ttlS: number): Promise<string> {
    const keys = await this.keys();
    const iat = Math.floor(this.now().getTime() / 1000);
    return new SignJWT(note)
      .setProtectedHeader({ alg: 'ES256', kid: keys.kid, typ: 'sinew-note+jwt' })
      .setAudience('sinew-note')
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttlS)
      .sign(keys.privateKey);
  }

  /** A note `sealNote` signed, or undefined when it was altered, is not one, or has expired. */
  async openNote(text: string): Promise<Record<string, unknown> | undefined> {
    if (typeof text !== 'string' || text.length > 8192) return undefined;
    try {
      const { payload } = await jwtVerify(text, (await this.keys()).publicKey, {
        algorithms: ['ES256'],
        audience: 'sinew-note',
        typ: 'sinew-note+jwt',
        currentDate: this.now(),
      });
      return payload;
    } catch {
      return undefined;
    }
  }

  /** Every user, by username. */
  async listUsers(): Promise<UserInfo[]> {
    const now = this.now();
    return (await this.store.access.listUsers()).map((u) => userInfo(u, now));
  }

  async getUser(id: string): Promise<UserInfo | undefined> {
    const user = await this.store.access.getUser(id);
    return user && userInfo(user, this.now());
  }

  /** The user's principal as a login would give it (for sessions that re-read the user). */
  async principalOfUser(id: string): Promise<Principal | undefined> {
    const user = await this.store.access.getUser(id);
    return user && user.state === 'active' ? userPrincipal(user) : undefined;
  }

  /**
   * Refuses (`conflict`) a change that would leave no active administrator: nobody could then
   * manage users or keys through the API or the console.
   */
  private async keepAnAdministrator(id: string, change: string): Promise<void> {
    const users = await this.store.access.listUsers();
    const user = users.find((u) => u.id === id);
    if (!user || user.role !== 'admin' || user.state !== 'active') return;
    if (users.some((u) => u.id !== id && u.role === 'admin' && u.state === 'active')) return;
    throw conflict(`${user.username} is the last active administrator: ${change} would leave none`);
  }

  /**
   * A disabled user cannot log in (the next login answers `invalid`); their sessions end.
   * The last active administrator cannot be disabled (`conflict`).
   */
  async disableUser(id: string): Promise<void> {
    await this.keepAnAdministrator(id, 'disabling them');
    if (!(await this.store.access.updateUser(id, { state: 'disabled' }, this.now()))) {
      throw notFound(`user ${id} does not exist`);
    }
    await this.store.access.revokeUserSessions(id, this.now());
  }

  async enableUser(id: string): Promise<void> {
    if (!(await this.store.access.updateUser(id, { state: 'active' }, this.now()))) {
      throw notFound(`user ${id} does not exist`);
    }
  }

  /**
   * Gives a user another role; their sessions hold its scopes from their next request. A user
   * who signs in through the OpenID provider takes their role from its claim (`conflict`), and
   * the last active administrator keeps theirs (`conflict`).
   */
  async setRole(id: string, role: Role): Promise<void> {
    if (!isRole(role))
      throw invalidInput(`the role is admin, engineer, operator or viewer, not ${String(role)}`);
    const user = await this.store.access.getUser(id);
    if (!user) throw notFound(`user ${id} does not exist`);
    if (isSsoHash(user.passwordHash))
      throw conflict(`${user.username} signs in through the OpenID provider, whose role claim sets the role`);
    if (role !== 'admin') await this.keepAnAdministrator(id, 'another role');
    if (!(await this.store.access.updateUser(id, { role }, this.now()))) {
      throw notFound(`user ${id} does not exist`);
    }
  }

  /** Sets a new password and lifts a lockout. */
  async setPassword(id: string, password: string): Promise<void> {
    const problem = passwordProblem(password);
    if (problem) throw invalidInput(problem);
    const passwordHash = await hashPassword(password);
    if (!(await this.store.access.updateUser(id, { passwordHash }, this.now()))) {
      throw notFound(`user ${id} does not exist`);
    }
    await this.store.access.revokeUserSessions(id, this.now());
    await this.store.access.updateLoginState(id, (s) => ({
      ...s,
      failedLogins: 0,
      lockouts: 0,
      lockedUntil: undefined,
    }));
  }

  /**
   * Creates an API key. The whole key (`secret`) is in the answer only: the ledger keeps its
   * sha256.
   */
  async createKey(input: {
    name: string;
    scopes: Scope[];
    channels?: string[];
    expiresAt?: Date;
    createdBy?: string;
  }): Promise<{ id: string; prefix: string; secret: string }> {
    if (typeof input?.name !== 'string' || !KEY_NAME.test(input.name)) {
      throw invalidInput('a key name is 1 to 100 printable ASCII characters');
    }
    const scopes = checkScopes(input.scopes, false);
    const channels = checkChannels(input.channels);
    const now = this.now();
    if (input.expiresAt !== undefined) {
      if (!(input.expiresAt instanceof Date) || Number.isNaN(input.expiresAt.getTime())) {
        throw invalidInput('expiresAt must be a valid date');
      }
      if (input.expiresAt.getTime() <= now.getTime()) throw invalidInput('expiresAt must be in the future');
    }
    for (let tries = 1; ; tries++) {
      const key = generateKey();
      const id = randomUUID();
      try {
        await this.store.access.insertKey({
          id,
          prefix: key.prefix,
          name: input.name,
          secretHash: hashKey(key.token),
          scopes,
          ...(channels ? { channels } : {}),
          createdAt: now,
          ...(input.createdBy !== undefined ? { createdBy: input.createdBy } : {}),
          ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
        });
        return { id, prefix: key.prefix, secret: key.token };
      } catch (error) {
        // Two keys drew the same prefix (1 in 2.8 × 10¹² per pair): draw again.
        if (error instanceof StoreError && error.code === 'store.conflict' && tries < 3) continue;
        throw error;
      }
    }
  }

  /**
   * The caller a key stands for, or undefined when the token is malformed, unknown, wrong,
   * revoked, paused or expired. Records when and from where the key was last used (written
   * at most once a minute per key, or when the address changes).
   */
  async authenticateKey(token: string, from?: string): Promise<Principal | undefined> {
    const parsed = parseKey(token);
    if (!parsed) return undefined;
    const key = await this.store.access.getKeyByPrefix(parsed.prefix);
    if (!key || !sameHash(hashKey(token), key.secretHash)) return undefined;
    const now = this.now();
    if (keyState(key, now) !== 'active') return undefined;
    const last = key.lastUsedAt?.getTime();
    if (last === undefined || now.getTime() - last >= this.touchIntervalMs || key.lastUsedFrom !== from) {
      await this.store.access.touchKey(key.id, now, from);
    }
    const principal: Principal = {
      kind: 'key',
      id: key.id,
      name: key.name,
      scopes: key.scopes.filter(isScope),
      via: key.prefix,
    };
    if (key.channels) principal.channels = key.channels;
    return principal;
  }

  /** Every key, newest first. */
  async listKeys(): Promise<KeyInfo[]> {
    const now = this.now();
    return (await this.store.access.listKeys()).map((k) => keyInfo(k, now));
  }

  /** The key's id from its id, its prefix or `snw_<prefix>` (what listings and logs show). */
  async findKeyId(reference: string): Promise<string | undefined> {
    const ref = reference.startsWith(KEY_MARK)
      ? (reference.slice(KEY_MARK.length).split('_')[0] ?? '')
      : reference;
    const byPrefix = /^[a-z0-9]{8}$/.test(ref) ? await this.store.access.getKeyByPrefix(ref) : undefined;
    if (byPrefix) return byPrefix.id;
    return (await this.store.access.getKey(reference))?.id;
  }

  /** Revokes a key for good (revoking it again changes nothing). */
  async revokeKey(id: string): Promise<void> {
    if (!(await this.store.access.setKeyState(id, 'revoked', this.now())))
      throw notFound(`key ${id} does not exist`);
  }

  /** Stops a key until it is resumed. */
  async pauseKey(id: string): Promise<void> {
    await this.setUsable(id, 'paused');
  }

  async resumeKey(id: string): Promise<void> {
    await this.setUsable(id, 'active');
  }

  private async setUsable(id: string, state: 'active' | 'paused'): Promise<void> {
    const key = await this.store.access.setKeyState(id, state, this.now());
    if (!key) throw notFound(`key ${id} does not exist`);
    if (key.state === 'revoked') throw conflict(`key ${id} is revoked`);
  }

  /**
   * Registers an OAuth2 client. With `publicKey` (a JWK or PEM public key) it authenticates
   * by `private_key_jwt` and has no secret; otherwise a secret is generated, in the answer
   * only (the ledger keeps its sha256).
   */
  async createClient(input: {
    name: string;
    scopes: Scope[];
    channels?: string[];
    publicKey?: string;
    createdBy?: string;
  }): Promise<{ id: string; secret?: string }> {
    if (typeof input?.name !== 'string' || !KEY_NAME.test(input.name)) {
      throw invalidInput('a client name is 1 to 100 printable ASCII characters');
    }
    const scopes = checkScopes(input.scopes, false);
    const channels = checkChannels(input.channels);
    let publicJwk: string | undefined;
    if (input.publicKey !== undefined) {
      try {
        publicJwk = JSON.stringify(publicJwkOf(input.publicKey));
      } catch (error) {
        throw invalidInput(error instanceof Error ? error.message : String(error));
      }
    }
    const secret = publicJwk === undefined ? generateClientSecret() : undefined;
    const id = generateClientId();
    await this.store.access.insertClient({
      id,
      name: input.name,
      scopes,
      ...(channels ? { channels } : {}),
      ...(secret !== undefined ? { secretHash: hashKey(secret) } : {}),
      ...(publicJwk !== undefined ? { publicJwk } : {}),
      createdAt: this.now(),
      ...(input.createdBy !== undefined ? { createdBy: input.createdBy } : {}),
    });
    return secret !== undefined ? { id, secret } : { id };
  }

  /** Every client, newest first. */
  async listClients(): Promise<ClientInfo[]> {
    return (await this.store.access.listClients()).map(clientInfo);
  }

  async getClient(id: string): Promise<ClientInfo | undefined> {
    const client = await this.store.access.getClient(id);
    return client && clientInfo(client);
  }

  /** Revokes a client for good: its tokens stop working on their next request. */
  async revokeClient(id: string): Promise<void> {
    if (!(await this.store.access.setClientState(id, 'revoked', this.now())))
      throw notFound(`client ${id} does not exist`);
  }

  /** Stops a client (and its tokens) until it is resumed. */
  async pauseClient(id: string): Promise<void> {
    await this.setClientUsable(id, 'paused');
  }

  async resumeClient(id: string): Promise<void> {
    await this.setClientUsable(id, 'active');
  }

  private async setClientUsable(id: string, state: 'active' | 'paused'): Promise<void> {
    const client = await this.store.access.setClientState(id, state, this.now());
    if (!client) throw notFound(`client ${id} does not exist`);
    if (client.state === 'revoked') throw conflict(`client ${id} is revoked`);
  }

  /** The signing key every process shares (the ledger's; created by the first process that needs it). */
  private keys(): Promise<TokenKeys> {
    this.tokenKeys ??= (async () =>
      loadSigningKey(await this.store.access.signingKey(await newSigningKey(this.now()))))();
    this.tokenKeys.catch(() => {
      this.tokenKeys = undefined;
    });
    return this.tokenKeys;
  }

  /**
   * The client credentials grant (RFC 6749 §4.4): authenticates the client by its secret
   * (Basic or form) or by a signed assertion (RFC 7523), checks the requested scopes are
   * among the client's, and signs a short-lived access token. Throws `OAuthError`.
   */
  async issueToken(req: TokenRequest): Promise<TokenResponse> {
    const client = await this.authenticateClient(req);
    if (req.grantType === undefined || req.grantType === '')
      throw new OAuthError('invalid_request', 'grant_type is required');
    if (req.grantType !== 'client_credentials')
      throw new OAuthError('unsupported_grant_type', 'only grant_type=client_credentials is supported');
    const held: Principal = {
      kind: 'client',
      id: client.id,
      name: client.name,
      scopes: client.scopes.filter(isScope),
    };
    let scopes: Scope[] = [...held.scopes];
    if (req.scope !== undefined && req.scope.trim() !== '') {
      const asked = [...new Set(req.scope.split(' ').filter((s) => s !== ''))];
      const refused = asked.filter((s) => !isScope(s) || !hasScope(held, s));
      if (refused.length > 0)
        throw new OAuthError('invalid_scope', `the client may not have the scope ${refused.join(', ')}`);
      scopes = asked as Scope[];
    }
    const now = this.now();
    const token = await signAccessToken(await this.keys(), {
      issuer: this.tokenIssuer,
      audience: TOKEN_AUDIENCE,
      clientId: client.id,
      scopes,
      now,
      ttlS: this.tokenTtlS,
    });
    await this.store.access.touchClient(client.id, now, req.from);
    const principal: Principal = { ...held, scopes, via: client.id };
    if (client.channels) principal.channels = client.channels;
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: this.tokenTtlS,
      scope: scopes.join(' '),
      principal,
    };
  }

  private async authenticateClient(req: TokenRequest): Promise<OAuthClientRecord> {
    const methods = [
      req.basic !== undefined,
      req.clientSecret !== undefined,
      req.clientAssertion !== undefined || req.clientAssertionType !== undefined,
    ].filter(Boolean).length;
    if (methods === 0) throw new OAuthError('invalid_client', 'client authentication is required');
    if (methods > 1) throw new OAuthError('invalid_request', 'use one client authentication method');
    const unknown = new OAuthError(
      'invalid_client',
      'the client is unknown, its credentials are wrong, or it is paused or revoked',
    );
    const usable = (c: OAuthClientRecord | undefined): c is OAuthClientRecord =>
      c !== undefined && c.state === 'active';
    if (req.clientAssertion !== undefined || req.clientAssertionType !== undefined) {
      if (req.clientAssertionType !== JWT_BEARER_ASSERTION)
        throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
      if (!req.clientAssertion) throw new OAuthError('invalid_client', 'client_assertion is required');
      const id = assertionClient(req.clientAssertion);
      if (id === undefined || !CLIENT_ID.test(id) || (req.clientId !== undefined && req.clientId !== id))
        throw unknown;
      const client = await this.store.access.getClient(id);
      if (!usable(client) || client.publicJwk === undefined) throw unknown;
      const now = this.now();
      const { jti, exp } = await verifyAssertion(req.clientAssertion, client.publicJwk, {
        clientId: id,
        audiences: req.audiences,
        now,
      });
      if (!(await this.store.access.useAssertion(`${id}:${jti}`, exp, now)))
        throw new OAuthError('invalid_client', 'the client assertion was already used (its jti is spent)');
      return client;
    }
    const id = req.basic?.clientId ?? req.clientId;
    const secret = req.basic?.clientSecret ?? req.clientSecret ?? '';
    if (id === undefined || !CLIENT_ID.test(id)) throw unknown;
    const client = await this.store.access.getClient(id);
    const hash = hashKey(secret);
    if (!client?.secretHash || !sameHash(hash, client.secretHash) || !usable(client)) throw unknown;
    return client;
  }

  /**
   * The client an access token stands for, or undefined when the token is not one of ours,
   * has expired, or its client is now paused, revoked or gone (looked up on every call). The
   * scopes are the token's, less any the client has lost since.
   */
  async authenticateToken(token: string): Promise<Principal | undefined> {
    if (typeof token !== 'string' || token.length > 4096) return undefined;
    const claims = await verifyAccessToken(await this.keys(), token, {
      issuer: this.tokenIssuer,
      audience: TOKEN_AUDIENCE,
      now: this.now(),
    });
    if (!claims) return undefined;
    const client = await this.store.access.getClient(claims.clientId);
    if (!client || client.state !== 'active') return undefined;
    const held: Principal = {
      kind: 'client',
      id: client.id,
      name: client.name,
      scopes: client.scopes.filter(isScope),
    };
    const principal: Principal = {
      ...held,
      scopes: claims.scopes.filter((s): s is Scope => isScope(s) && hasScope(held, s)),
      via: client.id,
    };
    if (client.channels) principal.channels = client.channels;
    return principal;
  }

  private async unknownLogin(username: string, password: string, now: Date): Promise<LoginResult> {
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    // Names that cannot be usernames share one counter (an attacker's megabyte-long names
    // take no memory).
    const name = USERNAME.test(username) ? username : '';
    const previous = this.unknownLogins.get(name) ?? { failedLogins: 0, lockouts: 0 };
    const wait = lockedFor(previous, now);
    if (wait > 0) return { ok: false, reason: 'locked', retryAfterMs: wait };
    await verifyPassword(await this.dummyHash, password);
    const next = afterFailure(previous, now, this.lockout);
    this.unknownLogins.delete(name);
    this.unknownLogins.set(name, next);
    if (this.unknownLogins.size > MAX_UNKNOWN_TRACKED) {
      const oldest = this.unknownLogins.keys().next().value;
      if (oldest !== undefined) this.unknownLogins.delete(oldest);
    }
    const locked = lockedFor(next, now);
    return locked > 0
      ? { ok: false, reason: 'locked', retryAfterMs: locked }
      : { ok: false, reason: 'invalid' };
  }
}

function userPrincipal(user: UserRecord): Principal {
  const role = user.role as Role;
  const principal: Principal = {
    kind: 'user',
    id: user.id,
    name: user.username,
    scopes: scopesOf(role, user.extraScopes.filter(isScope)),
  };
  if (user.channels) principal.channels = user.channels;
  return principal;
}

function userInfo(u: UserRecord, now: Date): UserInfo {
  const role = u.role as Role;
  const extraScopes = u.extraScopes.filter(isScope);
  const info: UserInfo = {
    id: u.id,
    username: u.username,
    role,
    scopes: scopesOf(role, extraScopes),
    extraScopes,
    state: u.state,
    createdAt: u.createdAt,
  };
  if (u.channels) info.channels = u.channels;
  if (isSsoHash(u.passwordHash)) info.sso = true;
  if (u.lockedUntil && u.lockedUntil.getTime() > now.getTime()) info.lockedUntil = u.lockedUntil;
  if (u.lastLoginAt) info.lastLoginAt = u.lastLoginAt;
  if (u.lastLoginFrom !== undefined) info.lastLoginFrom = u.lastLoginFrom;
  return info;
}

function clientInfo(c: OAuthClientRecord): ClientInfo {
  const info: ClientInfo = {
    id: c.id,
    name: c.name,
    scopes: c.scopes.filter(isScope),
    auth: c.publicJwk !== undefined ? 'private_key_jwt' : 'client_secret',
    state: c.state,
    createdAt: c.createdAt,
  };
  if (c.channels) info.channels = c.channels;
  if (c.createdBy !== undefined) info.createdBy = c.createdBy;
  if (c.revokedAt) info.revokedAt = c.revokedAt;
  if (c.lastUsedAt) info.lastUsedAt = c.lastUsedAt;
  if (c.lastUsedFrom !== undefined) info.lastUsedFrom = c.lastUsedFrom;
  return info;
}

function keyState(k: ApiKeyRecord, now: Date): KeyState {
  if (k.state === 'revoked') return 'revoked';
  if (k.expiresAt && k.expiresAt.getTime() <= now.getTime()) return 'expired';
  return k.state;
}

function keyInfo(k: ApiKeyRecord, now: Date): KeyInfo {
  const info: KeyInfo = {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes.filter(isScope),
    createdAt: k.createdAt,
    state: keyState(k, now),
  };
  if (k.channels) info.channels = k.channels;
  if (k.createdBy !== undefined) info.createdBy = k.createdBy;
  if (k.expiresAt) info.expiresAt = k.expiresAt;
  if (k.revokedAt) info.revokedAt = k.revokedAt;
  if (k.lastUsedAt) info.lastUsedAt = k.lastUsedAt;
  if (k.lastUsedFrom !== undefined) info.lastUsedFrom = k.lastUsedFrom;
  return info;
}

function checkScopes(scopes: unknown, mayBeEmpty: boolean): Scope[] {
  if (!Array.isArray(scopes)) throw invalidInput('scopes must be a list');
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0) throw invalidInput(`unknown scope ${unknown.map(String).join(', ')}`);
  if (!mayBeEmpty && scopes.length === 0) throw invalidInput('a key needs at least one scope');
  return [...new Set(scopes as Scope[])];
}

function checkChannels(channels: unknown): string[] | undefined {
  if (channels === undefined) return undefined;
  if (!Array.isArray(channels) || channels.length === 0) {
    throw invalidInput('channels must be a non-empty list (leave it out for every channel)');
  }
  for (const c of channels) {
    if (typeof c !== 'string' || !CHANNEL_ID.test(c)) throw invalidInput(`not a channel id: ${String(c)}`);
  }
  return [...new Set(channels as string[])];
}
