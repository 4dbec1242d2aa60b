import type { AccessService, AuditLog } from '@sinew/auth';
import type { Engine, EngineLogger } from '@sinew/engine';
import type { Store } from '@sinew/store';
import type { OidcSignIn } from './oidc';
import type { RateLimiter, RatePolicy } from './rate-limit';

/** What the admin API's controllers and guard work with. */
export interface ApiDeps {
  engine: Engine;
  store: Store;
  access: AccessService;
  audit: AuditLog;
  limiter: RateLimiter;
  /** Requests per client and route. */
  rate: RatePolicy;
  logger: EngineLogger;
  /** SINEW_OAUTH_ISSUER: the engine's public URL (client assertions' `aud` is its /oauth/token). */
  oauthIssuer?: string;
  /** People's single sign-on, when SINEW_OIDC_ISSUER is set. */
  oidc?: OidcSignIn;
}

export const API_DEPS = Symbol('API_DEPS');
