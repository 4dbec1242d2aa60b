/**
 * An app registry for the FHIR API's tests: issues bearer tokens for given scopes and app ids,
 * and can revoke, pause, suspend or rate-limit an app. It keeps the calls and misuse the API
 * reports. `makeTestAppGate()` is the one place the tests get their gate from.
 */
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

export interface TestAppOptions {
  appId?: string;
  /** Space-separated SMART scopes (`system/Patient.rs system/Observation.rs`). */
  scopes: string;
  environment?: 'production' | 'sandbox';
  endpoints?: string[];
  writesEnabled?: boolean;
}

export interface TestAppGate extends AppGate {
  /** A bearer token for a (new or existing) app; the app's id is `appId` or a fresh one. */
  issue(options: TestAppOptions): { token: string; appId: string };
  revoke(appId: string): void;
  pause(appId: string): void;
  suspend(appId: string): void;
  /** Lets the app make `requests` more requests, then refuses with 429. */
  limit(appId: string, requests: number, retryAfterMs?: number): void;
  readonly calls: Array<{ appId: string; call: AppCall }>;
  readonly misuses: Array<{ appId: string; kind: AppMisuse; detail: string }>;
}

interface TestApp {
  principal: AppPrincipal;
  state: 'active' | 'revoked' | 'paused' | 'suspended';
  budget?: number;
  retryAfterMs: number;
}

class InMemoryAppGate implements TestAppGate {
  private readonly apps = new Map<string, TestApp>();
  private readonly tokens = new Map<string, string>();
  readonly calls: Array<{ appId: string; call: AppCall }> = [];
  readonly misuses: Array<{ appId: string; kind: AppMisuse; detail: string }> = [];
  private next = 1;

  issue(options: TestAppOptions): { token: string; appId: string } {
    const appId = options.appId ?? `app-${this.next++}`;
    const scopes: SmartScope[] = options.scopes
      .split(/\s+/)
      .filter(Boolean)
      .map((s) => {
        const parsed = parseSmartScope(s);
        if (!parsed) throw new Error(`not a SMART scope: ${s}`);
        return parsed;
      });
    const principal: AppPrincipal = {
      kind: 'app',
      appId,
      name: appId,
      clientId: `client-${appId}`,
      environment: options.environment ?? 'production',
      scopes,
      writesEnabled: options.writesEnabled ?? true,
      ...(options.endpoints ? { endpoints: options.endpoints } : {}),
    };
    const existing = this.apps.get(appId);
    this.apps.set(appId, { principal, state: existing?.state ?? 'active', retryAfterMs: 1000 });
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, appId);
    return { token, appId };
  }

  private app(appId: string): TestApp {
    const a = this.apps.get(appId);
    if (!a) throw new Error(`no app ${appId}`);
    return a;
  }

  revoke(appId: string): void {
    this.app(appId).state = 'revoked';
  }
  pause(appId: string): void {
    this.app(appId).state = 'paused';
  }
  suspend(appId: string): void {
    this.app(appId).state = 'suspended';
  }
  limit(appId: string, requests: number, retryAfterMs = 1000): void {
    const a = this.app(appId);
    a.budget = requests;
    a.retryAfterMs = retryAfterMs;
  }

  authenticate(bearer: string): Promise<AppPrincipal | AppRefusal> {
    const appId = this.tokens.get(bearer);
    const app = appId ? this.apps.get(appId) : undefined;
    if (!app) return Promise.resolve({ code: 'token.invalid', detail: 'the access token is not valid' });
    if (app.state !== 'active') {
      const code = `app.${app.state}` as 'app.revoked' | 'app.paused' | 'app.suspended';
      return Promise.resolve({ code, detail: `the app is ${app.state}` });
    }
    return Promise.resolve(app.principal);
  }

  admit(principal: AppPrincipal): Promise<{ allowed: true; remaining: number } | AppRefusal> {
    const app = this.app(principal.appId);
    if (app.budget === undefined) return Promise.resolve({ allowed: true, remaining: 1000 });
    if (app.budget <= 0) {
      return Promise.resolve({
        code: 'rate.limited',
        detail: 'too many requests',
        retryAfterMs: app.retryAfterMs,
      });
    }
    app.budget--;
    return Promise.resolve({ allowed: true, remaining: app.budget });
  }

  misuse(app: AppPrincipal, kind: AppMisuse, detail: string): Promise<void> {
    this.misuses.push({ appId: app.appId, kind, detail });
    return Promise.resolve();
  }

  called(app: AppPrincipal, call: AppCall): Promise<void> {
    this.calls.push({ appId: app.appId, call });
    return Promise.resolve();
  }
}

/** The app registry the FHIR API's tests run against (a double until the real one is merged). */
export function makeTestAppGate(): Promise<TestAppGate> {
  return Promise.resolve(new InMemoryAppGate());
}
