import {
  parseSmartScope,
  type AppCall,
  type AppGate,
  type AppMisuse,
  type AppPrincipal,
  type AppRefusal,
  type SmartScope,
} from '@sinew/auth';

/** An app the double knows: its bearer token and how it stands. */
export interface WritesTestApp {
  token: string;
  appId: string;
  scopes: string;
  environment?: AppPrincipal['environment'];
  writesEnabled?: boolean;
  endpoints?: readonly string[];
  /** Refuses the app at authentication (paused, suspended …). */
  refusal?: AppRefusal;
  /** Refuses the app at admission (over its rate limit). */
  limited?: boolean;
}

/**
 * A stand-in for the app registry's `AppGate` in the write routes' tests: apps are a fixed
 * list, and what the routes report (misuse, calls) is kept for the test to read.
 */
export interface WritesTestGate extends AppGate {
  readonly misuses: Array<{ appId: string; kind: AppMisuse; detail: string }>;
  readonly calls: Array<{ appId: string } & AppCall>;
  /** Adds or replaces an app. */
  add(app: WritesTestApp): void;
}

function scopesOf(text: string): SmartScope[] {
  return text
    .split(/\s+/)
    .filter((s) => s !== '')
    .map((s) => {
      const scope = parseSmartScope(s);
      if (!scope) throw new Error(`not a SMART scope: ${s}`);
      return scope;
    });
}

export function makeWritesTestGate(apps: readonly WritesTestApp[] = []): WritesTestGate {
  const byToken = new Map<string, WritesTestApp>();
  const gate: WritesTestGate = {
    misuses: [],
    calls: [],
    add(app) {
      for (const [token, known] of byToken) if (known.appId === app.appId) byToken.delete(token);
      byToken.set(app.token, app);
    },
    async authenticate(bearer) {
      const app = byToken.get(bearer);
      if (!app) return { code: 'token.invalid', detail: 'the access token is unknown or has expired' };
      if (app.refusal) return app.refusal;
      return {
        kind: 'app',
        appId: app.appId,
        name: app.appId,
        clientId: `client-${app.appId}`,
        environment: app.environment ?? 'production',
        scopes: scopesOf(app.scopes),
        writesEnabled: app.writesEnabled ?? true,
        ...(app.endpoints ? { endpoints: app.endpoints } : {}),
      };
    },
    async admit(principal) {
      const app = [...byToken.values()].find((a) => a.appId === principal.appId);
      if (app?.limited) return { code: 'rate.limited', detail: 'too many requests', retryAfterMs: 1500 };
      return { allowed: true, remaining: 99 };
    },
    async misuse(principal, kind, detail) {
      gate.misuses.push({ appId: principal.appId, kind, detail });
    },
    async called(principal, call) {
      gate.calls.push({ appId: principal.appId, ...call });
    },
  };
  for (const app of apps) gate.add(app);
  return gate;
}
