import {
  parseSmartScope,
  type AppCall,
  type AppGate,
  type AppMisuse,
  type AppPrincipal,
  type AppRefusal,
  type SmartScope,
} from '@sinew/auth';
import { randomBytes } from 'node:crypto';

/**
 * A stand-in for the app registry's `AppGate`, for the webhooks' route tests: tokens issued
 * here name an app with its scopes and environment; a token can be made to be refused (paused,
 * suspended, rate-limited); every admitted call and reported misuse is kept for the test to read.
 */
export interface AppGateDouble extends AppGate {
  /** A bearer token for the app. */
  issue(app: { appId: string; scopes: string[]; environment?: 'production' | 'sandbox' }): string;
  /** From now on the token is refused with this answer (by `authenticate`, or by `admit` for a rate limit). */
  refuse(token: string, refusal: AppRefusal): void;
  readonly calls: Array<{ appId: string; call: AppCall }>;
  readonly misuses: Array<{ appId: string; kind: AppMisuse; detail: string }>;
}

export function createAppGateDouble(): AppGateDouble {
  const tokens = new Map<string, AppPrincipal>();
  const refusals = new Map<string, AppRefusal>();
  const limited = new Map<string, AppRefusal>();
  const calls: Array<{ appId: string; call: AppCall }> = [];
  const misuses: Array<{ appId: string; kind: AppMisuse; detail: string }> = [];
  return {
    calls,
    misuses,
    issue(app) {
      const token = `app.${randomBytes(16).toString('hex')}`;
      tokens.set(token, {
        kind: 'app',
        appId: app.appId,
        name: app.appId,
        clientId: `client-${app.appId}`,
        environment: app.environment ?? 'production',
        scopes: app.scopes.map((s) => parseSmartScope(s)).filter((s): s is SmartScope => s !== undefined),
        writesEnabled: true,
      });
      return token;
    },
    refuse(token, refusal) {
      const app = tokens.get(token);
      if (refusal.code === 'rate.limited' && app) limited.set(app.appId, refusal);
      else refusals.set(token, refusal);
    },
    async authenticate(bearer) {
      const refused = refusals.get(bearer);
      if (refused) return refused;
      return tokens.get(bearer) ?? { code: 'token.invalid', detail: 'unknown or expired token' };
    },
    async admit(app) {
      return limited.get(app.appId) ?? { allowed: true, remaining: 100 };
    },
    async misuse(app, kind, detail) {
      misuses.push({ appId: app.appId, kind, detail });
    },
    async called(app, call) {
      calls.push({ appId: app.appId, call });
    },
  };
}
