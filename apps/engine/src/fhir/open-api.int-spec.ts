import { AccessService } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { buildAck, Hl7Message } from '@sinew/hl7v2';
import { MllpClient, MllpServer } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import { Client } from 'fhir-kit-client';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { registerTestApp, type TestApp } from '../../../../test/support/apps';
import { freePort } from '../../../../test/support/engine-process';
import { withTestSchema } from '../../../../test/support/postgres';
import { flushPrefix, redisUrl, uniquePrefix } from '../../../../test/support/redis';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(180_000);

// FHIR bodies are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

const ROOT = join(__dirname, '../../../..');
const sample = (name: string) => readFileSync(join(ROOT, 'channels/samples', name), 'utf8');
const MRN = 'MRN-000123';
const OTHER_MRN = 'MRN-000777';

/** The demo's ADT sample for another patient, or as an A08 update of the first. */
function adt(mrn: string, control: string, event = 'A01', family = 'TESTPATIENT'): Hl7Message {
  return Hl7Message.parse(
    sample('adt-a01.hl7')
      .replaceAll('MRN-000123', mrn)
      // Every identifier of the patient is theirs alone: the hub upserts by any of them.
      .replace('999-00-0001', `999-${mrn.slice(-6)}`)
      .replace('ACCT-0009876', `ACCT-${mrn.slice(-6)}`)
      .replaceAll('DEMO-ADT-0001', control)
      .replace('ADT^A01^ADT_A01', `ADT^${event}^ADT_A01`)
      .replace(/EVN\|A01/, `EVN|${event}`)
      .replace('TESTPATIENT^ALICE', `${family}^ALICE`),
  );
}
function oru(mrn: string, control: string): Hl7Message {
  return Hl7Message.parse(
    sample('oru-r01.hl7').replaceAll('MRN-000123', mrn).replaceAll('DEMO-ORU-0001', control),
  );
}

const channels = (adtPort: number, labPort: number, pmsPort: number) => ({
  'pms-adt.yaml': `id: pms-adt
source: { type: mllp, listen: 127.0.0.1:${adtPort} }
ack: { when: received }
keys: { mrn: PID-3.1 }
pipeline:
  - filter: { path: MSH-9.1, equals: ADT }
  - map: { transformer: adt-to-fhir }
destinations:
  - { name: hub, type: store, ordering: PID-3.1 }
`,
  'lab-results.yaml': `id: lab-results
source: { type: mllp, listen: 127.0.0.1:${labPort} }
ack: { when: received }
keys: { mrn: PID-3.1 }
pipeline:
  - filter: { path: MSH-9.1, equals: ORU }
  - map: { transformer: oru-to-fhir }
destinations:
  - { name: hub, type: store, ordering: PID-3.1 }
`,
  'fhir-writes.yaml': `id: fhir-writes
source: { type: fhir, resources: [Appointment], environment: production }
destinations:
  - name: pms-book
    type: mllp
    url: mllp://127.0.0.1:${pmsPort}
    filter: { fhirpath: "resourceType = 'Appointment' and id.empty()" }
    transformer: appointment-to-siu-s12
    on_application_error: fail
`,
});

const appointment = {
  resourceType: 'Appointment',
  identifier: [
    {
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
      system: 'urn:sinew:appointments',
      value: 'APT-E2E-1',
    },
  ],
  status: 'booked',
  start: '2026-04-01T09:30:00+00:00',
  end: '2026-04-01T09:50:00+00:00',
  participant: [{ actor: { reference: 'Patient/PATIENT_ID' }, status: 'accepted' }],
};

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

const backends: Array<[string, () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>]> = [
  ['SQLite', async () => ({ env: {}, drop: async () => undefined })],
  [
    'PostgreSQL',
    async () => {
      const s = await withTestSchema();
      return { env: { DATABASE_URL: s.url, DATABASE_SCHEMA: s.schema }, drop: () => s.drop() };
    },
  ],
];

describe.each(backends)(
  'the open API end to end on %s: channels → hub → FHIR API, webhooks, writes',
  (_, backend) => {
    let dir: string;
    let db: { env: Record<string, string>; drop: () => Promise<void> };
    let redis: string;
    let prefix: string;
    let running: RunningEngine;
    let store: Store;
    let base: string;
    let adminKey: string;
    let adtPort: number;
    let labPort: number;
    let reader: TestApp;
    let other: TestApp;
    let receptionist: TestApp;
    let sandbox: TestApp;
    let readerToken: string;
    let otherToken: string;
    const pmsReceived: Hl7Message[] = [];
    const pms = new MllpServer({ port: 0 }, (bytes) => {
      const message = Hl7Message.parse(bytes);
      pmsReceived.push(message);
      return buildAck(message, { code: 'AA', text: 'in the diary' });
    });
    let receiver: Server;
    let receiverUrl: string;
    const hooks: Record<string, Received[]> = { reader: [], other: [] };

    const fhir = (token: string) => new Client({ baseUrl: `${base}/fhir/R4`, bearerToken: token });
    const call = async (method: string, path: string, token: string, body?: unknown, headers = {}) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: Body = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // NDJSON and empty bodies stay text.
      }
      return { status: res.status, headers: res.headers, body: parsed };
    };
    const send = async (port: number, message: Hl7Message) => {
      const client = new MllpClient({ host: '127.0.0.1', port });
      try {
        expect((await client.send(message)).code).toBe('AA');
      } finally {
        await client.close();
      }
    };
    const patientId = async (token: string, mrn: string): Promise<string> => {
      const bundle = await waitFor(
        `Patient ${mrn} in the hub`,
        async () => {
          const b = (await fhir(token).search({
            resourceType: 'Patient',
            searchParams: { identifier: mrn },
          })) as Body;
          return b.entry?.length ? b : undefined;
        },
        30_000,
      );
      return bundle.entry[0].resource.id as string;
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sinew-open-api-'));
      mkdirSync(join(dir, 'channels'));
      db = await backend();
      redis = await redisUrl();
      prefix = uniquePrefix('open-api');
      await pms.start();
      adtPort = await freePort();
      labPort = await freePort();
      for (const [name, text] of Object.entries(channels(adtPort, labPort, pms.port)))
        writeFileSync(join(dir, 'channels', name), text);
      receiver = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const who = (req.url ?? '').slice(1);
          hooks[who]?.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
          res.statusCode = 204;
          res.end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
      const config = loadConfig({
        SINEW_CHANNELS_DIR: join(dir, 'channels'),
        SINEW_DATA_DIR: join(dir, 'data'),
        SINEW_HTTP_PORT: '0',
        SINEW_PIPELINE_THREADS: '0',
        SINEW_API_RATE_LIMIT: '100000',
        REDIS_URL: redis,
        SINEW_REDIS_PREFIX: prefix,
        ...db.env,
      });
      running = await startEngine(config, createLogger('warn', { write: () => undefined }));
      base = `http://127.0.0.1:${running.httpPort}`;
      store = await openStore({
        ...(db.env.DATABASE_URL ? { databaseUrl: db.env.DATABASE_URL, schema: db.env.DATABASE_SCHEMA } : {}),
        dataDir: join(dir, 'data'),
      });
      adminKey = (await new AccessService(store).createKey({ name: 'admin', scopes: ['admin'] })).secret;
      reader = await registerTestApp(store, {
        rateLimit: 1_000_000,
        name: 'reader',
        scopes: 'system/Patient.rs system/Observation.rs system/DiagnosticReport.rs system/Encounter.rs',
        events: ['patient.created', 'result.final'],
      });
      other = await registerTestApp(store, {
        rateLimit: 1_000_000,
        name: 'other',
        scopes: 'system/Patient.rs system/Observation.rs system/DiagnosticReport.rs system/Encounter.rs',
        events: ['patient.created', 'result.final'],
      });
      receptionist = await registerTestApp(store, {
        rateLimit: 1_000_000,
        name: 'receptionist',
        scopes: 'system/Appointment.c system/Patient.rs',
      });
      sandbox = await registerTestApp(store, {
        rateLimit: 1_000_000,
        name: 'sandbox app',
        scopes: 'system/Patient.rs',
        environment: 'sandbox',
      });
      readerToken = await reader.token({ baseUrl: base });
      otherToken = await other.token({ baseUrl: base });
    });

    afterAll(async () => {
      await running?.stop();
      await store?.close();
      await pms.stop();
      await new Promise((resolve) => receiver?.close(resolve));
      await flushPrefix(redis, prefix).catch(() => undefined);
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('apps subscribe with their own token; ADT and ORU over MLLP are found through fhir-kit-client', async () => {
      for (const [name, token] of [
        ['reader', readerToken],
        ['other', otherToken],
      ] as const) {
        const made = await call('POST', '/api/v1/app/webhooks', token, {
          url: `${receiverUrl}/${name}`,
          events: ['patient.created', 'result.final'],
        });
        expect(made.status).toBe(201);
        (hooks as Record<string, Received[] & { secret?: string }>)[name]!.secret = made.body.secret;
      }

      await send(adtPort, adt(MRN, 'E2E-ADT-1'));
      await send(labPort, oru(MRN, 'E2E-ORU-1'));
      const id = await patientId(readerToken, MRN);
      const client = fhir(readerToken);

      const read = (await client.read({ resourceType: 'Patient', id })) as Body;
      expect(read).toMatchObject({ resourceType: 'Patient', id, birthDate: '1980-02-14' });
      const byName = (await client.search({
        resourceType: 'Patient',
        searchParams: { name: 'testpatient', birthdate: '1980-02-14' },
      })) as Body;
      expect(byName.entry.map((e: Body) => e.resource.id)).toEqual([id]);

      const observations = await waitFor(
        'the ORU’s observations in the hub',
        async () => {
          const b = (await client.search({
            resourceType: 'Observation',
            searchParams: { patient: `Patient/${id}`, code: 'http://loinc.org|2345-7', date: '2026-03-16' },
          })) as Body;
          return b.entry?.length ? b : undefined;
        },
        30_000,
      );
      expect(observations.entry).toHaveLength(1);
      expect(observations.entry[0].resource.valueQuantity).toMatchObject({ value: 95 });

      const included = (await client.search({
        resourceType: 'Observation',
        searchParams: { patient: id, _include: 'Observation:subject' },
      })) as Body;
      const kinds = included.entry.map((e: Body) => `${e.resource.resourceType}:${e.search?.mode}`);
      expect(kinds).toContain('Patient:include');

      // Paging through next links collects each observation once.
      let page = (await client.search({
        resourceType: 'Observation',
        searchParams: { patient: id, _count: 2 },
      })) as Body;
      const seen: string[] = page.entry.map((e: Body) => e.resource.id);
      for (let i = 0; i < 10 && page; i++) {
        page = (await client.nextPage({ bundle: page })) as Body;
        if (page) seen.push(...page.entry.map((e: Body) => e.resource.id));
      }
      const all = (await client.search({
        resourceType: 'Observation',
        searchParams: { patient: id },
      })) as Body;
      expect(all.entry.length).toBeGreaterThan(2);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.sort()).toEqual(all.entry.map((e: Body) => e.resource.id).sort());

      // Webhooks: both apps get patient.created and result.final, signed per Standard Webhooks.
      for (const name of ['reader', 'other'] as const) {
        const list = hooks[name] as Received[] & { secret?: string };
        await waitFor(
          `${name}'s webhooks`,
          () => {
            const types = list.map((h) => JSON.parse(h.body).type);
            return types.includes('patient.created') && types.includes('result.final');
          },
          30_000,
        );
        for (const h of list)
          expect(() =>
            new Webhook(list.secret!).verify(h.body, h.headers as Record<string, string>),
          ).not.toThrow();
      }
    });

    it('an A08 adds a version to the history; $everything holds the patient and their results', async () => {
      const id = await patientId(readerToken, MRN);
      await send(adtPort, adt(MRN, 'E2E-ADT-2', 'A08', 'TESTPATIENT-SMITH'));
      const client = fhir(readerToken);
      const history = await waitFor(
        'the second version',
        async () => {
          const h = (await client.history({ resourceType: 'Patient', id })) as Body;
          return h.entry?.[0]?.resource.name[0].family === 'TESTPATIENT-SMITH' ? h : undefined;
        },
        30_000,
      );
      expect(history.entry.length).toBeGreaterThanOrEqual(2);
      expect(history.entry.at(-1).resource.name[0].family).toBe('TESTPATIENT');
      const everything = (await client.operation({
        name: '$everything',
        resourceType: 'Patient',
        id,
        method: 'GET',
      })) as Body;
      const types = new Set(everything.entry.map((e: Body) => e.resource.resourceType));
      expect([...types]).toEqual(expect.arrayContaining(['Patient', 'Observation']));
    });

    async function exportPatients(token: string): Promise<string[]> {
      const kick = await call('GET', '/fhir/R4/Patient/$export?_type=Patient', token, undefined, {
        prefer: 'respond-async',
        accept: 'application/fhir+json',
      });
      expect(kick.status).toBe(202);
      const status = kick.headers.get('content-location')!;
      const manifest = await waitFor(
        'the export',
        async () => {
          const res = await fetch(status, { headers: { authorization: `Bearer ${token}` } });
          return res.status === 200 ? ((await res.json()) as Body) : undefined;
        },
        30_000,
      );
      const ids: string[] = [];
      for (const file of manifest.output as Array<{ type: string; url: string }>) {
        const res = await fetch(file.url, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
        for (const line of (await res.text()).split('\n').filter(Boolean)) ids.push(JSON.parse(line).id);
      }
      return ids;
    }

    it('consent: a patient excluded for one app is gone from its read, search, $everything, $export and webhooks; the other app still sees them', async () => {
      await send(adtPort, adt(OTHER_MRN, 'E2E-ADT-3'));
      const id = await patientId(readerToken, OTHER_MRN);
      const first = await patientId(readerToken, MRN);
      expect((await exportPatients(readerToken)).sort()).toEqual([first, id].sort());

      const excluded = await call('PUT', `/api/v1/consent/production/patients/${id}`, adminKey, {
        app: reader.clientId,
      });
      expect(excluded.status).toBeLessThan(300);

      expect((await call('GET', `/fhir/R4/Patient/${id}`, readerToken)).status).toBe(404);
      const search = await call('GET', `/fhir/R4/Patient?identifier=${OTHER_MRN}`, readerToken);
      expect(search.body.entry ?? []).toHaveLength(0);
      expect((await call('GET', `/fhir/R4/Patient/${id}/$everything`, readerToken)).status).toBe(404);
      expect(await exportPatients(readerToken)).toEqual([first]);

      expect((await call('GET', `/fhir/R4/Patient/${id}`, otherToken)).status).toBe(200);
      expect((await exportPatients(otherToken)).sort()).toEqual([first, id].sort());

      // A result for the excluded patient reaches the other app's receiver, not the reader's.
      const before = hooks.reader!.length;
      await send(labPort, oru(OTHER_MRN, 'E2E-ORU-2'));
      await waitFor(
        'the other app’s result for the excluded patient',
        () =>
          hooks.other!.some((h) => {
            const event = JSON.parse(h.body);
            return event.type === 'result.final' && JSON.stringify(event).includes(id);
          }),
        30_000,
      );
      // The dispatcher fans out one event to both subscriptions in the same pass.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(hooks.reader!.slice(before).filter((h) => h.body.includes(id))).toEqual([]);
    });

    it('a sandbox app’s token never reads production data', async () => {
      const token = await sandbox.token({ baseUrl: base });
      const search = await call('GET', `/fhir/R4/Patient?identifier=${MRN}`, token);
      expect(search.status).toBe(200);
      expect(search.body.entry ?? []).toHaveLength(0);
      const id = await patientId(readerToken, MRN);
      expect((await call('GET', `/fhir/R4/Patient/${id}`, token)).status).toBe(404);
    });

    it('an Appointment POSTed by an app with system/Appointment.c reaches the PMS as SIU^S12 and its status shows the AA; disabled writes and a pause refuse the next request, a resume restores it', async () => {
      const token = await receptionist.token({ baseUrl: base });
      const id = await patientId(token, MRN);
      const res = await fetch(`${base}/fhir/R4/Appointment`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          ...appointment,
          participant: [{ actor: { reference: `Patient/${id}` }, status: 'accepted' }],
        }),
      });
      expect(res.status).toBe(202);
      const location = res.headers.get('content-location')!;
      expect(location).toMatch(/\/fhir\/R4\/_write\//);
      await waitFor('SIU^S12 at the PMS', () => pmsReceived.length > 0, 30_000);
      expect(pmsReceived[0]!.get('MSH-9.1')).toBe('SIU');
      expect(pmsReceived[0]!.get('MSH-9.2')).toBe('S12');
      const status = await waitFor(
        'the write’s outcome',
        async () => {
          const s = await call('GET', new URL(location, base).pathname, token);
          return JSON.stringify(s.body).includes('AA') ? s : undefined;
        },
        30_000,
      );
      expect(status.status).toBe(200);

      // Writes disabled, then the app paused: each acts on the next request, and nothing reaches the PMS.
      const post = () =>
        call('POST', '/fhir/R4/Appointment', token, {
          ...appointment,
          identifier: [{ ...appointment.identifier[0], value: 'APT-E2E-2' }],
          participant: [{ actor: { reference: `Patient/${id}` }, status: 'accepted' }],
        });
      await receptionist.apps.setWrites(receptionist.clientId, false);
      const disabled = await post();
      expect({ status: disabled.status, type: disabled.body.resourceType }).toEqual({
        status: 403,
        type: 'OperationOutcome',
      });
      await receptionist.apps.setWrites(receptionist.clientId, true);
      await receptionist.apps.pause(receptionist.clientId);
      const paused = await call('GET', `/fhir/R4/Patient/${id}`, token);
      expect({ status: paused.status, type: paused.body.resourceType }).toEqual({
        status: 403,
        type: 'OperationOutcome',
      });
      expect(pmsReceived).toHaveLength(1);
      await receptionist.apps.resume(receptionist.clientId);
      expect((await call('GET', `/fhir/R4/Patient/${id}`, token)).status).toBe(200);
    });

    it('an app that keeps writing without the scope is suspended by misuse at the real threshold, and an admin reinstates it', async () => {
      const pest = await registerTestApp(store, {
        rateLimit: 1_000_000,
        name: 'pest',
        scopes: 'system/Patient.rs',
      });
      const token = await pest.token({ baseUrl: base });
      const sent = pmsReceived.length;
      // DEFAULT_MISUSE.suspendAt: 60 misuse events in ten minutes.
      for (let i = 0; i < 60; i++)
        expect((await call('POST', '/fhir/R4/Appointment', token, appointment)).status).toBe(403);
      const app = await call('GET', `/api/v1/apps/${pest.clientId}`, adminKey);
      expect(app.body).toMatchObject({
        state: 'suspended',
        state_reason: expect.stringContaining('unauthorised_write'),
      });
      const refused = await call('GET', `/fhir/R4/Patient?identifier=${MRN}`, token);
      expect({ status: refused.status, code: refused.body.issue?.[0]?.code }).toEqual({
        status: 403,
        code: 'suspended',
      });
      expect((await call('POST', `/api/v1/apps/${pest.clientId}/reinstate`, adminKey)).status).toBe(200);
      expect((await call('GET', `/fhir/R4/Patient?identifier=${MRN}`, token)).status).toBe(200);
      expect(pmsReceived).toHaveLength(sent);
    });

    it('revoking an app refuses its next request; every app call is in the audit log without PHI', async () => {
      const token = await other.token({ baseUrl: base });
      expect((await call('GET', `/fhir/R4/Patient?identifier=${MRN}`, token)).status).toBe(200);
      await other.apps.revoke(other.clientId, 'end of contract');
      expect((await call('GET', `/fhir/R4/Patient?identifier=${MRN}`, token)).status).toBe(401);

      const audit = await call('GET', '/api/v1/audit?limit=500', adminKey);
      expect(audit.status).toBe(200);
      const fhirCalls = (audit.body.items as Body[]).filter((e) => String(e.action).startsWith('fhir.'));
      expect(fhirCalls.length).toBeGreaterThan(10);
      const text = JSON.stringify(audit.body);
      for (const phi of ['TESTPATIENT', 'ALICE', '1980-02-14', '19800214']) expect(text).not.toContain(phi);
    });
  },
);
