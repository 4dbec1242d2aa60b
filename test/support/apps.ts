import { AppsService, AuditLog, type AppInfo, type AppsServiceOptions } from '@sinew/auth';
import type { Store } from '@sinew/store';

/**
 * Registered apps for tests of the FHIR API, the webhooks and the sandbox: an app with the
 * given SMART scopes, in the ledger the engine under test uses, and its access tokens —
 * from the engine's token endpoint (`baseUrl`) or signed directly with the ledger's key
 * (the same key the engine checks tokens with).
 */
export interface TestApp {
  clientId: string;
  clientSecret: string;
  app: AppInfo;
  /** The registry on the same ledger (approve, pause, revoke … the app). */
  apps: AppsService;
  /** An access token: from `${baseUrl}/oauth/token` when given, else issued in-process. */
  token(options?: { scope?: string; baseUrl?: string }): Promise<string>;
}

export async function registerTestApp(
  store: Store,
  options: {
    scopes: string;
    environment?: 'sandbox' | 'production';
    /** Default true: every requested scope approved, the app active. */
    approve?: boolean;
    name?: string;
    events?: string[];
    rateLimit?: number;
    /** The engine's SINEW_OAUTH_ISSUER, when it sets one. */
    tokenIssuer?: string;
    service?: AppsServiceOptions;
  },
): Promise<TestApp> {
  const apps = new AppsService(store, new AuditLog(store), {
    ...(options.tokenIssuer !== undefined ? { tokenIssuer: options.tokenIssuer } : {}),
    ...options.service,
  });
  const created = await apps.createApp({
    name: options.name ?? 'test app',
    scopes: options.scopes,
    environment: options.environment ?? 'production',
    approve: options.approve ?? true,
    ...(options.events ? { events: options.events } : {}),
    ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {}),
    createdBy: 'test',
  });
  const clientSecret = created.clientSecret as string;
  return {
    clientId: created.clientId,
    clientSecret,
    app: created.app,
    apps,
    token: async ({ scope, baseUrl } = {}) => {
      if (baseUrl === undefined) {
        const answer = await apps.issueToken({
          grantType: 'client_credentials',
          clientId: created.clientId,
          clientSecret,
          ...(scope !== undefined ? { scope } : {}),
          audiences: [],
        });
        return answer.access_token;
      }
      const res = await fetch(`${baseUrl}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${created.clientId}:${clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          ...(scope !== undefined ? { scope } : {}),
        }).toString(),
      });
      const body = (await res.json()) as { access_token?: string; error_description?: string };
      if (res.status !== 200 || body.access_token === undefined)
        throw new Error(`token request refused: ${res.status} ${body.error_description ?? ''}`);
      return body.access_token;
    },
  };
}
