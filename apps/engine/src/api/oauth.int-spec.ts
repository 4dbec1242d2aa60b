import { AccessService, AuditLog } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { openStore, type Store } from '@sinew/store';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(60_000);

// Response bodies are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('OAuth2 client credentials (POST /oauth/token) on a running engine', () => {
  let dir: string;
  let running: RunningEngine;
  let base: string;
  let store: Store;
  let access: AccessService;
  let secretClient: { id: string; secret: string };
  let keyClient: { id: string; privateKey: CryptoKey };
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-oauth-'));
    mkdirSync(join(dir, 'channels'));
    const config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: '0',
      SINEW_PIPELINE_THREADS: '0',
      SINEW_API_RATE_LIMIT: '100000',
    });
    running = await startEngine(config, createLogger('info', { write: (line: string) => logs.push(line) }));
    base = `http://127.0.0.1:${running.httpPort}`;
    store = await openStore({ dataDir: join(dir, 'data') });
    access = new AccessService(store);
    const created = await access.createClient({
      name: 'lab-robot',
      scopes: ['channels:read', 'messages:read'],
      createdBy: 'test',
    });
    secretClient = { id: created.id, secret: created.secret as string };
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const keyed = await access.createClient({
      name: 'signer',
      scopes: ['admin'],
      publicKey: JSON.stringify(await exportJWK(publicKey)),
    });
    expect(keyed.secret).toBeUndefined();
    keyClient = { id: keyed.id, privateKey };
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  const basic = (id: string, secret: string) => ({
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
  });
  const api = (path: string, bearer: string) =>
    fetch(`${base}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
  const assertion = (claims: { aud?: string; expS?: number; jti?: string; iss?: string } = {}) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(claims.iss ?? keyClient.id)
      .setSubject(claims.iss ?? keyClient.id)
      .setAudience(claims.aud ?? `${base}/oauth/token`)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (claims.expS ?? 60))
      .setJti(claims.jti ?? randomUUID())
      .sign(keyClient.privateKey);

  it('issues a short-lived token by client_secret_basic that the admin API accepts', async () => {
    const res = await token(
      { grant_type: 'client_credentials' },
      basic(secretClient.id, secretClient.secret),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Body;
    expect(body).toEqual({
      access_token: expect.stringMatching(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: 600,
      scope: 'channels:read messages:read',
    });
    const [header, payload] = (body.access_token as string)
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Body);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
    expect(payload).toMatchObject({
      iss: 'sinew',
      aud: 'sinew-api',
      sub: secretClient.id,
      scope: 'channels:read messages:read',
    });
    expect(payload.exp - payload.iat).toBe(600);
    expect(typeof payload.jti).toBe('string');

    const who = await api('/api/v1/session', body.access_token);
    expect(who.status).toBe(200);
    expect(await who.json()).toEqual({
      kind: 'client',
      name: 'lab-robot',
      scopes: ['channels:read', 'messages:read'],
    });
    expect((await api('/api/v1/channels', body.access_token)).status).toBe(200);
    const denied = await api('/api/v1/keys', body.access_token);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as Body).code).toBe('scope.required');

    // The audit log names the client.
    await waitFor('the audit rows', async () => {
      const { items } = await new AuditLog(store).search({ actor: 'lab-robot', limit: 10 });
      const seen = items.map((e) => `${e.actorKind} ${e.action} ${e.outcome}`);
      return seen.includes('client POST /oauth/token 200') && seen.includes('client GET /api/v1/session 200')
        ? seen
        : undefined;
    });
    expect((await access.getClient(secretClient.id))?.lastUsedAt).toBeInstanceOf(Date);
  });

  it('issues a token by client_secret_post, narrowed to the scope asked for', async () => {
    const res = await token({
      grant_type: 'client_credentials',
      client_id: secretClient.id,
      client_secret: secretClient.secret,
      scope: 'channels:read',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Body;
    expect(body.scope).toBe('channels:read');
    expect((await api('/api/v1/channels', body.access_token)).status).toBe(200);
    expect((await api('/api/v1/messages', body.access_token)).status).toBe(403);

    const wider = await token({
      grant_type: 'client_credentials',
      client_id: secretClient.id,
      client_secret: secretClient.secret,
      scope: 'channels:read admin',
    });
    expect(wider.status).toBe(400);
    expect(await wider.json()).toEqual({
      error: 'invalid_scope',
      error_description: 'the client may not have the scope admin',
    });
  });

  it('refuses a wrong secret, an unknown client, a missing grant and another grant type as RFC 6749 errors', async () => {
    const wrong = await token({ grant_type: 'client_credentials' }, basic(secretClient.id, 'not-the-secret'));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toMatch(/^application\/json/);
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="sinew"');
    expect(((await wrong.json()) as Body).error).toBe('invalid_client');
    const unknown = await token({
      grant_type: 'client_credentials',
      client_id: 'snc_0000000000',
      client_secret: 'x',
    });
    expect(((await unknown.json()) as Body).error).toBe('invalid_client');
    const none = await token({ grant_type: 'client_credentials' });
    expect(none.status).toBe(401);
    const password = await token({ grant_type: 'password' }, basic(secretClient.id, secretClient.secret));
    expect(password.status).toBe(400);
    expect(((await password.json()) as Body).error).toBe('unsupported_grant_type');
    const missing = await token({}, basic(secretClient.id, secretClient.secret));
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      error: 'invalid_request',
      error_description: expect.stringContaining('grant_type'),
    });
    const extra = await token(
      { grant_type: 'client_credentials', colour: 'blue' },
      basic(secretClient.id, secretClient.secret),
    );
    expect(extra.status).toBe(400);
    expect(((await extra.json()) as Body).error).toBe('invalid_request');
    const asJson = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...basic(secretClient.id, secretClient.secret) },
      body: JSON.stringify({ grant_type: 'client_credentials' }),
    });
    expect(asJson.status).toBe(400);
    expect(((await asJson.json()) as Body).error).toBe('invalid_request');
  });

  it('issues a token by private_key_jwt, and refuses a replayed, expired, long-lived or misaddressed assertion', async () => {
    const signed = await assertion();
    const form = {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: signed,
    };
    const res = await token(form);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Body;
    expect((await api('/api/v1/keys', body.access_token)).status).toBe(200);

    const replay = await token(form);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({
      error: 'invalid_client',
      error_description: 'the client assertion was already used (its jti is spent)',
    });
    const expired = await token({ ...form, client_assertion: await assertion({ expS: -60 }) });
    expect(((await expired.json()) as Body).error_description).toBe('the client assertion has expired');
    const longLived = await token({ ...form, client_assertion: await assertion({ expS: 3600 }) });
    expect(longLived.status).toBe(401);
    const elsewhere = await token({
      ...form,
      client_assertion: await assertion({ aud: 'https://elsewhere.example/oauth/token' }),
    });
    expect(((await elsewhere.json()) as Body).error_description).toBe(
      "the client assertion's aud claim is wrong",
    );
    const { privateKey: stranger } = await generateKeyPair('ES256');
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(keyClient.id)
      .setSubject(keyClient.id)
      .setAudience(`${base}/oauth/token`)
      .setExpirationTime('1m')
      .setJti(randomUUID())
      .sign(stranger);
    const bad = await token({ ...form, client_assertion: forged });
    expect(await bad.json()).toEqual({
      error: 'invalid_client',
      error_description: 'the client assertion is not validly signed by the client',
    });
    // A key client has no secret to guess.
    const bySecret = await token({
      grant_type: 'client_credentials',
      client_id: keyClient.id,
      client_secret: '',
    });
    expect(bySecret.status).toBe(401);
  });

  it('stops an expired token, and a paused or revoked client’s tokens on their next request', async () => {
    const past = new AccessService(store, { now: () => new Date(Date.now() - 11 * 60_000) });
    const old = await past.issueToken({
      grantType: 'client_credentials',
      basic: { clientId: secretClient.id, clientSecret: secretClient.secret },
      audiences: [],
    });
    // Signed by another process on the same ledger (this test's AccessService): accepted.
    const elsewhere = await access.issueToken({
      grantType: 'client_credentials',
      basic: { clientId: secretClient.id, clientSecret: secretClient.secret },
      audiences: [],
    });
    expect((await api('/api/v1/session', elsewhere.access_token)).status).toBe(200);
    const expired = await api('/api/v1/session', old.access_token);
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as Body).code).toBe('auth.invalid');
    // Tampered: the signature no longer matches.
    const fresh = (
      (await (
        await token({ grant_type: 'client_credentials' }, basic(secretClient.id, secretClient.secret))
      ).json()) as Body
    ).access_token as string;
    const [h, p, s] = fresh.split('.') as [string, string, string];
    const widened = Buffer.from(
      JSON.stringify({ ...(JSON.parse(Buffer.from(p, 'base64url').toString()) as Body), scope: 'admin' }),
    ).toString('base64url');
    expect((await api('/api/v1/keys', `${h}.${widened}.${s}`)).status).toBe(401);

    expect((await api('/api/v1/session', fresh)).status).toBe(200);
    await access.pauseClient(secretClient.id);
    expect((await api('/api/v1/session', fresh)).status).toBe(401);
    const whilePaused = await token(
      { grant_type: 'client_credentials' },
      basic(secretClient.id, secretClient.secret),
    );
    expect(whilePaused.status).toBe(401);
    await access.resumeClient(secretClient.id);
    expect((await api('/api/v1/session', fresh)).status).toBe(200);
    await access.revokeClient(secretClient.id);
    expect((await api('/api/v1/session', fresh)).status).toBe(401);
    await expect(access.resumeClient(secretClient.id)).rejects.toMatchObject({ code: 'access.conflict' });
  });

  it('registers, lists, pauses and revokes clients under /api/v1/clients (admin)', async () => {
    const admin = (await access.createKey({ name: 'admin', scopes: ['admin'] })).secret;
    const send = (method: string, path: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${admin}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const created = await send('POST', '/api/v1/clients', {
      name: 'etl',
      scopes: ['messages:read'],
      channels: ['lab'],
    });
    expect(created.status).toBe(201);
    const { client_id, client_secret } = (await created.json()) as Body;
    expect(client_id).toMatch(/^snc_[0-9a-f]{20}$/);
    expect(client_secret).toMatch(/^[\w-]{43}$/);
    const listed = (await (await send('GET', '/api/v1/clients')).json()) as Body;
    const etl = listed.items.find((c: Body) => c.id === client_id);
    expect(etl).toMatchObject({
      name: 'etl',
      scopes: ['messages:read'],
      channels: ['lab'],
      auth: 'client_secret',
      state: 'active',
    });
    expect(JSON.stringify(listed)).not.toContain(client_secret);
    const got = (await (
      await token({ grant_type: 'client_credentials' }, basic(client_id, client_secret))
    ).json()) as Body;
    // Restricted to its channel.
    expect((await api('/api/v1/messages?channel=other', got.access_token)).status).toBe(403);
    expect(((await (await send('POST', `/api/v1/clients/${client_id}/pause`)).json()) as Body).state).toBe(
      'paused',
    );
    expect(((await (await send('POST', `/api/v1/clients/${client_id}/revoke`)).json()) as Body).state).toBe(
      'revoked',
    );
    expect((await send('POST', `/api/v1/clients/${client_id}/resume`)).status).toBe(409);
    expect((await send('POST', '/api/v1/clients/snc_ffffffffffffffffffff/revoke')).status).toBe(404);
    const pem = await send('POST', '/api/v1/clients', {
      name: 'bad',
      scopes: ['admin'],
      public_key: 'not a key',
    });
    expect(pem.status).toBe(400);
    expect(((await pem.json()) as Body).detail).toMatch(/^not a public key/);
  });
});
