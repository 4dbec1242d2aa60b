import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { createLogger, Engine, FhirWriteRouter } from '@sinew/engine';
import { buildAck, Hl7Message } from '@sinew/hl7v2';
import type { FhirResource } from '@sinew/hub';
import { TransformerLibrary } from '@sinew/mapping';
import { MllpServer } from '@sinew/mllp';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type Store } from '@sinew/store';
import { makeWritesTestGate, type WritesTestGate } from '../../../../test/support/app-gate-double-writes';
import { waitFor } from '../../../../test/support/wait';
import { FhirWriteController, fhirWriteProvider, type FhirWriteDeps } from './write.controller';

const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

const channel = (pmsPort: number) => `
id: fhir-writes
source: { type: fhir, resources: [Appointment, Patient] }
destinations:
  - name: pms-booking
    type: mllp
    url: mllp://127.0.0.1:${pmsPort}
    filter: { fhirpath: "resourceType = 'Appointment' and id.empty()" }
    transformer: appointment-to-siu-s12
    retry: { attempts: 1 }
  - name: pms-change
    type: mllp
    url: mllp://127.0.0.1:${pmsPort}
    filter: { fhirpath: "resourceType = 'Appointment' and id.exists()" }
    transformer: appointment-to-siu-s14
    retry: { attempts: 1 }
`;

const APPOINTMENT: FhirResource = {
  resourceType: 'Appointment',
  contained: [
    {
      resourceType: 'Patient',
      id: 'p1',
      identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN-4711' }],
      name: [{ family: 'Testpatient', given: ['Alice'] }],
    },
  ],
  identifier: [
    {
      system: 'urn:sinew:id:PMS',
      value: 'APT-88',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
    },
  ],
  status: 'booked',
  start: '2026-04-01T09:30:00+02:00',
  end: '2026-04-01T09:50:00+02:00',
  participant: [{ actor: { reference: '#p1' }, status: 'accepted' }],
};

describe('FHIR write routes (POST/PUT /fhir/R4/{type}, GET /fhir/R4/_write/{id})', () => {
  const received: Hl7Message[] = [];
  const pms = new MllpServer({ port: 0 }, (bytes) => {
    const message = Hl7Message.parse(bytes);
    received.push(message);
    return buildAck(message, { code: 'AA', text: 'in the diary' });
  });
  let dir: string;
  let store: Store;
  let engine: Engine;
  let app: INestApplication;
  let base: string;
  let gate: WritesTestGate;

  beforeAll(async () => {
    await pms.start();
    dir = mkdtempSync(join(tmpdir(), 'sinew-write-routes-'));
    store = await openStore({ dataDir: dir });
    engine = new Engine({
      channels: [compileChannelOrThrow(channel(pms.port), 'fhir-writes.yaml', registries)],
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
    });
    await engine.start();
    gate = makeWritesTestGate();
    const deps: FhirWriteDeps = {
      writes: new FhirWriteRouter({ store }),
      apps: gate,
      maxBodyBytes: 64 * 1024,
    };
    @Module({ controllers: [FhirWriteController], providers: [fhirWriteProvider(deps)] })
    class WritesModule {}
    app = await NestFactory.create(WritesModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app.close();
    await engine.stop(2_000);
    await pms.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    received.length = 0;
    gate.misuses.length = 0;
    gate.calls.length = 0;
    gate.add({
      token: 'tok-receptionist',
      appId: 'receptionist',
      scopes: 'system/Appointment.cruds system/Patient.rs',
    });
    gate.add({ token: 'tok-reader', appId: 'reader', scopes: 'system/Appointment.rs' });
    gate.add({ token: 'tok-off', appId: 'off', scopes: 'system/Appointment.cruds', writesEnabled: false });
    gate.add({ token: 'tok-sandbox', appId: 'sandbox', scopes: 'system/*.cruds', environment: 'sandbox' });
    gate.add({ token: 'tok-limited', appId: 'limited', scopes: 'system/*.cruds', limited: true });
    gate.add({
      token: 'tok-paused',
      appId: 'paused',
      scopes: 'system/*.cruds',
      refusal: { code: 'app.paused', detail: 'the app is paused by an administrator' },
    });
  });

  async function call(
    method: string,
    path: string,
    token: string | undefined,
    body?: string | FhirResource,
    contentType = 'application/fhir+json',
  ): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': contentType } : {}),
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
  }

  const diagnostics = (json: Record<string, unknown>) =>
    (json as { issue: Array<{ diagnostics: string }> }).issue.map((i) => i.diagnostics);

  it('accepts a create with 202, a status link and an informational OperationOutcome; the status shows the ACK', async () => {
    const res = await call('POST', '/fhir/R4/Appointment', 'tok-receptionist', APPOINTMENT);
    expect(res.status).toBe(202);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const location = res.headers.get('content-location') as string;
    expect(location).toMatch(/^\/fhir\/R4\/_write\/[0-9a-f-]{36}$/);
    expect(res.json).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational' }],
    });
    const messageId = location.split('/').at(-1) as string;
    // Committed when the answer came, with the app that wrote it.
    expect((await store.getMessage(messageId))?.keys).toMatchObject({ app: 'receptionist' });

    await waitFor('the SIU at the PMS', () => received.length === 1);
    expect(received[0]?.get('MSH-9')).toBe('SIU^S12^SIU_S12');
    expect(received[0]?.get('SCH-1.1')).toBe('APT-88');
    expect(received[0]?.get('PID-3.1')).toBe('MRN-4711');

    const status = await waitFor('the write completed', async () => {
      const s = await call('GET', location, 'tok-receptionist');
      return s.json.state === 'completed' ? s : undefined;
    });
    expect(status.status).toBe(200);
    expect(status.json).toEqual({
      messageId,
      channelId: 'fhir-writes',
      resourceType: 'Appointment',
      state: 'completed',
      destinations: [{ name: 'pms-booking', state: 'sent', ack: 'AA', detail: 'in the diary' }],
    });
    // Another app cannot read it.
    const other = await call('GET', location, 'tok-reader');
    expect(other.status).toBe(404);
    expect(other.json.resourceType).toBe('OperationOutcome');
    expect(gate.calls.map((c) => `${c.appId} ${c.method} ${c.path} ${c.status}`)).toContain(
      'receptionist POST Appointment 202',
    );
  });

  it('sends an update (PUT with the id of the URL) as SIU^S14', async () => {
    const res = await call('PUT', '/fhir/R4/Appointment/appt-9', 'tok-receptionist', {
      ...APPOINTMENT,
      id: 'appt-9',
    });
    expect(res.status).toBe(202);
    await waitFor('the SIU at the PMS', () => received.length === 1);
    expect(received[0]?.get('MSH-9.2')).toBe('S14');
  });

  it('takes application/json as well (a body the server has parsed already)', async () => {
    const res = await call(
      'POST',
      '/fhir/R4/Appointment',
      'tok-receptionist',
      JSON.stringify(APPOINTMENT),
      'application/json',
    );
    expect(res.status).toBe(202);
    await waitFor('the SIU at the PMS', () => received.length === 1);
    expect(received[0]?.get('SCH-1.1')).toBe('APT-88');
  });

  it('refuses without a token, with an unknown one, a paused app and an app over its rate limit', async () => {
    const none = await call('POST', '/fhir/R4/Appointment', undefined, APPOINTMENT);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await call('POST', '/fhir/R4/Appointment', 'nope', APPOINTMENT)).status).toBe(401);
    const paused = await call('POST', '/fhir/R4/Appointment', 'tok-paused', APPOINTMENT);
    expect(paused.status).toBe(403);
    expect(diagnostics(paused.json)).toEqual(['the app is paused by an administrator']);
    gate.add({
      token: 'tok-patients-only',
      appId: 'patients-only',
      scopes: 'system/*.cruds',
      endpoints: ['Patient'],
    });
    const elsewhere = await call('POST', '/fhir/R4/Appointment', 'tok-patients-only', APPOINTMENT);
    expect(elsewhere.status).toBe(403);
    expect(diagnostics(elsewhere.json)).toEqual(['this app is limited to Patient']);
    expect(gate.misuses.map((m) => `${m.appId} ${m.kind}`)).toEqual(['patients-only forbidden']);
    const limited = await call('POST', '/fhir/R4/Appointment', 'tok-limited', APPOINTMENT);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(received).toHaveLength(0);
  });

  it('refuses a write when writes are disabled for the app, or its scope lacks c/u, and reports it as misuse', async () => {
    const off = await call('POST', '/fhir/R4/Appointment', 'tok-off', APPOINTMENT);
    expect(off.status).toBe(403);
    expect(off.json).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'forbidden' }],
    });
    const reader = await call('POST', '/fhir/R4/Appointment', 'tok-reader', APPOINTMENT);
    expect(reader.status).toBe(403);
    expect(diagnostics(reader.json)).toEqual([
      'the token has no scope allowing create of Appointment (system/Appointment.c)',
    ]);
    // Patient.rs: no update.
    const put = await call('PUT', '/fhir/R4/Patient/p-1', 'tok-receptionist', {
      resourceType: 'Patient',
      id: 'p-1',
    });
    expect(put.status).toBe(403);
    expect(gate.misuses.map((m) => `${m.appId} ${m.kind}`)).toEqual([
      'off unauthorised_write',
      'reader unauthorised_write',
      'receptionist unauthorised_write',
    ]);
    expect(received).toHaveLength(0);
  });

  it('refuses bad JSON, a wrong type, a mismatched id and another media type as unexpected payloads (400/415)', async () => {
    const bad = await call('POST', '/fhir/R4/Appointment', 'tok-receptionist', '{"resourceType": "Appo');
    expect(bad.status).toBe(400);
    expect(diagnostics(bad.json)).toEqual(['the body is not valid JSON']);
    const wrong = await call('POST', '/fhir/R4/Appointment', 'tok-receptionist', { resourceType: 'Patient' });
    expect(wrong.status).toBe(400);
    expect(diagnostics(wrong.json)).toEqual([
      "the resource's resourceType (Patient) is not Appointment, the type of the URL",
    ]);
    const array = await call('POST', '/fhir/R4/Appointment', 'tok-receptionist', '[]');
    expect(array.status).toBe(400);
    const mismatch = await call('PUT', '/fhir/R4/Appointment/a-1', 'tok-receptionist', {
      ...APPOINTMENT,
      id: 'a-2',
    });
    expect(mismatch.status).toBe(400);
    const xml = await call(
      'POST',
      '/fhir/R4/Appointment',
      'tok-receptionist',
      '<Appointment/>',
      'application/fhir+xml',
    );
    expect(xml.status).toBe(415);
    const big = await call('POST', '/fhir/R4/Appointment', 'tok-receptionist', {
      ...APPOINTMENT,
      comment: 'x'.repeat(70 * 1024),
    });
    expect(big.status).toBe(413);
    expect(gate.misuses.map((m) => m.kind)).toEqual(Array(6).fill('unexpected_payload'));
    for (const r of [bad, wrong, array, mismatch, xml, big])
      expect(r.json.resourceType).toBe('OperationOutcome');
    expect(received).toHaveLength(0);
  });

  it('answers 404 for a type no channel takes (or not in the app\u2019s environment) and 422 for what the pipeline refuses', async () => {
    const obs = await call('POST', '/fhir/R4/Observation', 'tok-sandbox', { resourceType: 'Observation' });
    expect(obs.status).toBe(404);
    expect(diagnostics(obs.json)).toEqual(['Observation cannot be written here; writable types: none']);
    const refused = await call('POST', '/fhir/R4/Appointment', 'tok-receptionist', {
      ...APPOINTMENT,
      status: 'noshow',
    });
    expect(refused.status).toBe(422);
    expect(diagnostics(refused.json)[0]).toMatch(/^channel fhir-writes refused the write: map\./);
    expect(gate.misuses).toEqual([]);
    expect(received).toHaveLength(0);
  });

  it('answers 503 with an OperationOutcome when the ledger behind the routes fails', async () => {
    const failing: FhirWriteDeps = {
      apps: gate,
      writes: {
        writableTypes: () => ['Appointment'],
        submit: () => Promise.reject(new Error('ledger down')),
        status: () => Promise.reject(new Error('ledger down')),
      },
    };
    @Module({ controllers: [FhirWriteController], providers: [fhirWriteProvider(failing)] })
    class FailingModule {}
    const down = await NestFactory.create(FailingModule, { logger: false });
    await down.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(down.getHttpServer().address() as AddressInfo).port}`;
    try {
      for (const [method, path, body] of [
        ['POST', '/fhir/R4/Appointment', JSON.stringify(APPOINTMENT)],
        ['GET', '/fhir/R4/_write/01a2f3c4-5d6e-7000-8123-456789abcdef', undefined],
      ] as const) {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: 'Bearer tok-receptionist', 'content-type': 'application/fhir+json' },
          ...(body ? { body } : {}),
        });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('5');
        expect(await res.json()).toMatchObject({
          resourceType: 'OperationOutcome',
          issue: [{ code: 'transient' }],
        });
      }
    } finally {
      await down.close();
    }
  });
});
