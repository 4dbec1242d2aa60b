import type https from 'node:https';
import { errorCode, isTimeout } from './common';
import { httpRequest, isRetryableStatus } from './http-client';

export interface ClientCredentialsConfig {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  /** For an https:// token URL with its own TLS settings. */
  httpsAgent?: https.Agent;
}

/** A token is renewed this long before the server says it expires. */
const EXPIRY_MARGIN_MS = 30_000;

/** Why no token could be had; `retryable` for network failures, 408, 429 and 5xx. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    /** `OAUTH HTTP 401`, `OAUTH ECONNREFUSED`, `OAUTH TIMEOUT`. */
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** `application/x-www-form-urlencoded` encoding of one value (RFC 6749 §2.3.1 for client credentials). */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/**
 * OAuth 2.0 client-credentials tokens for one client: fetched on first use, shared by
 * concurrent callers, kept until 30 s before `expires_in` runs out, dropped on demand (after
 * a 401). The client authenticates with HTTP Basic, as RFC 6749 §2.3.1 recommends.
 */
export class ClientCredentialsToken {
  private cached: { token: string; expiresAt: number } | undefined;
  private pending: Promise<string> | undefined;
  /** Tokens fetched so far. */
  fetches = 0;

  constructor(
    private readonly config: ClientCredentialsConfig,
    private readonly timeoutMs: number,
  ) {}

  /** A valid access token (cached, or freshly fetched). Throws a {@link TokenError}. */
  get(): Promise<string> {
    if (this.cached && Date.now() < this.cached.expiresAt) return Promise.resolve(this.cached.token);
    this.pending ??= this.fetch().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forgets `token` (the server refused it), so that the next `get` fetches a new one. */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = undefined;
  }

  private async fetch(): Promise<string> {
    const { tokenUrl, clientId, clientSecret, scope } = this.config;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) form.set('scope', scope);
    const basic = Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, 'utf8').toString(
      'base64',
    );
    let res;
    try {
      res = await httpRequest(tokenUrl, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
        timeoutMs: this.timeoutMs,
        ...(this.config.httpsAgent ? { httpsAgent: this.config.httpsAgent } : {}),
      });
    } catch (err) {
      const code = isTimeout(err) ? 'TIMEOUT' : errorCode(err);
      throw new TokenError(`OAUTH ${code}`, `the token request to ${tokenUrl} failed (${code})`, true);
    }
    let json: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } =
      {};
    try {
      json = JSON.parse(res.body.toString('utf8')) as typeof json;
    } catch {
      json = {};
    }
    if (res.status < 200 || res.status >= 300) {
      const reason = [json.error, json.error_description].filter((v) => typeof v === 'string').join(': ');
      throw new TokenError(
        `OAUTH HTTP ${res.status}`,
        `the token endpoint answered HTTP ${res.status}${reason ? ` (${reason})` : ''}`,
        isRetryableStatus(res.status),
      );
    }
    if (typeof json.access_token !== 'string' || json.access_token === '') {
      throw new TokenError('OAUTH INVALID', 'the token endpoint answered without an access_token', true);
    }
    this.fetches++;
    const lifetimeMs =
      typeof json.expires_in === 'number' && json.expires_in > 0
        ? json.expires_in * 1000
        : Number.POSITIVE_INFINITY;
    this.cached = { token: json.access_token, expiresAt: Date.now() + lifetimeMs - EXPIRY_MARGIN_MS };
    return json.access_token;
  }
}
