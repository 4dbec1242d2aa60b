import { parseRoleMapping, roleFromClaim, type Role } from '@sinew/auth';
import * as oidc from 'openid-client';
import { ApiProblem } from './problem';

/** The OpenID Connect settings (SINEW_OIDC_*). */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  /** Absent: a public client (PKCE only). */
  clientSecret?: string;
  /** https://<host>/api/v1/session/oidc/callback, as registered at the provider. */
  redirectUrl: string;
  /** The claim holding the groups (`groups`). */
  roleClaim: string;
  /** `group:role,group:role`. */
  roles: string;
  /** What the sign-in page calls the provider. */
  name: string;
}

/** What the browser carries between the redirect to the provider and the callback. */
export interface SignInNote {
  state: string;
  nonce: string;
  verifier: string;
}

/** Who the provider vouched for, and the role their claim maps to. */
export interface SsoIdentity {
  username: string;
  role: Role;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Sign-in through an OpenID provider (authorization code flow with PKCE, state and nonce),
 * with `openid-client`: the redirect to the provider, and the callback's checks — state,
 * then the code exchange (PKCE verifier, ID token signature, issuer, audience, nonce) — and
 * the mapping of the role claim.
 */
export class OidcSignIn {
  readonly name: string;
  private readonly mapping: ReadonlyMap<string, Role>;
  private config: Promise<oidc.Configuration> | undefined;

  constructor(private readonly settings: OidcSettings) {
    this.name = settings.name;
    this.mapping = parseRoleMapping(settings.roles);
    if (this.mapping.size === 0)
      throw new Error(
        'SINEW_OIDC_ROLES maps no group to a role: nobody could sign in (e.g. sinew-admins:admin)',
      );
  }

  /** The provider's configuration, discovered once (again after a failure). */
  private configuration(): Promise<oidc.Configuration> {
    if (!this.config) {
      const issuer = new URL(this.settings.issuer);
      // Plain http only for a provider on this machine (tests, development).
      const insecure = issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname);
      this.config = oidc.discovery(
        issuer,
        this.settings.clientId,
        this.settings.clientSecret,
        this.settings.clientSecret === undefined ? oidc.None() : undefined,
        { timeout: 10, ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}) },
      );
      this.config.catch(() => {
        this.config = undefined;
      });
    }
    return this.config;
  }

  /** Where to send the browser, and what it must bring back (to be sealed in a cookie). */
  async start(): Promise<{ url: string; note: SignInNote }> {
    const config = await this.unavailableOnFailure(() => this.configuration());
    const note: SignInNote = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
    };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.settings.redirectUrl,
      scope: 'openid profile email',
      response_type: 'code',
      state: note.state,
      nonce: note.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(note.verifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, note };
  }

  /**
   * Completes a sign-in from the callback's query string: throws an `ApiProblem` for a state
   * that does not match, an error from the provider, a failed exchange, no usable username,
   * or no mapped role (403).
   */
  async finish(query: string, note: SignInNote): Promise<SsoIdentity> {
    const params = new URLSearchParams(query);
    if (params.get('state') !== note.state)
      throw new ApiProblem({
        status: 400,
        code: 'oidc.state_mismatch',
        detail: 'the sign-in answer does not belong to this browser’s sign-in (state mismatch): start again',
      });
    const error = params.get('error');
    if (error !== null)
      throw new ApiProblem({
        status: 403,
        code: 'oidc.denied',
        detail: `the identity provider refused the sign-in (${error.slice(0, 100)})`,
      });
    const config = await this.unavailableOnFailure(() => this.configuration());
    const current = new URL(this.settings.redirectUrl);
    current.search = params.toString();
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: note.verifier,
        expectedState: note.state,
        expectedNonce: note.nonce,
        idTokenExpected: true,
      });
      claims = { ...(tokens.claims() ?? {}) };
      if (claims[this.settings.roleClaim] === undefined || claims['preferred_username'] === undefined) {
        // Providers often put groups and profile claims in userinfo only.
        const info = await oidc.fetchUserInfo(config, tokens.access_token, String(claims['sub']));
        claims = { ...info, ...claims };
      }
    } catch (err) {
      if (err instanceof ApiProblem) throw err;
      throw new ApiProblem({
        status: 400,
        code: 'oidc.failed',
        detail: 'the identity provider’s answer could not be verified: start the sign-in again',
      });
    }
    const name = claims['preferred_username'] ?? claims['email'];
    if (typeof name !== 'string' || name === '')
      throw new ApiProblem({
        status: 403,
        code: 'oidc.no_username',
        detail: 'the identity provider gave neither preferred_username nor email',
      });
    const role = roleFromClaim(claims[this.settings.roleClaim], this.mapping);
    if (!role)
      throw new ApiProblem({
        status: 403,
        code: 'oidc.no_role',
        detail: `${name} signed in at the identity provider, but none of their ${this.settings.roleClaim} maps to a Sinew role: ask an administrator to add them to a mapped group`,
      });
    return { username: name, role };
  }

  private async unavailableOnFailure<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch {
      throw new ApiProblem({
        status: 503,
        code: 'oidc.unavailable',
        detail: 'the identity provider cannot be reached: try again, or sign in with a password',
      });
    }
  }
}
