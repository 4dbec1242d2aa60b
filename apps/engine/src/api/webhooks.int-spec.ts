import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import { AccessService } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { openStore, type Store } from '@sinew/store';
import { createAppGateDouble, type AppGateDouble } from '@sinew/test-support/app-gate-double-webhooks';
import { createHubChangesDouble, type HubChangesDouble } from '@sinew/test-support/hub-changes-double';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { waitFor } from '@sinew/test-support/wait';
import { SubscriptionService } from '@sinew/webhooks';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../config';
import { FHIR_SUBSCRIPTION_DEPS, SubscriptionController } from '../fhir/subscription.controller';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(90_000);

// Answers are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

interface Received {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const backends: Array<[string, () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>]> = [
  ['SQLite', async () => ({ env: {}, drop: async () => undefined })],
  [
    'PostgreSQL',
    async () => {
      const s: TestSchema = await withTestSchema();
      return { env: { DATABASE_URL: s.url, DATABASE_SCHEMA: s.schema }, drop: () => s.drop() };
    },
  ],
];

describe.each(backends)(
  'webhook routes on %s: apps with their token, admins with the admin scope',
  (_, backend) => {
    let dir: string;
    let db: { env: Record<string, string>; drop: () => Promise<void> };
    let running: RunningEngine;
    let store: Store;
    let hub: HubChangesDouble;
    let gate: AppGateDouble;
    let receiver: Server;
    let receiverPort: number;
    const received: Received[] = [];
    const statuses: number[] = [];
    let adminKey: string;
    let viewerKey: string;
    let readerToken: string;
    let otherToken: string;

    const base = () => `http://127.0.0.1:${running.httpPort}`;
    const call = (method: string, path: string, token?: string, body?: unknown) =>
      fetch(`${base()}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sinew-webhooks-api-'));
      mkdirSync(join(dir, 'channels'));
      mkdirSync(join(dir, 'reconciliations'));
      // Two exports that disagree: every run finds discrepancies.
      writeFileSync(join(dir, 'reconciliations', 'pms.csv'), 'MRN,Family\nMRN-1,Doe\nMRN-2,Roe\n');
      writeFileSync(join(dir, 'reconciliations', 'ehr.csv'), 'MRN,Family\nMRN-1,Dough\n');
      writeFileSync(
        join(dir, 'reconciliations', 'exports.yaml'),
        `id: exports
schedule: { cron: '0 3 * * *', timezone: Europe/London }
period: all
systems:
  pms: { type: csv, dir: . }
  ehr: { type: csv, dir: . }
entities:
  - name: patients
    identity: mrn
    fields:
      family: {}
    source: { system: pms, file: pms.csv, key: MRN, fields: { family: Family } }
    target: { system: ehr, file: ehr.csv, key: MRN, fields: { family: Family } }
`,
      );
      db = await backend();
      receiver = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          received.push({
            path: req.url ?? '',
            method: req.method ?? '',
            headers: req.headers,
            body: Buffer.concat(chunks).toString(),
          });
          res.statusCode = statuses.shift() ?? 200;
          res.end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      receiverPort = (receiver.address() as AddressInfo).port;
      hub = createHubChangesDouble();
      gate = createAppGateDouble();
      const config = loadConfig({
        SINEW_CHANNELS_DIR: join(dir, 'channels'),
        SINEW_RECONCILIATIONS_DIR: join(dir, 'reconciliations'),
        SINEW_DATA_DIR: join(dir, 'data'),
        SINEW_HTTP_PORT: '0',
        SINEW_PIPELINE_THREADS: '0',
        SINEW_API_RATE_LIMIT: '100000',
        ...db.env,
      });
      running = await startEngine(config, createLogger('warn', { write: () => undefined }), {
        hub,
        appGate: gate,
      });
      store = await openStore({
        ...(db.env.DATABASE_URL ? { databaseUrl: db.env.DATABASE_URL, schema: db.env.DATABASE_SCHEMA } : {}),
        dataDir: join(dir, 'data'),
      });
      const access = new AccessService(store);
      adminKey = (await access.createKey({ name: 'admin', scopes: ['admin'] })).secret;
      viewerKey = (await access.createKey({ name: 'viewer', scopes: ['messages:read'] })).secret;
      readerToken = gate.issue({ appId: 'reader', scopes: ['system/Patient.rs', 'system/Observation.rs'] });
      otherToken = gate.issue({ appId: 'other', scopes: ['system/Appointment.rs'] });
    });

    afterAll(async () => {
      await running?.stop();
      await store?.close();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('lets an app subscribe, receive signed events, read its log, replay, rotate the secret and unsubscribe', async () => {
      const url = `http://127.0.0.1:${receiverPort}/hooks/reader`;
      const made = await call('POST', '/api/v1/app/webhooks', readerToken, {
        url,
        events: ['patient.created', 'patient.updated'],
      });
      expect(made.status).toBe(201);
      expect(made.headers.get('cache-control')).toBe('no-store');
      const sub = (await made.json()) as Body;
      expect(sub).toMatchObject({
        appId: 'reader',
        url,
        events: ['patient.created', 'patient.updated'],
        payload: 'resource',
        environment: 'production',
        effectivePayload: { 'patient.created': 'resource', 'patient.updated': 'resource' },
      });
      expect(sub.secret).toMatch(/^whsec_/);
      const listed = (await (await call('GET', '/api/v1/app/webhooks', readerToken)).json()) as Body;
      expect(listed.items).toHaveLength(1);
      expect(JSON.stringify(listed)).not.toContain(sub.secret.slice(6));
      // Another app sees none of it.
      expect(((await (await call('GET', '/api/v1/app/webhooks', otherToken)).json()) as Body).items).toEqual(
        [],
      );

      hub.commit({ action: 'created', resource: { resourceType: 'Patient', id: 'p1', gender: 'female' } });
      await waitFor('the delivery', () => received.length === 1, 10_000);
      const first = received[0] as Received;
      expect(
        new Webhook(sub.secret).verify(first.body, first.headers as Record<string, string>),
      ).toMatchObject({
        type: 'patient.created',
        data: { resource: { id: 'p1', gender: 'female' } },
      });

      // A 400 from the receiver: dead at once; the app sees it and replays it.
      statuses.push(400);
      hub.commit({ action: 'updated', resource: { resourceType: 'Patient', id: 'p1', gender: 'other' } });
      const dead = await waitFor(
        'the dead letter',
        async () =>
          (
            (await (
              await call('GET', '/api/v1/app/webhook-deliveries?status=dead', readerToken)
            ).json()) as Body
          ).items[0],
        10_000,
      );
      expect(dead).toMatchObject({
        eventType: 'patient.updated',
        status: 'dead',
        attempts: 1,
        responseCode: 400,
      });
      expect(dead).not.toHaveProperty('body');
      const detail = (await (
        await call('GET', `/api/v1/app/webhook-deliveries/${dead.id}`, readerToken)
      ).json()) as Body;
      expect(detail.attemptLog).toEqual([
        {
          number: 1,
          at: expect.any(String),
          outcome: 'dead',
          responseCode: 400,
          error: expect.stringContaining('400'),
          latencyMs: expect.any(Number),
        },
      ]);
      expect((await call('GET', `/api/v1/app/webhook-deliveries/${dead.id}`, otherToken)).status).toBe(404);
      expect(
        (await call('POST', `/api/v1/app/webhook-deliveries/${dead.id}/replay`, otherToken)).status,
      ).toBe(404);
      const replay = await call('POST', `/api/v1/app/webhook-deliveries/${dead.id}/replay`, readerToken);
      expect(replay.status).toBe(202);
      expect(await replay.json()).toMatchObject({ replayOf: dead.id, status: 'pending' });
      await waitFor('the replay', () => received.length === 3, 10_000);
      expect(received[2]?.headers['webhook-id']).toBe(dead.eventId);

      // Rotation: for a day, deliveries carry a signature with each secret, so either verifies.
      const rotated = (await (
        await call('POST', `/api/v1/app/webhooks/${sub.id}/rotate-secret`, readerToken)
      ).json()) as Body;
      expect(rotated.secret).toMatch(/^whsec_/);
      expect(rotated.secret).not.toBe(sub.secret);
      hub.commit({ action: 'updated', resource: { resourceType: 'Patient', id: 'p1', gender: 'male' } });
      await waitFor('after rotation', () => received.length === 4, 10_000);
      const after = received[3] as Received;
      expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(2);
      for (const secret of [rotated.secret, sub.secret])
        expect(new Webhook(secret).verify(after.body, after.headers as Record<string, string>)).toMatchObject(
          {
            type: 'patient.updated',
          },
        );

      const log = await waitFor(
        'the log up to date',
        async () => {
          const items = (
            (await (await call('GET', '/api/v1/app/webhook-deliveries?limit=10', readerToken)).json()) as Body
          ).items;
          return items[0]?.status === 'delivered' && items;
        },
        10_000,
      );
      expect(log.map((d: Body) => [d.eventType, d.status])).toEqual([
        ['patient.updated', 'delivered'],
        ['patient.updated', 'delivered'],
        ['patient.updated', 'dead'],
        ['patient.created', 'delivered'],
      ]);
      expect(gate.calls.filter((c) => c.appId === 'reader').length).toBeGreaterThanOrEqual(6);

      expect((await call('DELETE', `/api/v1/app/webhooks/${sub.id}`, otherToken)).status).toBe(404);
      expect((await call('DELETE', `/api/v1/app/webhooks/${sub.id}`, readerToken)).status).toBe(204);
      expect(((await (await call('GET', '/api/v1/app/webhooks', readerToken)).json()) as Body).items).toEqual(
        [],
      );
    });

    it('refuses bad subscriptions and bad tokens with specific problems', async () => {
      const bad = async (body: unknown, code: string) => {
        const res = await call('POST', '/api/v1/app/webhooks', otherToken, body);
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(((await res.json()) as Body).code).toBe(code);
      };
      await bad(
        { url: 'http://hooks.example.com/x', events: ['appointment.booked'] },
        'webhook.url_insecure',
      );
      await bad(
        { url: 'https://user:pw@hooks.example.com/x', events: ['appointment.booked'] },
        'webhook.url_invalid',
      );
      await bad({ url: 'https://hooks.example.com/x', events: ['appointment.moved'] }, 'request.invalid');
      await bad({ url: 'https://hooks.example.com/x', events: [] }, 'request.invalid');
      // Without the read scope, the payload is only a reference whatever was asked for.
      const ok = await call('POST', '/api/v1/app/webhooks', otherToken, {
        url: 'https://hooks.example.com/x',
        events: ['patient.created', 'appointment.booked'],
        payload: 'resource',
      });
      expect(((await ok.json()) as Body).effectivePayload).toEqual({
        'patient.created': 'reference',
        'appointment.booked': 'resource',
      });

      const none = await call('GET', '/api/v1/app/webhooks');
      expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="sinew"']);
      expect((await call('GET', '/api/v1/app/webhooks', 'nonsense')).status).toBe(401);
      const suspended = gate.issue({ appId: 'suspended', scopes: [] });
      gate.refuse(suspended, { code: 'app.suspended', detail: 'suspended for misuse' });
      const s = await call('GET', '/api/v1/app/webhooks', suspended);
      expect([s.status, ((await s.json()) as Body).code]).toEqual([403, 'app.suspended']);
      const busy = gate.issue({ appId: 'busy', scopes: [] });
      gate.refuse(busy, { code: 'rate.limited', detail: 'slow down', retryAfterMs: 2_500 });
      const b = await call('GET', '/api/v1/app/webhook-deliveries', busy);
      expect([b.status, b.headers.get('retry-after')]).toEqual([429, '3']);
      // An admin API key is not an app token.
      expect((await call('GET', '/api/v1/app/webhooks', adminKey)).status).toBe(401);
    });

    it('shows admins any app’s subscriptions, deliveries and dead letters, and lets them replay', async () => {
      const url = `http://127.0.0.1:${receiverPort}/hooks/admin-view`;
      const sub = (await (
        await call('POST', '/api/v1/app/webhooks', readerToken, { url, events: ['patient.created'] })
      ).json()) as Body;
      statuses.push(410);
      const before = received.length;
      hub.commit({ action: 'created', resource: { resourceType: 'Patient', id: 'p9' } });
      await waitFor('the refused delivery', () => received.length === before + 1, 10_000);
      const subs = await call('GET', '/api/v1/apps/reader/webhooks', adminKey);
      expect(subs.status).toBe(200);
      const subsBody = (await subs.json()) as Body;
      expect(subsBody.items.map((s: Body) => s.id)).toContain(sub.id);
      expect(JSON.stringify(subsBody)).not.toContain('whsec_');
      const dead = await waitFor(
        'dead letter for the admin',
        async () =>
          (
            (await (await call('GET', '/api/v1/apps/reader/webhook-dead-letters', adminKey)).json()) as Body
          ).items.find((d: Body) => d.subscriptionId === sub.id),
        10_000,
      );
      expect(dead).toMatchObject({ subscriptionId: sub.id, responseCode: 410, status: 'dead' });
      expect((await call('GET', '/api/v1/apps/reader/webhook-dead-letters', viewerKey)).status).toBe(403);
      expect((await call('GET', '/api/v1/apps/reader/webhook-dead-letters')).status).toBe(401);
      expect(
        (await call('POST', `/api/v1/apps/other/webhook-deliveries/${dead.id}/replay`, adminKey)).status,
      ).toBe(404);
      const replay = await call('POST', `/api/v1/apps/reader/webhook-deliveries/${dead.id}/replay`, adminKey);
      expect(replay.status).toBe(202);
      await waitFor('replayed', () => received.length === before + 2, 10_000);
      const all = (
        (await (await call('GET', '/api/v1/apps/reader/webhook-deliveries?limit=2', adminKey)).json()) as Body
      ).items;
      expect(all[0]).toMatchObject({ replayOf: dead.id });
    });

    it('sends a reconciliation run’s discrepancies as reconciliation.discrepancy (counts, no values)', async () => {
      const url = `http://127.0.0.1:${receiverPort}/hooks/recon`;
      const sub = (await (
        await call('POST', '/api/v1/app/webhooks', otherToken, {
          url,
          events: ['reconciliation.discrepancy'],
        })
      ).json()) as Body;
      const started = await call('POST', '/api/v1/reconciliations/exports/runs', adminKey, {});
      expect(started.status).toBe(202);
      const runId = ((await started.json()) as Body).id;
      const got = await waitFor('the event', () => received.find((r) => r.path === '/hooks/recon'), 20_000);
      const event = new Webhook(sub.secret).verify(got.body, got.headers as Record<string, string>) as Body;
      expect(event).toMatchObject({
        type: 'reconciliation.discrepancy',
        version: '1',
        data: { reconciliation: 'exports', runId, discrepancies: 2, entities: [{ name: 'patients' }] },
      });
      expect(got.body).not.toMatch(/MRN-|Doe|Roe|Dough/);
    });

    it('serves FHIR R4 Subscriptions (rest-hook): create, read, search, delete, OperationOutcome errors', async () => {
      @Module({
        controllers: [SubscriptionController],
        providers: [
          {
            provide: FHIR_SUBSCRIPTION_DEPS,
            useValue: { subscriptions: new SubscriptionService({ store: store.webhooks }), appGate: gate },
          },
        ],
      })
      class FhirSubscriptionTestModule {}
      const app: INestApplication = await NestFactory.create(FhirSubscriptionTestModule, { logger: false });
      await app.listen(0, '127.0.0.1');
      const fhirBase = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/fhir/R4`;
      const fhir = (method: string, path: string, token?: string, body?: unknown) =>
        fetch(`${fhirBase}${path}`, {
          method,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      try {
        const endpoint = `http://127.0.0.1:${receiverPort}/fhir-hook`;
        const created = await fhir('POST', '/Subscription', readerToken, {
          resourceType: 'Subscription',
          status: 'requested',
          reason: 'final glucose results',
          criteria: 'Observation?code=http://loinc.org|2345-7',
          channel: { type: 'rest-hook', endpoint, payload: 'application/fhir+json' },
        });
        expect(created.status).toBe(201);
        expect(created.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
        const sub = (await created.json()) as Body;
        expect(created.headers.get('location')).toBe(`Subscription/${sub.id}`);
        expect(sub).toMatchObject({ resourceType: 'Subscription', status: 'active', channel: { endpoint } });
        expect(
          ((await (await fhir('GET', `/Subscription/${sub.id}`, readerToken)).json()) as Body).criteria,
        ).toBe('Observation?code=http://loinc.org|2345-7');
        expect((await fhir('GET', `/Subscription/${sub.id}`, otherToken)).status).toBe(404);
        const bundle = (await (await fhir('GET', '/Subscription', readerToken)).json()) as Body;
        expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });

        const before = received.length;
        hub.commit({
          action: 'created',
          resource: {
            resourceType: 'Observation',
            id: 'glu1',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
          },
          patientId: 'p1',
        });
        await waitFor('the notification', () => received.length === before + 1, 10_000);
        expect(received[before]).toMatchObject({ method: 'PUT', path: '/fhir-hook/Observation/glu1' });

        const refused = async (body: unknown, status: number, code: string) => {
          const res = await fhir('POST', '/Subscription', readerToken, body);
          expect(res.status).toBe(status);
          const oo = (await res.json()) as Body;
          expect(oo).toMatchObject({
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code }],
          });
        };
        const valid = {
          resourceType: 'Subscription',
          reason: 'r',
          criteria: 'Patient',
          channel: { type: 'rest-hook', endpoint },
        };
        await refused({ ...valid, criteria: 'Patient?name=x' }, 422, 'not-supported');
        await refused({ ...valid, channel: { type: 'websocket' } }, 422, 'not-supported');
        await refused(
          { ...valid, channel: { type: 'rest-hook', endpoint: 'http://example.com/x' } },
          422,
          'value',
        );
        await refused({ ...valid, reason: undefined }, 400, 'required');
        await refused({ ...valid, criteria: 'Appointment' }, 403, 'forbidden');
        const noToken = await fhir('POST', '/Subscription', undefined, valid);
        expect([noToken.status, ((await noToken.json()) as Body).resourceType]).toEqual([
          401,
          'OperationOutcome',
        ]);

        expect((await fhir('DELETE', `/Subscription/${sub.id}`, readerToken)).status).toBe(204);
        expect((await fhir('GET', `/Subscription/${sub.id}`, readerToken)).status).toBe(404);
      } finally {
        await app.close();
      }
    });
  },
);
