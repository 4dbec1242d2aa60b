/**
 * HTTP for the `fhir` and `http_json` adapters: JSON GETs with a timeout, extra headers, and
 * bearer or OAuth2 client-credentials authentication (the token is fetched once, and again on
 * expiry or on a 401).
 */
import { z } from 'zod';
import { ReconcileReadError, redactUrl, type AdapterDeps } from './errors';

export const authSchema = z.union([
  z.strictObject({ bearer: z.string().min(1) }),
  z.strictObject({
    oauth2: z.strictObject({
      token_url: z.string().url(),
      client_id: z.string().min(1),
      client_secret: z.string().min(1),
      scope: z.string().min(1).optional(),
    }),
  }),
]);
export type AuthSettings = z.infer<typeof authSchema>;

export interface HttpSettings {
  headers?: Record<string, string> | undefined;
  auth?: AuthSettings | undefined;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** A token is renewed this long before it expires. */
const EXPIRY_MARGIN_MS = 30_000;

export class HttpJsonClient {
  private token?: { value: string; expiresAt: number };
  private tokenRequest?: Promise<string>;
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly timeoutMs: number;

  constructor(
    private readonly system: string,
    private readonly settings: HttpSettings,
    deps: AdapterDeps,
  ) {
    this.fetchFn = deps.fetch ?? globalThis.fetch;
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** GETs `url` and parses its JSON body; throws ReconcileReadError on anything but a 2xx JSON answer. */
  async getJson(url: string, signal: AbortSignal, what = 'GET'): Promise<unknown> {
    let response = await this.send(url, signal, await this.authorization(signal, false));
    if (response.status === 401 && 'oauth2' in (this.settings.auth ?? {})) {
      await response.body?.cancel();
      response = await this.send(url, signal, await this.authorization(signal, true));
    }
    if (!response.ok) {
      await response.body?.cancel();
      const hint =
        response.status === 401 || response.status === 403 ? ' (check the system’s auth settings)' : '';
      throw new ReconcileReadError(
        this.system,
        `${what} ${redactUrl(url)} answered HTTP ${response.status}${hint}`,
        { target: url, code: response.status },
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw this.networkError(url, err);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ReconcileReadError(
        this.system,
        `${what} ${redactUrl(url)} answered a body that is not JSON`,
        {
          target: url,
          code: response.status,
        },
      );
    }
  }

  private async send(url: string, signal: AbortSignal, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = {
      accept: 'application/json, application/fhir+json',
      ...this.settings.headers,
    };
    if (authorization) headers.authorization = authorization;
    try {
      return await this.fetchFn(url, {
        headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      throw this.networkError(url, err);
    }
  }

  private networkError(url: string, err: unknown): ReconcileReadError {
    const error = err as { name?: string; cause?: { code?: string }; code?: string };
    if (error.name === 'TimeoutError') {
      return new ReconcileReadError(
        this.system,
        `GET ${redactUrl(url)} timed out after ${this.timeoutMs} ms`,
        {
          target: url,
          code: 'ETIMEDOUT',
          cause: err,
        },
      );
    }
    const code = error.cause?.code ?? error.code ?? error.name ?? 'error';
    return new ReconcileReadError(this.system, `GET ${redactUrl(url)} failed: ${code}`, {
      target: url,
      code,
      cause: err,
    });
  }

  private async authorization(signal: AbortSignal, renew: boolean): Promise<string | undefined> {
    const auth = this.settings.auth;
    if (!auth) return undefined;
    if ('bearer' in auth) return `Bearer ${auth.bearer}`;
    if (renew) this.token = undefined;
    if (this.token && this.token.expiresAt > Date.now()) return `Bearer ${this.token.value}`;
    this.tokenRequest ??= this.fetchToken(auth.oauth2, signal).finally(() => {
      this.tokenRequest = undefined;
    });
    return `Bearer ${await this.tokenRequest}`;
  }

  private async fetchToken(
    oauth2: Extract<AuthSettings, { oauth2: unknown }>['oauth2'],
    signal: AbortSignal,
  ): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: oauth2.client_id,
      client_secret: oauth2.client_secret,
    });
    if (oauth2.scope) form.set('scope', oauth2.scope);
    let response: Response;
    try {
      response = await this.fetchFn(oauth2.token_url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      throw this.networkError(oauth2.token_url, err);
    }
    const what = `the OAuth2 token endpoint ${redactUrl(oauth2.token_url)}`;
    if (!response.ok) {
      await response.body?.cancel();
      throw new ReconcileReadError(this.system, `${what} answered HTTP ${response.status}`, {
        target: oauth2.token_url,
        code: response.status,
      });
    }
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      body = {};
    }
    if (typeof body.access_token !== 'string' || !body.access_token) {
      throw new ReconcileReadError(this.system, `${what} answered without an access_token`, {
        target: oauth2.token_url,
        code: response.status,
      });
    }
    const lifetimeS = Number(body.expires_in);
    const expiresAt =
      Number.isFinite(lifetimeS) && lifetimeS > 0
        ? Date.now() + Math.max(lifetimeS * 1000 - EXPIRY_MARGIN_MS, lifetimeS * 500)
        : Number.POSITIVE_INFINITY;
    this.token = { value: body.access_token, expiresAt };
    return body.access_token;
  }
}
