export * from './scopes';
export * from './errors';
export {
  AccessService,
  TOKEN_AUDIENCE,
  type AccessServiceOptions,
  type ClientInfo,
  type ClientState,
  type TokenRequest,
  type TokenResponse,
  type KeyInfo,
  type KeyState,
  type LoginResult,
  type NewSession,
  type SessionPrincipal,
  type UserInfo,
} from './access.service';
export {
  AuditLog,
  auditFilter,
  auditHash,
  GENESIS_HASH,
  type AuditInput,
  type AuditRecord,
  type AuditSearchInput,
  type VerifyResult,
} from './audit-log';
export { generateKey, hashKey, parseKey, sameHash, KEY_MARK, type GeneratedKey } from './api-keys';
export {
  afterFailure,
  afterSuccess,
  DEFAULT_LOCKOUT,
  hashPassword,
  lockedFor,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  passwordProblem,
  verifyPassword,
  type LockoutPolicy,
} from './passwords';
export {
  CLIENT_ID,
  JWT_BEARER_ASSERTION,
  MAX_ASSERTION_LIFETIME_S,
  OAuthError,
  publicJwkOf,
  type OAuthErrorCode,
} from './oauth';
export { isSsoHash, parseRoleMapping, roleFromClaim, SSO_PASSWORD_MARK } from './oidc';
export * from './smart-scopes';
export {
  APP_EVENTS,
  APP_ID,
  APP_STATES,
  APP_TOKEN_AUDIENCE,
  APP_TOKEN_TTL_S,
  AppsService,
  DEFAULT_MISUSE,
  fhirInteraction,
  isAppClientId,
  normaliseJwks,
  parseAppScopes,
  signAlert,
  tokenRequestClient,
  touchesOf,
  type AdminAlertTarget,
  type AppDetail,
  type AppEvent,
  type AppInfo,
  type AppRateLimiter,
  type AppsServiceOptions,
  type AppTokenRequest,
  type AppTokenResponse,
  type MisusePolicy,
  type NewApp,
} from './apps.service';
