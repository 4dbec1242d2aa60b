import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { registerTestApp } from '@sinew/test-support/apps';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Webhook } from 'standardwebhooks';
import { AppsService, fhirInteraction, type AppTokenRequest } from './apps.service';
import { AuditLog } from './audit-log';
import { OAuthError } from './oauth';
import { formatSmartScope, type AppPrincipal, type AppRefusal } from './smart-scopes';

jest.setTimeout(60_000);

interface Backend {
  name: string;
  open(): Promise<{ store: TypeOrmStore; drop: () => Promise<void> }>;
}

const sqlite: Backend = {
  name: 'SQLite',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-apps-'));
    return {
      store: await openStore({ dataDir: dir }),
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

const postgres: Backend = {
  name: 'PostgreSQL',
  open: async () => {
    const schema: TestSchema = await withTestSchema();
    return {
      store: await openStore({ databaseUrl: schema.url, schema: schema.schema }),
      drop: () => schema.drop(),
    };
  },
};

const AUDIENCE = 'http://sinew.test/oauth/token';

function isPrincipal(x: AppPrincipal | AppRefusal): x is AppPrincipal {
  return 'kind' in x;
}

async function refusalOf(p: Promise<unknown>): Promise<{ error: string; description: string }> {
  try {
    await p;
  } catch (error) {
    if (error instanceof OAuthError) return { error: error.error, description: error.description };
    throw error;
  }
  throw new Error('expected an OAuthError');
}

/** A client assertion (RFC 7523) for `clientId`, signed with `key`. */
function assertion(
  clientId: string,
  key: CryptoKey,
  opts: { kid?: string; jti?: string; aud?: string } = {},
) {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', ...(opts.kid ? { kid: opts.kid } : {}) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('4m')
    .setJti(opts.jti ?? `jti-${Math.random()}`)
    .sign(key);
}

describe.each([sqlite, postgres])('apps on $name', (backend) => {
  let store: TypeOrmStore;
  let drop: () => Promise<void>;
  let audit: AuditLog;
  let apps: AppsService;

  beforeAll(async () => {
    ({ store, drop } = await backend.open());
    audit = new AuditLog(store);
    apps = new AppsService(store, audit);
  });

  afterAll(async () => {
    await apps.close();
    await store.close();
    await drop();
  });

  const token = (req: Partial<AppTokenRequest>) =>
    apps.issueToken({ grantType: 'client_credentials', audiences: [AUDIENCE], ...req });

  it('registers an app pending approval, approves some scopes with a reason, and lists what it touches', async () => {
    const created = await apps.createApp({
      name: 'AI scribe',
      scopes: 'system/Patient.rs system/Observation.rs system/Appointment.cruds',
      events: ['patient.created', 'appointment.booked'],
      contact: 'dev@scribe.example',
      createdBy: 'alice',
    });
    expect(created.clientId).toMatch(/^sna_[0-9a-f]{20}$/);
    expect(created.clientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.app).toMatchObject({
      state: 'pending',
      environment: 'sandbox',
      requestedScopes: ['system/Patient.rs', 'system/Observation.rs', 'system/Appointment.cruds'],
      approvedScopes: [],
      events: ['patient.created', 'appointment.booked'],
      auth: ['client_secret'],
      touches: [],
    });
    // Pending: no token.
    expect(
      await refusalOf(token({ clientId: created.clientId, clientSecret: created.clientSecret as string })),
    ).toEqual({ error: 'unauthorized_client', description: expect.stringContaining('approval') });

    // Beyond what it asked for: refused, naming the scope.
    await expect(
      apps.approve(created.clientId, { scopes: 'system/Patient.cruds', reason: 'x', by: 'alice' }),
    ).rejects.toThrow('not requested by the app: system/Patient.cruds');
    const approved = await apps.approve(created.clientId, {
      scopes: 'system/Patient.rs system/Appointment.rs',
      reason: 'transcribes consultations',
      by: 'alice',
    });
    expect(approved).toMatchObject({
      state: 'active',
      approvedScopes: ['system/Patient.rs', 'system/Appointment.rs'],
      grantReason: 'transcribes consultations',
      approvedBy: 'alice',
      touches: [
        { resourceType: 'Appointment', read: true, write: false },
        { resourceType: 'Patient', read: true, write: false },
      ],
    });
    expect((await apps.listApps()).map((a) => a.id)).toContain(created.clientId);
    // The row as stored: the secret's hash only.
    const row = await store.apps.getApp(created.clientId);
    expect(row?.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(created.clientSecret);
  });

  it('refuses bad input with a specific message', async () => {
    await expect(apps.createApp({ name: 'x', scopes: 'patient/Patient.rs' })).rejects.toThrow(
      'not a SMART system scope: patient/Patient.rs',
    );
    await expect(apps.createApp({ name: 'x', scopes: 'admin' })).rejects.toThrow('not a SMART system scope');
    await expect(apps.createApp({ name: 'x', scopes: '' })).rejects.toThrow('at least one scope');
    await expect(
      apps.createApp({ name: 'x', scopes: 'system/Patient.rs', events: ['patient.deleted'] }),
    ).rejects.toThrow('unknown event patient.deleted');
    await expect(
      apps.createApp({ name: 'x', scopes: 'system/Patient.rs', jwks: '{"keys":[{"kty":"oct","k":"AA"}]}' }),
    ).rejects.toThrow(/key 1: not a public key/);
    await expect(apps.createApp({ name: '', scopes: 'system/Patient.rs' })).rejects.toThrow('app name');
  });

  it('issues 5-minute tokens carrying only approved scopes, by secret (basic and post)', async () => {
    const a = await apps.createApp({
      name: 'reporting',
      scopes: 'system/Patient.rs system/Observation.rs',
      approve: true,
      environment: 'production',
    });
    const secret = a.clientSecret as string;
    const all = await token({ basic: { clientId: a.clientId, clientSecret: secret } });
    expect(all).toMatchObject({
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'system/Patient.rs system/Observation.rs',
    });
    // Asking for more than approved: narrowed to the approved part.
    const narrowed = await token({
      clientId: a.clientId,
      clientSecret: secret,
      scope: 'system/Patient.cruds system/Encounter.rs',
    });
    expect(narrowed.scope).toBe('system/Patient.rs');
    // None approved: invalid_scope.
    expect(
      await refusalOf(token({ clientId: a.clientId, clientSecret: secret, scope: 'system/Encounter.rs' })),
    ).toEqual({
      error: 'invalid_scope',
      description: 'none of the scopes asked for is approved for this app',
    });
    expect(
      await refusalOf(token({ clientId: a.clientId, clientSecret: secret, scope: 'messages:read' })),
    ).toMatchObject({
      error: 'invalid_scope',
    });
    expect(await refusalOf(token({ clientId: a.clientId, clientSecret: 'wrong' }))).toMatchObject({
      error: 'invalid_client',
    });
    expect(
      await refusalOf(token({ clientId: a.clientId, clientSecret: secret, grantType: 'password' })),
    ).toMatchObject({ error: 'unsupported_grant_type' });

    const who = await apps.authenticate(narrowed.access_token);
    expect(isPrincipal(who) && who).toMatchObject({
      kind: 'app',
      appId: a.clientId,
      name: 'reporting',
      environment: 'production',
      writesEnabled: true,
    });
    expect(isPrincipal(who) && who.scopes.map(formatSmartScope)).toEqual(['system/Patient.rs']);
  });

  it('issues tokens by private_key_jwt against the app’s JWKS, each assertion once', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES384');
    const other = await generateKeyPair('ES384');
    const jwks = JSON.stringify({
      keys: [
        { ...(await exportJWK(other.publicKey)), kid: 'old' },
        { ...(await exportJWK(publicKey)), kid: 'k1' },
      ],
    });
    const a = await apps.createApp({ name: 'backend', scopes: 'system/*.rs', jwks, approve: true });
    expect(a.clientSecret).toBeUndefined();
    expect(a.app.auth).toEqual(['private_key_jwt']);
    const signed = await assertion(a.clientId, privateKey as CryptoKey, { kid: 'k1', jti: 'once' });
    const ok = await token({
      clientAssertionType: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      clientAssertion: signed,
      scope: 'system/Patient.rs',
    });
    expect(ok.scope).toBe('system/Patient.rs');
    // Without a kid: every key is tried.
    const noKid = await assertion(a.clientId, privateKey as CryptoKey);
    expect(
      (
        await token({
          clientAssertionType: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          clientAssertion: noKid,
        })
      ).scope,
    ).toBe('system/*.rs');
    expect(
      await refusalOf(
        token({
          clientAssertionType: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          clientAssertion: signed,
        }),
      ),
    ).toEqual({ error: 'invalid_client', description: expect.stringContaining('already used') });
    const wrongKey = await assertion(a.clientId, (await generateKeyPair('ES384')).privateKey as CryptoKey, {
      kid: 'k1',
    });
    expect(
      await refusalOf(
        token({
          clientAssertionType: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          clientAssertion: wrongKey,
        }),
      ),
    ).toMatchObject({ error: 'invalid_client' });
    const wrongAud = await assertion(a.clientId, privateKey as CryptoKey, { aud: 'http://elsewhere/token' });
    expect(
      await refusalOf(
        token({
          clientAssertionType: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          clientAssertion: wrongAud,
        }),
      ),
    ).toEqual({ error: 'invalid_client', description: expect.stringContaining('aud') });
  });

  it('reads the app’s state on every request: pause, scope change, writes, endpoints, revoke', async () => {
    const t = await registerTestApp(store, {
      scopes: 'system/Patient.cruds system/Observation.rs',
      name: 'receptionist',
    });
    const bearer = await t.token();
    const principal = async () => {
      const who = await apps.authenticate(bearer);
      return isPrincipal(who) ? who : who.code;
    };
    expect(await principal()).toMatchObject({ writesEnabled: true });

    await apps.pause(t.clientId);
    expect(await principal()).toBe('app.paused');
    await apps.resume(t.clientId);

    await apps.setScopes(t.clientId, { approved: 'system/Patient.rs' });
    const narrowed = await principal();
    expect(typeof narrowed !== 'string' && narrowed.scopes.map(formatSmartScope)).toEqual([
      'system/Patient.rs',
    ]);

    await apps.setWrites(t.clientId, false);
    await apps.setEndpoints(t.clientId, ['Patient', '$export']);
    expect(await principal()).toMatchObject({ writesEnabled: false, endpoints: ['Patient', '$export'] });
    await expect(apps.setEndpoints(t.clientId, ['../admin'])).rejects.toThrow('not a path prefix');

    await apps.revoke(t.clientId, 'contract ended');
    expect(await principal()).toBe('app.revoked');
    await expect(apps.resume(t.clientId)).rejects.toThrow('is revoked');
    expect(await refusalOf(t.token())).toMatchObject({ error: 'invalid_client' });

    const garbage = await apps.authenticate('not.a.token');
    expect(garbage).toMatchObject({ code: 'token.invalid' });
  });

  it('promotes a sandbox app with a new secret; its sandbox tokens never authenticate in production', async () => {
    const t = await registerTestApp(store, { scopes: 'system/Patient.rs', environment: 'sandbox' });
    const sandboxToken = await t.token();
    const before = await apps.authenticate(sandboxToken);
    expect(isPrincipal(before) && before.environment).toBe('sandbox');
    const promoted = await apps.promote(t.clientId);
    expect(promoted.app.environment).toBe('production');
    expect(promoted.clientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await apps.authenticate(sandboxToken)).toMatchObject({ code: 'token.invalid' });
    expect(await refusalOf(t.token())).toMatchObject({ error: 'invalid_client' });
    const fresh = await token({ clientId: t.clientId, clientSecret: promoted.clientSecret as string });
    const after = await apps.authenticate(fresh.access_token);
    expect(isPrincipal(after) && after.environment).toBe('production');
    await expect(apps.promote(t.clientId)).rejects.toThrow('already in production');
  });

  it('audits each call as fhir.<interaction> and counts calls per day; the app sees its own calls', async () => {
    const t = await registerTestApp(store, { scopes: 'system/Patient.rs', name: 'counter' });
    const who = await apps.authenticate(await t.token());
    if (!isPrincipal(who)) throw new Error(who.detail);
    await apps.called(who, {
      method: 'GET',
      path: 'Patient/p1',
      status: 200,
      objectIds: ['Patient/p1'],
      remoteAddress: '10.0.0.9',
    });
    await apps.called(who, {
      method: 'GET',
      path: 'Patient',
      status: 200,
      objectIds: ['Patient/p1', 'Patient/p2'],
    });
    await apps.called(who, { method: 'POST', path: 'Patient', status: 403 });
    await apps.flushCalls();
    const page = await apps.calls(t.clientId, { limit: 2 });
    expect(page.items.map((e) => [e.action, e.outcome, e.actorKind, e.objectIds])).toEqual([
      ['fhir.create', '403', 'app', []],
      ['fhir.search-type', '200', 'app', ['Patient/p1', 'Patient/p2']],
    ]);
    expect(page.nextCursor).toBeDefined();
    const rest = await apps.calls(t.clientId, { cursor: page.nextCursor as string });
    expect(rest.items.map((e) => [e.action, e.from])).toEqual([['fhir.read', '10.0.0.9']]);
    const detail = await apps.getApp(t.clientId);
    expect(detail?.callsPerDay).toEqual([{ day: new Date().toISOString().slice(0, 10), calls: 3 }]);
    expect(detail?.lastCallAt).toBeInstanceOf(Date);
    expect((await audit.verify()).ok).toBe(true);
  });

  it('throttles an app past the first misuse threshold, suspends it past the second, alerts the admins, and an admin reinstates it', async () => {
    const secret = `whsec_${Buffer.from('an alert signing key of 32 bytes').toString('base64')}`;
    const received: Array<{ headers: Record<string, string>; body: string }> = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers as Record<string, string>, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    const monitored = new AppsService(store, audit, {
      misuse: { throttleAt: 3, suspendAt: 5 },
      defaultRateLimit: 100,
      alert: { url, secret },
    });
    try {
      const t = await registerTestApp(store, { scopes: 'system/Patient.rs', name: 'noisy' });
      const bearer = await t.token();
      const who = await monitored.authenticate(bearer);
      if (!isPrincipal(who)) throw new Error(who.detail);
      for (let i = 0; i < 2; i++)
        await monitored.misuse(who, 'unauthorised_write', 'POST Patient without write scope');
      expect(await monitored.ratePolicy(who)).toEqual({ limit: 100, windowMs: 60_000 });
      await monitored.misuse(who, 'unexpected_payload', 'body is not a FHIR resource');
      // Third: throttled to a tenth of its rate.
      const throttled = await monitored.getApp(t.clientId);
      expect(throttled?.throttledUntil).toBeInstanceOf(Date);
      expect(await monitored.ratePolicy(await fresh(monitored, t))).toEqual({ limit: 10, windowMs: 60_000 });
      expect(received).toHaveLength(0);
      await monitored.misuse(who, 'forbidden', 'system/Encounter.rs');
      await monitored.misuse(who, 'rate_limit', 'over 10 requests per minute');
      // Fifth: suspended, with the reason, and the admins alerted.
      const suspended = await monitored.getApp(t.clientId);
      expect(suspended).toMatchObject({
        state: 'suspended',
        stateReason: expect.stringContaining('5 misuse events'),
      });
      expect(suspended?.misuse.map((m) => m.kind)).toEqual(
        expect.arrayContaining(['unauthorised_write', 'unexpected_payload', 'forbidden', 'rate_limit']),
      );
      expect(await monitored.authenticate(bearer)).toMatchObject({
        code: 'app.suspended',
        detail: expect.stringContaining('reinstate'),
      });
      expect(await refusalOf(t.token())).toMatchObject({ error: 'unauthorized_client' });
      expect(received).toHaveLength(1);
      const alert = received[0]!;
      const verified = new Webhook(secret).verify(alert.body, alert.headers) as {
        type: string;
        data: { app_id: string; reason: string };
      };
      expect(verified).toMatchObject({ type: 'app.suspended', data: { app_id: t.clientId } });
      expect(() => new Webhook(secret).verify(alert.body.replace('noisy', 'quiet'), alert.headers)).toThrow();
      const events = await audit.search({ via: t.clientId, limit: 10 });
      expect(events.items.map((e) => [e.action, e.actorKind])).toEqual(
        expect.arrayContaining([
          ['app.suspend', 'system'],
          ['app.throttle', 'system'],
        ]),
      );
      // Further misuse does not alert again.
      await monitored.misuse(who, 'forbidden', 'again');
      expect(received).toHaveLength(1);

      const back = await monitored.reinstate(t.clientId);
      expect(back).toMatchObject({ state: 'active' });
      expect(back.throttledUntil).toBeUndefined();
      const again = await fresh(monitored, t);
      // Counted afresh from the reinstatement: one more misuse neither throttles nor suspends.
      await monitored.misuse(again, 'forbidden', 'system/Encounter.rs');
      expect(await monitored.getApp(t.clientId)).toMatchObject({ state: 'active' });
      expect((await monitored.getApp(t.clientId))?.throttledUntil).toBeUndefined();
      await expect(monitored.reinstate(t.clientId)).rejects.toThrow('not suspended');
    } finally {
      await monitored.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reports unusual volume against the app’s norm as misuse, once a day', async () => {
    const watched = new AppsService(store, audit, { misuse: { volumeFloor: 3, volumeFactor: 2 } });
    try {
      const t = await registerTestApp(store, { scopes: 'system/Patient.rs', name: 'busy' });
      const yesterday = new Date(Date.now() - 86_400_000);
      await store.apps.recordCalls([
        { appId: t.clientId, day: yesterday.toISOString().slice(0, 10), calls: 7, lastCallAt: yesterday },
      ]);
      const who = await fresh(watched, t);
      // The norm: 7 calls over 7 days, 1 a day; more than 3 and more than twice that is unusual.
      for (let i = 0; i < 3; i++) await watched.called(who, { method: 'GET', path: 'Patient', status: 200 });
      await watched.flushCalls();
      expect((await watched.getApp(t.clientId))?.misuse).toEqual([]);
      await watched.called(who, { method: 'GET', path: 'Patient', status: 200 });
      await watched.flushCalls();
      await watched.called(who, { method: 'GET', path: 'Patient', status: 200 });
      await watched.flushCalls();
      const misuse = (await watched.getApp(t.clientId))?.misuse ?? [];
      expect(misuse.map((m) => [m.kind, m.detail])).toEqual([
        ['volume', '4 calls today against a mean of 1 a day'],
      ]);
    } finally {
      await watched.close();
    }
  });

  it('names the FHIR interaction of a call', () => {
    expect(
      [
        ['GET', 'Patient/1'],
        ['GET', 'Patient/1/_history/2'],
        ['GET', 'Patient/1/_history'],
        ['GET', 'Patient/_history'],
        ['GET', 'Patient'],
        ['POST', 'Patient/_search'],
        ['POST', 'Appointment'],
        ['PUT', 'Appointment/1'],
        ['DELETE', 'Appointment/1'],
        ['GET', 'metadata'],
        ['GET', 'Patient/1/$everything'],
        ['GET', '$export'],
      ].map(([m, p]) => fhirInteraction(m as string, p as string)),
    ).toEqual([
      'read',
      'vread',
      'history-instance',
      'history-type',
      'search-type',
      'search-type',
      'create',
      'update',
      'delete',
      'capabilities',
      '$everything',
      '$export',
    ]);
  });
});

/** The app as the service sees it now (a fresh principal). */
async function fresh(service: AppsService, t: { token(): Promise<string> }): Promise<AppPrincipal> {
  const who = await service.authenticate(await t.token());
  if (!isPrincipal(who)) throw new Error(who.detail);
  return who;
}
