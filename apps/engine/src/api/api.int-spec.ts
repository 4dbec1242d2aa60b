import {
  AccessService,
  AppsService,
  AuditLog,
  hasScope,
  SCOPES,
  type Principal,
  type Scope,
} from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import { PATH_METADATA } from '@nestjs/common/constants';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../test/support/engine-process';
import { withTestSchema } from '../../../../test/support/postgres';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';
import { API_CONTROLLERS } from './api.module';
import { API_ROUTES, ROUTE_SPEC, type RouteSpec } from './route';

jest.setTimeout(60_000);

// Response bodies are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;
const json = (res: Response): Promise<Body> => res.json() as Promise<Body>;

const PHI = ['DOE^JANE', 'MRN-API-1', '19700101'];

function oru(controlId: string): Hl7Message {
  return Hl7Message.parse(
    [
      `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|${controlId}|P|2.5.1`,
      'PID|1||MRN-API-1^^^NORTH^MR||DOE^JANE||19700101|F',
      'OBR|1||ORD-1|GLU^Glucose',
      'OBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F',
      '',
    ].join('\r'),
  );
}

/** The ledger the engine runs on: SQLite (embedded) or PostgreSQL in a schema of its own. */
interface Ledger {
  name: string;
  setUp(
    dataDir: string,
  ): Promise<{ env: Record<string, string>; open(): Promise<Store>; drop(): Promise<void> }>;
}
const LEDGERS: Ledger[] = [
  {
    name: 'SQLite',
    setUp: async (dataDir) => ({ env: {}, open: () => openStore({ dataDir }), drop: async () => undefined }),
  },
  {
    name: 'PostgreSQL',
    setUp: async () => {
      const schema = await withTestSchema();
      return {
        env: { DATABASE_URL: schema.url, DATABASE_SCHEMA: schema.schema },
        open: () => openStore({ databaseUrl: schema.url, schema: schema.schema }),
        drop: () => schema.drop(),
      };
    },
  },
];

describe.each(LEDGERS)('the admin API (/api/v1) on a running engine, ledger on $name', (ledger) => {
  let dir: string;
  let dropLedger: () => Promise<void> = async () => undefined;
  let running: RunningEngine;
  let base: string;
  let store: Store;
  let access: AccessService;
  let messageId: string;
  let deadDelivery: string;
  /** A finished reconciliation run. */
  let runId: string;
  /** A dead-lettered webhook delivery of the app `app-x`, for the admin replay route. */
  const webhookDelivery = 'dlv_matrix';
  let labPort: number;
  const keys = new Map<string, string>();
  const logs: string[] = [];

  /** A key holding exactly these scopes (and channels), created once. */
  async function key(scopes: Scope[], channels?: string[]): Promise<string> {
    const name = `${scopes.join('+') || 'none'}${channels ? `@${channels.join('+')}` : ''}`;
    let k = keys.get(name);
    if (!k) {
      k = (await access.createKey({ name, scopes, ...(channels ? { channels } : {}) })).secret;
      keys.set(name, k);
    }
    return k;
  }

  /**
   * Admin API answers this suite got through `call`: the operation (its route template), the
   * status, and whether message content (PHI) came back. Each must be in the audit log.
   */
  const answered: Array<{ action: string; status: number; content: boolean }> = [];
  const templateOf = (method: string, path: string): string => {
    const bare = path.split('?')[0] as string;
    // A literal route wins over a template (`/messages/export` is not `/messages/{id}`), as in the router.
    const route =
      API_ROUTES.find((r) => r.method === method && r.path === bare) ??
      API_ROUTES.find(
        (r) => r.method === method && new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare),
      );
    return route ? `${route.method} ${route.path}` : `${method} (no such route)`;
  };
  /** A live event stream's answer, as far as its first event: the caller then hangs up. */
  const firstEvent = async (res: Response, hangUp: AbortController): Promise<Response> => {
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    hangUp.abort();
    return new Response(text, { status: res.status, headers: res.headers });
  };
  const call = (method: string, path: string, token?: string, body?: unknown) => {
    const hangUp = new AbortController();
    return fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: hangUp.signal,
    })
      .then((res) =>
        res.ok && res.headers.get('content-type')?.startsWith('text/event-stream')
          ? firstEvent(res, hangUp)
          : res,
      )
      .then(async (res) => {
        if (path.startsWith('/api/')) {
          const text = await res.clone().text();
          // Content: a stage's bytes, a payload or a peer's response, or a message's business keys.
          const action = templateOf(method, path);
          const content =
            res.ok &&
            (/"(raw|ack|transformed|payload|response)":\{"encoding"/.test(text) ||
              (action.startsWith('GET /api/v1/messages') && /"keys":\{"/.test(text)));
          answered.push({ action, status: res.status, content });
        }
        return res;
      });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-api-'));
    mkdirSync(join(dir, 'channels'));
    // A reconciliation of two CSV exports, for the reconciliation routes.
    mkdirSync(join(dir, 'reconciliations'));
    writeFileSync(join(dir, 'reconciliations', 'a.csv'), 'MRN,Family\nM-1,Doe\n');
    writeFileSync(join(dir, 'reconciliations', 'b.csv'), 'MRN,Family\nM-1,Doe\n');
    writeFileSync(
      join(dir, 'reconciliations', 'exports.yaml'),
      `id: exports
period: all
systems:
  pms: { type: csv, dir: . }
  ehr: { type: csv, dir: . }
entities:
  - name: patients
    identity: mrn
    fields: { family: {} }
    source: { system: pms, file: a.csv, key: MRN, fields: { family: Family } }
    target: { system: ehr, file: b.csv, key: MRN, fields: { family: Family } }
`,
    );
    const mllp = await freePort();
    labPort = mllp;
    writeFileSync(
      join(dir, 'channels', 'lab.yaml'),
      `id: lab
source: { type: mllp, listen: ${mllp} }
keys: { mrn: PID-3.1 }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out')}
  - name: ehr
    type: http
    url: http://127.0.0.1:9/fhir
    retry: { attempts: 1 }
`,
    );
    writeFileSync(
      join(dir, 'channels', 'other.yaml'),
      `id: other
source: { type: mllp, listen: ${await freePort()} }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out-other')}
`,
    );
    const backend = await ledger.setUp(join(dir, 'data'));
    dropLedger = backend.drop;
    const config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_RECONCILIATIONS_DIR: join(dir, 'reconciliations'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: '0',
      SINEW_PIPELINE_THREADS: '0',
      SINEW_API_RATE_LIMIT: '100000',
      ...backend.env,
    });
    const logger = createLogger('info', { write: (line: string) => logs.push(line) });
    running = await startEngine(config, logger);
    base = `http://127.0.0.1:${running.httpPort}`;
    store = await backend.open();
    access = new AccessService(store);
    const client = new MllpClient({ host: '127.0.0.1', port: mllp });
    expect((await client.send(oru('API-1'))).code).toBe('AA');
    await client.close();
    const [m] = await waitFor(
      'the message dead-lettered at the EHR',
      async () => {
        const found = await store.searchMessages({ channelId: 'lab', status: 'failed' });
        return found.length > 0 ? found : undefined;
      },
      20_000,
      50,
    );
    messageId = m!.id;
    deadDelivery = `${messageId}.ehr`;
    const run = await store.reconcile.createRun({
      reconciliation: 'exports',
      trigger: 'cli',
      periodLabel: 'all',
      startedAt: new Date(),
    });
    await store.reconcile.finishRun(run.id, { status: 'clean', finishedAt: new Date() });
    runId = run.id;
    const hook = await store.webhooks.createSubscription({
      id: 'whk_matrix',
      appId: 'app-x',
      kind: 'webhook',
      environment: 'production',
      url: 'https://127.0.0.1:1/hook',
      events: ['patient.created'],
      payload: 'reference',
      scopes: [],
      status: 'active',
      secret: 'whsec_' + Buffer.from('the route matrix').toString('base64'),
    });
    await store.webhooks.addDeliveries([
      {
        id: webhookDelivery,
        subscriptionId: hook.id,
        appId: 'app-x',
        eventId: 'evt_matrix',
        eventType: 'patient.created',
        environment: 'production',
        patientId: null,
        orderKey: null,
        seq: 0,
        body: '{}',
        nextAttemptAt: null,
        status: 'dead',
      },
    ]);
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    await dropLedger();
    rmSync(dir, { recursive: true, force: true });
    // Nothing of the patient in any log line.
    const all = logs.join('');
    for (const v of PHI) expect(all).not.toContain(v);
  });

  /** What each operation is called with when the caller may call it. */
  function sample(r: RouteSpec): { path: string; body?: unknown } {
    const paths: Record<string, string> = {
      getMessage: `/api/v1/messages/${messageId}`,
      replayMessage: `/api/v1/messages/${messageId}/replay`,
      replayDelivery: `/api/v1/deliveries/${deadDelivery}/replay`,
      getChannel: '/api/v1/channels/lab',
      pauseChannel: '/api/v1/channels/other/pause',
      resumeChannel: '/api/v1/channels/other/resume',
      listDeployments: '/api/v1/channels/lab/deployments',
      getDeployment: '/api/v1/channels/lab/deployments/1',
      rollbackChannel: '/api/v1/channels/lab/rollback',
      shadowChannel: '/api/v1/channels/lab/shadow',
      channelStats: '/api/v1/channels/lab/stats',
      revokeKey: '/api/v1/keys/{key}/revoke',
      pauseKey: '/api/v1/keys/{key}/pause',
      resumeKey: '/api/v1/keys/{key}/resume',
      revokeClient: '/api/v1/clients/{client}/revoke',
      pauseClient: '/api/v1/clients/{client}/pause',
      resumeClient: '/api/v1/clients/{client}/resume',
      disableUser: '/api/v1/users/{user}/disable',
      enableUser: '/api/v1/users/{user}/enable',
      setUserPassword: '/api/v1/users/{user}/password',
      setUserRole: '/api/v1/users/{user}/role',
      startReconciliationRun: '/api/v1/reconciliations/exports/runs',
      listReconciliationRuns: '/api/v1/reconciliations/exports/runs',
      getReconciliationRun: `/api/v1/reconciliations/runs/${runId}`,
      listReconciliationDiscrepancies: `/api/v1/reconciliations/runs/${runId}/discrepancies`,
      repairReconciliationRun: `/api/v1/reconciliations/runs/${runId}/repair`,
      acknowledgeSyncFlag: '/api/v1/sync-status/flags/{flag}/acknowledge',
      getApp: '/api/v1/apps/{app}',
      approveApp: '/api/v1/apps/{app}/approve',
      setAppScopes: '/api/v1/apps/{app}/scopes',
      pauseApp: '/api/v1/apps/{app}/pause',
      resumeApp: '/api/v1/apps/{app}/resume',
      revokeApp: '/api/v1/apps/{app}/revoke',
      reinstateApp: '/api/v1/apps/{app}/reinstate',
      setAppWrites: '/api/v1/apps/{app}/writes',
      setAppEndpoints: '/api/v1/apps/{app}/endpoints',
      setAppRateLimit: '/api/v1/apps/{app}/rate-limit',
      promoteApp: '/api/v1/apps/{app}/promote',
      rotateAppSecret: '/api/v1/apps/{app}/secret',
      setAppJwks: '/api/v1/apps/{app}/jwks',
      listConsentExclusions: '/api/v1/consent/production/patients',
      excludePatient: '/api/v1/consent/production/patients/patient-1',
      liftPatientExclusion: '/api/v1/consent/production/patients/patient-1?app=app-1',
      listWebhooksOfApp: '/api/v1/apps/app-x/webhooks',
      listWebhookDeliveriesOfApp: '/api/v1/apps/app-x/webhook-deliveries',
      listWebhookDeadLettersOfApp: '/api/v1/apps/app-x/webhook-dead-letters',
      replayWebhookDeliveryOfApp: `/api/v1/apps/app-x/webhook-deliveries/${webhookDelivery}/replay`,
    };
    const bodies: Record<string, unknown> = {
      reprocessMessages: { ids: [messageId] },
      lintChannels: { files: [{ name: 'lab.yaml', content: 'id: lab\n' }] },
      rollbackChannel: { version: 1 },
      shadowChannel: { content: readFileSync(join(dir, 'channels', 'lab.yaml'), 'utf8'), limit: 10 },
      replayDeadLetters: { channel: 'lab' },
      createKey: { name: 'made-by-api', scopes: ['messages:read'] },
      createClient: { name: 'made-by-api', scopes: ['messages:read'] },
      createUser: {
        username: `u${Math.random().toString(36).slice(2, 10)}`,
        role: 'viewer',
        password: 'a long enough password',
      },
      setUserPassword: { password: 'another long enough password' },
      setUserRole: { role: 'operator' },
      startReconciliationRun: {},
      repairReconciliationRun: {},
      acknowledgeSyncFlag: {},
      createApp: { name: 'made-by-api', scopes: 'system/Patient.rs' },
      approveApp: { reason: 'route matrix' },
      setAppScopes: { approved: 'system/Patient.rs' },
      revokeApp: {},
      setAppWrites: { enabled: false },
      setAppEndpoints: { endpoints: ['Patient'] },
      setAppRateLimit: { per_minute: 100 },
      setAppJwks: { jwks: null },
      excludePatient: { app: 'app-1' },
    };
    if (r.path.includes('{') && !paths[r.operationId])
      throw new Error(`no sample for ${r.operationId}: add one to the route matrix`);
    return { path: paths[r.operationId] ?? r.path, ...(r.body ? { body: bodies[r.operationId] } : {}) };
  }

  it('declares every route of its controllers with a scope', () => {
    for (const controller of API_CONTROLLERS) {
      const proto = controller.prototype as unknown as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
        if (name === 'constructor' || typeof handler !== 'function') continue;
        if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        const spec = Reflect.getMetadata(ROUTE_SPEC, handler) as RouteSpec | undefined;
        expect({ route: `${controller.name}.${name}`, scope: spec?.scope }).toEqual({
          route: `${controller.name}.${name}`,
          scope: expect.stringMatching(/^(public|[a-z]+(:[a-z]+)?)$/),
        });
      }
    }
    expect(API_ROUTES.length).toBeGreaterThanOrEqual(15);
  });

  it('answers every route × credential as declared: 401, 403, or the operation', async () => {
    /** A fresh key for each call of a key operation (resume needs a paused one). */
    const victim = async (op: string) => {
      const k = await access.createKey({ name: 'victim', scopes: ['messages:read'] });
      if (op === 'resumeKey') await access.pauseKey(k.id);
      return k.id;
    };
    const revoked = await access.createKey({ name: 'revoked', scopes: ['admin'] });
    await access.revokeKey(revoked.id);
    const paused = await access.createKey({ name: 'paused', scopes: ['admin'] });
    await access.pauseKey(paused.id);
    const past = new AccessService(store, { now: () => new Date(Date.now() - 3_600_000) });
    const expired = await past.createKey({
      name: 'expired',
      scopes: ['admin'],
      expiresAt: new Date(Date.now() - 60_000),
    });
    /** A fresh client for each call of a client operation. */
    const victimClient = async (op: string) => {
      const k = await access.createClient({ name: 'victim', scopes: ['messages:read'] });
      if (op === 'resumeClient') await access.pauseClient(k.id);
      return k.id;
    };
    /** An OAuth2 access token of a client holding `scopes`, from the token endpoint. */
    const clientToken = async (scopes: Scope[]) => {
      const c = await access.createClient({ name: `client-${scopes.join('+')}`, scopes });
      const res = await fetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: c.id,
          client_secret: c.secret as string,
        }).toString(),
      });
      expect(res.status).toBe(200);
      return { id: c.id, token: ((await json(res)) as { access_token: string }).access_token };
    };
    const adminClient = await clientToken(['admin']);
    const pausedClient = await clientToken(['admin']);
    await access.pauseClient(pausedClient.id);
    const readerClient = await clientToken(['channels:read']);
    /** A fresh user for each call of a user operation (enable needs a disabled one). */
    const victimUser = async (op: string) => {
      const u = await access.createUser({
        username: `victim${Math.random().toString(36).slice(2, 10)}`,
        role: 'viewer',
        password: 'a long enough password',
      });
      if (op === 'enableUser') await access.disableUser(u.id);
      return u.id;
    };
    /** An open sync-error flag (acknowledging closes it: each call gets its own). */
    let flags = 0;
    const victimFlag = async () =>
      (
        await store.reconcile.raiseFlag({
          reconciliation: 'exports',
          entity: `patients-${flags++}`,
          class: 'never_received',
          count: 1,
          runId,
          raisedAt: new Date(),
        })
      ).id;
    /** A fresh sandbox app for each call of an app operation (resume needs a paused one, reinstate a suspended one). */
    const apps = new AppsService(store, new AuditLog(store));
    const victimApp = async (op: string) => {
      const { clientId } = await apps.createApp({
        name: 'victim',
        scopes: 'system/Patient.rs',
        approve: true,
      });
      if (op === 'resumeApp') await apps.pause(clientId);
      if (op === 'reinstateApp')
        await store.apps.updateApp(
          clientId,
          () => ({ state: 'suspended', stateReason: 'route matrix' }),
          new Date(),
        );
      return clientId;
    };
    const cells: string[] = [];
    for (const r of API_ROUTES.filter((x) => x.scope !== 'public')) {
      const s = sample(r);
      const expectStatus = async (token: string | undefined, want: number | 'ok', why: string) => {
        const path = s.path.includes('{key}')
          ? s.path.replace('{key}', await victim(r.operationId))
          : s.path.includes('{client}')
            ? s.path.replace('{client}', await victimClient(r.operationId))
            : s.path.includes('{user}')
              ? s.path.replace('{user}', await victimUser(r.operationId))
              : s.path.includes('{flag}')
                ? s.path.replace('{flag}', await victimFlag())
                : s.path.includes('{app}')
                  ? s.path.replace('{app}', await victimApp(r.operationId))
                  : s.path;
        // A fresh sample body per call (a username can be taken once).
        const res = await call(r.method, path, token, sample(r).body);
        const text = await res.text();
        const got = res.status;
        const ok = want === 'ok' ? got >= 200 && got < 300 : got === want;
        cells.push(`${r.operationId} ${why} → ${got}`);
        if (!ok) throw new Error(`${r.method} ${path} ${why}: ${got} ${text}`);
        if (got >= 400) {
          expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
          const problem = JSON.parse(text) as { status: number; code: string };
          expect(problem.status).toBe(got);
          expect(text).not.toMatch(/at .*\.ts:\d+|SELECT |node_modules/);
        }
        if (got === 401) expect(res.headers.get('www-authenticate')).toBe('Bearer realm="sinew"');
      };
      await expectStatus(undefined, 401, 'no credentials');
      await expectStatus('not-a-key', 401, 'malformed key');
      await expectStatus('snw_AAAAAAAA_' + 'x'.repeat(43), 401, 'unknown key');
      await expectStatus(revoked.secret, 401, 'revoked key');
      await expectStatus(paused.secret, 401, 'paused key');
      await expectStatus(expired.secret, 401, 'expired key');
      await expectStatus(pausedClient.token, 401, 'paused client');
      await expectStatus(adminClient.token, 'ok', 'admin client token');
      const readerAllowed =
        r.scope === 'authenticated' ||
        hasScope({ kind: 'client', id: 'x', name: 'x', scopes: ['channels:read'] }, r.scope as Scope);
      await expectStatus(readerClient.token, readerAllowed ? 'ok' : 403, 'channels:read client token');
      // Each scope alone: allowed exactly when it grants the route's scope.
      for (const scope of SCOPES) {
        const p: Principal = { kind: 'key', id: 'x', name: 'x', scopes: [scope] };
        const allowed = r.scope === 'authenticated' || hasScope(p, r.scope as Scope);
        await expectStatus(await key([scope]), allowed ? 'ok' : 403, `scope ${scope}`);
      }
    }
    // Routes on the lab channel's objects, for a key limited to the other channel.
    const elsewhere = await key(['admin'], ['other']);
    for (const op of ['getMessage', 'getChannel', 'replayMessage', 'replayDelivery']) {
      const r = API_ROUTES.find((x) => x.operationId === op) as RouteSpec;
      const res = await call(r.method, sample(r).path, elsewhere);
      expect({ op, status: res.status }).toEqual({ op, status: 404 });
      cells.push(`${op} other channel → 404`);
    }
    const search = await call('GET', '/api/v1/messages?channel=lab', elsewhere);
    expect(search.status).toBe(403);
    expect(cells.length).toBeGreaterThan(150);
  }, 180_000);

  it('searches messages from indexes, page by page, and shows content only with phi:read', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port: labPort });
    for (const id of ['API-2', 'API-3', 'API-4']) expect((await client.send(oru(id))).code).toBe('AA');
    await client.close();
    const reader = await key(['messages:read']);
    const engineer = await key(['messages:read', 'phi:read']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Response = await call(
        'GET',
        `/api/v1/messages?channel=lab&key=mrn:MRN-API-1&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        engineer,
      );
      expect(res.status).toBe(200);
      const page = (await json(res)) as {
        items: Array<{ control_id: string; keys?: unknown }>;
        next_cursor: string | null;
      };
      seen.push(...page.items.map((i) => i.control_id));
      expect(page.items.every((i) => i.keys !== undefined)).toBe(true);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['API-4', 'API-3', 'API-2', 'API-1']);

    const limited = await call('GET', '/api/v1/messages?control_id=API-3', reader);
    expect(limited.headers.get('ratelimit-policy')).toBe('"client";q=100000;w=60');
    expect(limited.headers.get('ratelimit')).toMatch(/^"client";r=\d+;t=\d+$/);
    const byControl = await json(limited);
    expect(byControl.items.map((i: { control_id: string }) => i.control_id)).toEqual(['API-3']);
    expect(byControl.items[0].keys).toBeUndefined();

    const metadata = await json(await call('GET', `/api/v1/messages/${messageId}`, reader));
    expect(metadata.content).toBeUndefined();
    expect(JSON.stringify(metadata)).not.toContain('DOE^JANE');
    expect(metadata.deliveries.map((d: { destination: string }) => d.destination).sort()).toEqual([
      'archive',
      'ehr',
    ]);

    const full = await json(await call('GET', `/api/v1/messages/${messageId}`, engineer));
    expect(full.content.raw.data).toContain('DOE^JANE');
    expect(full.content.ack.data).toContain('MSA|AA|API-1');
    const archive = full.deliveries.find((d: { destination: string }) => d.destination === 'archive');
    expect(archive.payload.data).toContain('PID|1||MRN-API-1');

    // Bad input: a clear 400 naming the parameter, unknown parameters refused.
    const bad = await call('GET', '/api/v1/messages?limit=9999&colour=blue', reader);
    expect(bad.status).toBe(400);
    const problem = await json(bad);
    expect(problem.invalid_params.map((p: { name: string }) => p.name).sort()).toEqual([
      'query',
      'query.limit',
    ]);
    const cursorBad = await call('GET', "/api/v1/messages?cursor=' OR 1=1 --", reader);
    expect(cursorBad.status).toBe(400);
    const traversal = await call('GET', '/api/v1/messages/..%2F..%2Fetc%2Fpasswd', reader);
    expect([400, 404]).toContain(traversal.status);
    const malformed = await fetch(`${base}/api/v1/messages/reprocess`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await key(['messages:replay'])}`,
        'content-type': 'application/json',
      },
      body: '{"ids": [',
    });
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toMatch(/problem\+json/);
    const huge = await fetch(`${base}/api/v1/messages/reprocess`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await key(['messages:replay'])}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ ids: Array(200_000).fill('x') }),
    });
    expect(huge.status).toBe(413);
    const unknownRoute = await call('GET', '/api/v1/nothing-here', reader);
    expect(unknownRoute.status).toBe(404);
    expect((await json(unknownRoute)).code).toBe('route.not_found');
  });

  it('pauses a channel: its sender is told to send again later, its deliveries hold; resuming sends them', async () => {
    const operator = await key(['channels:operate', 'messages:replay', 'channels:read']);
    const paused = await call('POST', '/api/v1/channels/lab/pause', operator);
    expect(paused.status).toBe(201);
    expect((await json(paused)).paused).toBe(true);
    const client = new MllpClient({ host: '127.0.0.1', port: labPort });
    const refused = await client.send(oru('API-PAUSED'));
    expect(refused.code).toBe('AR');
    expect(refused.errors.join(' ')).toContain('channel.paused');
    expect(await store.searchMessages({ controlId: 'API-PAUSED' })).toEqual([]);
    // A replayed delivery waits while the channel is paused.
    const before = (await store.getAttempts(deadDelivery)).length;
    expect((await call('POST', `/api/v1/deliveries/${deadDelivery}/replay`, operator)).status).toBe(201);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await store.getAttempts(deadDelivery)).length).toBe(before);
    expect((await store.getDelivery(deadDelivery))?.status).toBe('pending');
    const list = await json(await call('GET', '/api/v1/channels', operator));
    expect(list.items.find((c: { id: string }) => c.id === 'lab').paused).toBe(true);

    expect((await json(await call('POST', '/api/v1/channels/lab/resume', operator))).paused).toBe(false);
    await waitFor(
      'the held delivery attempted',
      async () => ((await store.getAttempts(deadDelivery)).length > before ? true : undefined),
      10_000,
      50,
    );
    expect((await client.send(oru('API-RESUMED'))).code).toBe('AA');
    await client.close();
  });

  it('groups dead letters and replays them by filter after a dry run', async () => {
    const operator = await key(['messages:read', 'messages:replay']);
    // The earlier tests' last messages are still on their way to the dead-letter list (through
    // the pipeline, then one attempt).
    await waitFor(
      'no unfinished message or delivery on the lab channel',
      async () => {
        const counts = await store.channelCounts('lab', new Date(0));
        return (Object.keys(counts.openDeliveries).length === 0 && !counts.messages.received) || undefined;
      },
      20_000,
      50,
    );
    const groups = await json(await call('GET', '/api/v1/dead-letters?channel=lab', operator));
    expect(groups.groups[0]).toMatchObject({ channel: 'lab', destination: 'ehr' });
    expect(groups.groups[0].count).toBeGreaterThanOrEqual(1);
    const dry = await json(await call('POST', '/api/v1/dead-letters/replay', operator, { channel: 'lab' }));
    expect(dry).toMatchObject({ dry_run: true, requeued: [] });
    expect(dry.count).toBe(groups.total);
    const before = (await store.getDelivery(deadDelivery))?.status;
    expect(['dead_lettered', 'pending', 'retrying']).toContain(before);
  });

  it('records every call in a hash-chained audit log: who, what, the filter names, content reads', async () => {
    const auditor = await key(['audit:read']);
    const res = await call('GET', '/api/v1/audit?action=GET%20/api/v1/messages/%7Bid%7D&limit=1000', auditor);
    expect(res.status).toBe(200);
    const { items } = (await json(res)) as {
      items: Array<{ actor: string; outcome: string; content_read: boolean; object_ids: string[] }>;
    };
    expect(items.some((i) => i.content_read && i.object_ids.includes(messageId) && i.outcome === '200')).toBe(
      true,
    );
    expect(items.some((i) => i.outcome === '401' && i.actor === 'anonymous')).toBe(true);
    const searches = await json(
      await call('GET', '/api/v1/audit?action=GET%20/api/v1/messages&limit=1000', auditor),
    );
    const byKey = searches.items.find(
      (i: { filter?: Record<string, string> }) => i.filter?.key !== undefined,
    );
    expect(byKey.filter.key).toBe('mrn');
    expect(JSON.stringify(searches)).not.toContain('MRN-API-1');
    const verify = await json(await call('GET', '/api/v1/audit/verify', auditor));
    expect(verify).toMatchObject({ ok: true });
    expect(verify.rows).toBeGreaterThan(200);
    // Every answer so far is in the log, by operation and status, and every answer that carried
    // content is a row marked content_read (the log is appended as each answer is sent).
    const want = new Map<string, number>();
    const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    for (const a of answered) {
      bump(want, `${a.action} ${a.status}`);
      if (a.content) bump(want, `${a.action} ${a.status} content`);
    }
    const contentReads = answered.filter((a) => a.content).length;
    expect(contentReads).toBeGreaterThan(5);
    const missing = async () => {
      const got = new Map<string, number>();
      let cursor: string | undefined;
      do {
        const page = await new AuditLog(store).search({ limit: 1000, ...(cursor ? { cursor } : {}) });
        for (const r of page.items) {
          bump(got, `${r.action} ${r.outcome}`);
          if (r.contentRead) bump(got, `${r.action} ${r.outcome} content`);
        }
        cursor = page.nextCursor;
      } while (cursor);
      return [...want]
        .filter(([k, n]) => (got.get(k) ?? 0) < n)
        .map(([k, n]) => `${k}: ${got.get(k) ?? 0} of ${n}`);
    };
    let left = await missing();
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await missing();
    }
    expect(left).toEqual([]);
    expect((await new AuditLog(store).verify()).ok).toBe(true);
  });

  it('signs a browser in with an HttpOnly cookie, asks for the CSRF token on changes, and signs out for good', async () => {
    await access.createUser({ username: 'nightshift', role: 'operator', password: 'correct horse battery' });
    const signIn = (password: string) =>
      fetch(`${base}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'nightshift', password }),
      });
    const wrong = await signIn('not the password');
    expect(wrong.status).toBe(401);
    expect(await json(wrong)).toMatchObject({ code: 'auth.failed', detail: 'wrong username or password' });
    const unknownUser = await fetch(`${base}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'nobody', password: 'not the password' }),
    });
    expect(await json(unknownUser)).toEqual(await json(await signIn('not the password either')));

    const ok = await signIn('correct horse battery');
    expect(ok.status).toBe(201);
    const setCookie = ok.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(
      /^sinew_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
    );
    const me = await json(ok);
    expect(me).toMatchObject({ kind: 'user', name: 'nightshift' });
    expect(me.scopes).toContain('messages:replay');
    const cookie = setCookie.split(';')[0] as string;
    const asBrowser = (method: string, path: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method, headers: { cookie, ...headers } });

    expect((await asBrowser('GET', '/api/v1/messages?channel=lab')).status).toBe(200);
    expect((await json(await asBrowser('GET', '/api/v1/session'))).csrf_token).toBe(me.csrf_token);
    const noCsrf = await asBrowser('POST', `/api/v1/messages/${messageId}/replay`);
    expect(noCsrf.status).toBe(403);
    expect((await json(noCsrf)).code).toBe('csrf.invalid');
    const withCsrf = await asBrowser('POST', `/api/v1/messages/${messageId}/replay`, {
      'x-csrf-token': me.csrf_token,
    });
    expect(withCsrf.status).toBe(201);
    // An operator holds no phi:read: the message without content.
    expect((await json(await asBrowser('GET', `/api/v1/messages/${messageId}`))).content).toBeUndefined();

    const out = await asBrowser('DELETE', '/api/v1/session', { 'x-csrf-token': me.csrf_token });
    expect(await json(out)).toEqual({ signed_out: true });
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    const after = await asBrowser('GET', '/api/v1/messages?channel=lab');
    expect(after.status).toBe(401);
    expect((await json(after)).code).toBe('session.expired');
  });

  it('locks an account after repeated failed sign-ins and says so', async () => {
    await access.createUser({ username: 'target', role: 'viewer', password: 'a long enough password' });
    const attempt = (password: string) =>
      fetch(`${base}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'target', password }),
      });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await attempt(`guess ${i}`)).status);
    // The fifth failure locks the account: it is answered as locked already.
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    const locked = await attempt('a long enough password');
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await json(locked)).detail).toMatch(/locked; try again in \d+ s/);
  });

  it('serves a valid OpenAPI 3.1 document declaring every operation’s security, and docs from npm', async () => {
    const doc = await json(await fetch(`${base}/openapi.json`));
    // The validator is an ES module: it runs in a node of its own.
    writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc));
    const check = `import { Validator } from '@seriousme/openapi-schema-validator';
const r = await new Validator().validate(process.argv[1]);
process.stdout.write(JSON.stringify({ valid: r.valid, version: new Validator().version, errors: r.errors ?? [] }));`;
    const result = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', check, join(dir, 'openapi.json')], {
        cwd: join(__dirname, '..', '..', '..', '..'),
      }).toString(),
    ) as { valid: boolean; errors: unknown[] };
    expect(result.errors).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    let operations = 0;
    for (const [path, item] of Object.entries(
      doc.paths as Record<string, Record<string, Record<string, unknown>>>,
    )) {
      for (const [method, op] of Object.entries(item)) {
        operations++;
        const route = API_ROUTES.find((r) => r.path === path && r.method.toLowerCase() === method);
        expect(op['x-sinew-scope']).toBe(route?.scope);
        expect(op.security).toEqual(
          route?.scope === 'public'
            ? []
            : route?.scope === 'authenticated'
              ? [{ bearer: [] }, { session: [] }]
              : [{ bearer: [route?.scope] }, { session: [route?.scope] }],
        );
      }
    }
    expect(operations).toBe(API_ROUTES.length);
    const page = await fetch(`${base}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const bundle = await fetch(`${base}/docs/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });
});
