import { AccessService } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { openStore, type Store } from '@sinew/store';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../test/support/engine-process';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(60_000);

// Response bodies are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

/** oidc-provider ships no type declarations: the little of it this test uses. */
interface OidcProvider {
  callback(): RequestListener;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Provider } = require('oidc-provider') as {
  Provider: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
};

/** Each person at the provider, and their groups. */
const GROUPS: Record<string, string[]> = {
  alice: ['staff', 'sinew-admins'],
  bob: ['lab-ops'],
  mallory: ['visitors'],
  carol: ['sinew-admins'],
};

/** A browser's cookies (one jar for every host: browsers do not tell ports apart). */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (value === '' || /max-age=0(;|$)/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

describe('single sign-on with OpenID Connect (oidc-provider on loopback) on SQLite', () => {
  let dir: string;
  let running: RunningEngine;
  let base: string;
  let provider: Server;
  let store: Store;
  const logs: string[] = [];

  beforeAll(async () => {
    const providerPort = await freePort();
    const enginePort = await freePort();
    const issuer = `http://127.0.0.1:${providerPort}`;
    base = `http://127.0.0.1:${enginePort}`;
    const redirect = `${base}/api/v1/session/oidc/callback`;
    const oidc = new Provider(issuer, {
      clients: [
        {
          client_id: 'sinew',
          client_secret: 'a-client-secret-for-the-test',
          redirect_uris: [redirect],
          response_types: ['code'],
          grant_types: ['authorization_code'],
        },
      ],
      findAccount: (_ctx: unknown, sub: string) => ({
        accountId: sub,
        claims: () => ({
          sub,
          preferred_username: sub,
          email: `${sub}@clinic.example`,
          groups: GROUPS[sub] ?? [],
        }),
      }),
      claims: { openid: ['sub'], profile: ['preferred_username', 'groups'], email: ['email'] },
      features: { devInteractions: { enabled: true } },
      cookies: { keys: ['a-cookie-key-for-the-test'] },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
    });
    provider = createServer(oidc.callback());
    await new Promise<void>((done) => provider.listen(providerPort, '127.0.0.1', done));

    dir = mkdtempSync(join(tmpdir(), 'sinew-oidc-'));
    mkdirSync(join(dir, 'channels'));
    const config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: String(enginePort),
      SINEW_PIPELINE_THREADS: '0',
      SINEW_API_RATE_LIMIT: '100000',
      SINEW_OIDC_ISSUER: issuer,
      SINEW_OIDC_CLIENT_ID: 'sinew',
      SINEW_OIDC_CLIENT_SECRET: 'a-client-secret-for-the-test',
      SINEW_OIDC_REDIRECT_URL: redirect,
      SINEW_OIDC_ROLE_CLAIM: 'groups',
      SINEW_OIDC_ROLES: 'sinew-admins:admin,lab-ops:operator',
      SINEW_OIDC_NAME: 'Clinic SSO',
    });
    running = await startEngine(config, createLogger('info', { write: (line: string) => logs.push(line) }));
    store = await openStore({ dataDir: join(dir, 'data') });
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    await new Promise((done) => provider?.close(done));
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Drives a browser through the sign-in: Sinew's redirect, the provider's login and consent
   * forms (devInteractions), up to the redirect back to Sinew's callback, whose URL it returns
   * (not yet followed) with the jar.
   */
  async function toCallback(account: string): Promise<{ callback: string; jar: Jar }> {
    const jar = new Jar();
    const go = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(url, {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
      });
      jar.take(res);
      return res;
    };
    let res = await go(`${base}/api/v1/session/oidc`);
    expect(res.status).toBe(302);
    expect(jar.get('sinew_oidc')).toBeDefined();
    const first = new URL(res.headers.get('location') as string);
    expect(first.searchParams.get('code_challenge_method')).toBe('S256');
    expect(first.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(first.searchParams.get('nonce')).toBeTruthy();
    expect(first.searchParams.get('state')).toBeTruthy();
    let url = first.href;
    for (let step = 0; step < 20; step++) {
      if (url.startsWith(`${base}/api/v1/session/oidc/callback`)) return { callback: url, jar };
      res = await go(url);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location') as string, url).href;
        continue;
      }
      const html = await res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
      if (res.status !== 200 || !action || !prompt) throw new Error(`unexpected page ${res.status}: ${html}`);
      res = await go(new URL(action.replace(/&amp;/g, '&'), url).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ prompt, login: account, password: 'anything' }).toString(),
      });
      url = new URL(res.headers.get('location') as string, url).href;
    }
    throw new Error('the sign-in did not come back to the callback');
  }

  async function callback(url: string, jar: Jar): Promise<Response> {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(res);
    return res;
  }

  it('lists the sign-in methods, single sign-on among them', async () => {
    const res = await fetch(`${base}/api/v1/session/providers`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      methods: [
        { type: 'password', name: 'username and password', url: '/api/v1/session' },
        { type: 'oidc', name: 'Clinic SSO', url: '/api/v1/session/oidc' },
      ],
    });
  });

  it('signs a person in through the provider with the role their group maps to, as a password sign-in would', async () => {
    const { callback: url, jar } = await toCallback('alice');
    const res = await callback(url, jar);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sinew_session='));
    expect(cookie).toMatch(/^sinew_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(jar.get('sinew_oidc')).toBeUndefined();
    const who = await fetch(`${base}/api/v1/session`, {
      headers: { cookie: `sinew_session=${jar.get('sinew_session')}` },
    });
    expect(who.status).toBe(200);
    const body = (await who.json()) as Body;
    expect(body).toMatchObject({ kind: 'user', name: 'alice', csrf_token: expect.any(String) });
    expect(body.scopes).toContain('admin');

    const users = await new AccessService(store).listUsers();
    expect(users.find((u) => u.username === 'alice')).toMatchObject({
      role: 'admin',
      sso: true,
      state: 'active',
    });
    // No password signs in as an SSO user.
    const password = await fetch(`${base}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'sso:oidc' }),
    });
    expect(password.status).toBe(401);

    const second = await toCallback('bob');
    expect((await callback(second.callback, second.jar)).status).toBe(302);
    const bob = await fetch(`${base}/api/v1/session`, {
      headers: { cookie: `sinew_session=${second.jar.get('sinew_session')}` },
    });
    expect(((await bob.json()) as Body).scopes).toEqual([
      'channels:read',
      'channels:operate',
      'messages:read',
      'messages:replay',
      'reconciliations:read',
      'reconciliations:run',
    ]);
  });

  it('refuses a person none of whose groups maps to a role: 403 with a clear message, no session', async () => {
    const { callback: url, jar } = await toCallback('mallory');
    const res = await callback(url, jar);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({
      code: 'oidc.no_role',
      detail:
        'mallory signed in at the identity provider, but none of their groups maps to a Sinew role: ask an administrator to add them to a mapped group',
    });
    expect(jar.get('sinew_session')).toBeUndefined();
    expect((await new AccessService(store).listUsers()).some((u) => u.username === 'mallory')).toBe(false);
  });

  it('refuses an answer whose state does not match, or that comes without the sign-in cookie', async () => {
    const { callback: url, jar } = await toCallback('alice');
    const forged = new URL(url);
    forged.searchParams.set('state', 'an-attackers-state');
    const res = await callback(forged.href, jar);
    expect(res.status).toBe(400);
    expect(((await res.json()) as Body).code).toBe('oidc.state_mismatch');
    expect(jar.get('sinew_session')).toBeUndefined();

    const other = await toCallback('alice');
    const noCookie = await fetch(other.callback, { redirect: 'manual' });
    expect(noCookie.status).toBe(400);
    expect(((await noCookie.json()) as Body).code).toBe('oidc.state_mismatch');
    expect(noCookie.headers.getSetCookie().some((c) => c.startsWith('sinew_session='))).toBe(false);
  });

  it('never takes over a local password account with the same username', async () => {
    await new AccessService(store).createUser({
      username: 'carol',
      role: 'viewer',
      password: 'a long enough password',
    });
    const { callback: url, jar } = await toCallback('carol');
    const res = await callback(url, jar);
    expect(res.status).toBe(409);
    expect(((await res.json()) as Body).detail).toBe(
      'a local account named carol exists: single sign-on does not take it over',
    );
    expect(jar.get('sinew_session')).toBeUndefined();
  });
});
