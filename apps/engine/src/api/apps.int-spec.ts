import { AccessService, AppsService, AuditLog, type AppPrincipal } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { openStore, type Store } from '@sinew/store';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { registerTestApp } from '../../../../test/support/apps';
import { flushPrefix, redisUrl, uniquePrefix } from '../../../../test/support/redis';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';
import { RedisRateLimiter } from './rate-limit';

jest.setTimeout(60_000);

// Response bodies are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('registered apps on a running engine: admin routes, tokens, SMART configuration, the app’s own calls', () => {
  let dir: string;
  let running: RunningEngine;
  let base: string;
  let store: Store;
  let admin: string;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-apps-'));
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
    admin = (await new AccessService(store).createKey({ name: 'admin', scopes: ['admin'] })).secret;
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    for (const secret of ['client_secret']) expect(logs.join('')).not.toContain(secret + '=');
  });

  const call = async (method: string, path: string, body?: unknown, bearer = admin) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Body, headers: res.headers };
  };
  const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as Body }));

  it('registers, approves and inspects an app through the admin API; tokens by secret carry only approved scopes', async () => {
    const created = await call('POST', '/api/v1/apps', {
      name: 'AI receptionist',
      scopes: 'system/Patient.rs system/Appointment.cruds',
      events: ['appointment.booked'],
      contact: 'ops@receptionist.example',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      client_id: expect.stringMatching(/^sna_/),
      client_secret: expect.any(String),
      app: { state: 'pending', environment: 'sandbox', approved_scopes: [] },
    });
    const id = created.body.client_id as string;
    const secret = created.body.client_secret as string;
    const basic = { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` };

    const pending = await token({ grant_type: 'client_credentials', scope: 'system/Patient.rs' }, basic);
    expect(pending).toEqual({
      status: 400,
      body: { error: 'unauthorized_client', error_description: 'the app awaits an administrator’s approval' },
    });

    const approved = await call('POST', `/api/v1/apps/${id}/approve`, {
      scopes: ['system/Patient.rs', 'system/Appointment.rs'],
      reason: 'books appointments for the front desk',
    });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      state: 'active',
      grant_reason: 'books appointments for the front desk',
      approved_by: 'admin',
      touches: [
        { resource_type: 'Appointment', read: true, write: false },
        { resource_type: 'Patient', read: true, write: false },
      ],
    });
    const badScope = await call('POST', `/api/v1/apps/${id}/approve`, {
      scopes: 'messages:read',
      reason: 'x',
    });
    expect(badScope.status).toBe(400);
    expect(badScope.body.detail).toContain('not a SMART system scope');

    const t = await token(
      { grant_type: 'client_credentials', scope: 'system/Patient.rs system/Appointment.cruds' },
      basic,
    );
    expect(t).toMatchObject({
      status: 200,
      body: { token_type: 'Bearer', expires_in: 300, scope: 'system/Patient.rs system/Appointment.rs' },
    });
    const post = await token({
      grant_type: 'client_credentials',
      client_id: id,
      client_secret: secret,
      scope: 'system/Observation.rs',
    });
    expect(post).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    // An app's token is not an admin API credential.
    const asAdmin = await call('GET', '/api/v1/apps', undefined, t.body.access_token as string);
    expect(asAdmin.status).toBe(401);

    const listed = await call('GET', '/api/v1/apps');
    expect(listed.body.items.map((a: Body) => a.id)).toContain(id);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const paused = await call('POST', `/api/v1/apps/${id}/pause`);
    expect(paused.body.state).toBe('paused');
    expect((await token({ grant_type: 'client_credentials' }, basic)).body.error).toBe('unauthorized_client');
    expect((await call('POST', `/api/v1/apps/${id}/resume`)).body.state).toBe('active');
    expect((await call('PUT', `/api/v1/apps/${id}/writes`, { enabled: false })).body.writes_enabled).toBe(
      false,
    );
    expect(
      (await call('PUT', `/api/v1/apps/${id}/endpoints`, { endpoints: ['Appointment'] })).body.endpoints,
    ).toEqual(['Appointment']);
    expect((await call('PUT', `/api/v1/apps/${id}/rate-limit`, { per_minute: 120 })).body.rate_limit).toBe(
      120,
    );
    const promoted = await call('POST', `/api/v1/apps/${id}/promote`);
    expect(promoted.body).toMatchObject({
      app: { environment: 'production' },
      client_secret: expect.any(String),
    });
    expect((await token({ grant_type: 'client_credentials' }, basic)).status).toBe(401);
    const rotated = await call('POST', `/api/v1/apps/${id}/secret`);
    expect(rotated.body.client_secret).not.toBe(promoted.body.client_secret);
    const reinstate = await call('POST', `/api/v1/apps/${id}/reinstate`);
    expect(reinstate).toMatchObject({ status: 409, body: { code: 'access.conflict' } });
    const unknown = await call('GET', '/api/v1/apps/sna_00000000000000000000');
    expect(unknown).toMatchObject({ status: 404, body: { code: 'app.not_found' } });
    const revoked = await call('POST', `/api/v1/apps/${id}/revoke`, { reason: 'contract ended' });
    expect(revoked.body).toMatchObject({ state: 'revoked', state_reason: 'contract ended' });
  });

  it('issues tokens by private_key_jwt (the app’s JWKS) at the token endpoint', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'app-key-1' }] });
    const created = await call('POST', '/api/v1/apps', {
      name: 'analytics',
      scopes: ['system/Observation.rs'],
      environment: 'production',
      jwks,
      approve: true,
      reason: 'monthly reporting',
    });
    expect(created.status).toBe(201);
    expect(created.body.client_secret).toBeUndefined();
    expect(created.body.app.auth).toEqual(['private_key_jwt']);
    const id = created.body.client_id as string;
    const sign = (aud: string, jti = randomUUID()) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'app-key-1' })
        .setIssuer(id)
        .setSubject(id)
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime('5m')
        .setJti(jti)
        .sign(privateKey as CryptoKey);
    const assertion = await sign(`${base}/oauth/token`);
    const ok = await token({
      grant_type: 'client_credentials',
      scope: 'system/Observation.rs',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
    });
    expect(ok).toMatchObject({ status: 200, body: { scope: 'system/Observation.rs', expires_in: 300 } });
    const replay = await token({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
    });
    expect(replay).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const elsewhere = await token({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await sign('https://other.example/token'),
    });
    expect(elsewhere).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('publishes the SMART configuration', async () => {
    const res = await fetch(`${base}/fhir/R4/.well-known/smart-configuration`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Body;
    expect(body).toMatchObject({
      token_endpoint: `${base}/oauth/token`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: expect.arrayContaining([
        'private_key_jwt',
        'client_secret_basic',
      ]),
      capabilities: expect.arrayContaining(['client-confidential-asymmetric', 'permission-v2']),
    });
    expect(body.scopes_supported).toContain('system/Patient.rs');
  });

  it('shows an app its own calls with its own token, and no one else’s', async () => {
    const mine = await registerTestApp(store, { scopes: 'system/Patient.rs', name: 'mine' });
    const theirs = await registerTestApp(store, { scopes: 'system/Patient.rs', name: 'theirs' });
    const apps = new AppsService(store, new AuditLog(store));
    const bearer = await mine.token({ baseUrl: base });
    const who = (await apps.authenticate(bearer)) as AppPrincipal;
    await apps.called(who, { method: 'GET', path: 'Patient/p-1', status: 200, objectIds: ['Patient/p-1'] });
    await apps.called(who, { method: 'GET', path: 'Patient', status: 200, objectIds: [] });
    const other = (await apps.authenticate(await theirs.token())) as AppPrincipal;
    await apps.called(other, { method: 'GET', path: 'Patient/p-2', status: 200, objectIds: ['Patient/p-2'] });
    await apps.close();

    const page = await call('GET', '/api/v1/app/calls?limit=10', undefined, bearer);
    expect(page.status).toBe(200);
    const fhirCalls = page.body.items.filter((e: Body) => String(e.action).startsWith('fhir.'));
    expect(fhirCalls.map((e: Body) => [e.action, e.object_ids, e.actor_kind])).toEqual([
      ['fhir.search-type', [], 'app'],
      ['fhir.read', ['Patient/p-1'], 'app'],
    ]);
    expect(JSON.stringify(page.body)).not.toContain('p-2');
    // Its token request is among its calls too (the token endpoint's audit entry).
    expect(page.body.items.map((e: Body) => e.action)).toContain('POST /oauth/token');

    expect((await call('GET', '/api/v1/app/calls', undefined, admin)).status).toBe(401);
    // Paused through the admin API: the same token is refused on its next request, then works again.
    await call('POST', `/api/v1/apps/${mine.clientId}/pause`);
    const paused = await call('GET', '/api/v1/app/calls', undefined, bearer);
    expect(paused).toMatchObject({
      status: 401,
      body: { code: 'auth.invalid', detail: 'the app is paused' },
    });
    await call('POST', `/api/v1/apps/${mine.clientId}/resume`);
    expect((await call('GET', '/api/v1/app/calls', undefined, bearer)).status).toBe(200);
    const none = await fetch(`${base}/api/v1/app/calls`);
    expect(none.status).toBe(401);
    const detail = await call('GET', `/api/v1/apps/${mine.clientId}`);
    expect(detail.body).toMatchObject({
      calls_per_day: [{ day: new Date().toISOString().slice(0, 10), calls: 2 }],
      last_call_at: expect.any(String),
    });
  });

  it('lists the app routes in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as Body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/apps', '/api/v1/apps/{id}/approve', '/api/v1/app/calls']),
    );
  });
});

describe('an app’s rate limit, shared by two API processes through one Redis', () => {
  let dir: string;
  let store: Store;
  let url: string;
  const prefix = uniquePrefix('apps-rate');
  const clients: Redis[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-apps-rate-'));
    store = await openStore({ dataDir: dir });
    url = await redisUrl();
  });

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await flushPrefix(url, prefix);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('draws both processes’ requests from one bucket, and lowers the rate while the app is throttled', async () => {
    const gate = () => {
      const redis = new Redis(url, { maxRetriesPerRequest: 1 });
      clients.push(redis);
      return new AppsService(store, new AuditLog(store), {
        limiter: new RedisRateLimiter(redis, prefix),
        misuse: { throttleAt: 2, suspendAt: 100 },
      });
    };
    const first = gate();
    const second = gate();
    const t = await registerTestApp(store, { scopes: 'system/Patient.rs', rateLimit: 10 });
    const bearer = await t.token();
    const a = (await first.authenticate(bearer)) as AppPrincipal;
    const b = (await second.authenticate(bearer)) as AppPrincipal;
    const answers: Array<boolean> = [];
    for (let i = 0; i < 6; i++) {
      answers.push('allowed' in (await first.admit(a)));
      answers.push('allowed' in (await second.admit(b)));
    }
    expect(answers.filter(Boolean)).toHaveLength(10);
    expect(answers.slice(10)).toEqual([false, false]);
    const refused = await first.admit(a);
    expect(refused).toMatchObject({ code: 'rate.limited', retryAfterMs: expect.any(Number) });

    // Throttled (misuse past the first threshold): a tenth of 10 per minute, i.e. 1.
    await first.misuse(a, 'rate_limit', 'over 10 requests per minute');
    await second.misuse(b, 'rate_limit', 'over 10 requests per minute');
    const now = (await first.authenticate(bearer)) as AppPrincipal;
    expect(await second.ratePolicy(now)).toEqual({ limit: 1, windowMs: 60_000 });
    await first.close();
    await second.close();
  });
});
