import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { createLogger, Engine, FhirWriteRouter } from '@sinew/engine';
import { TransformerLibrary } from '@sinew/mapping';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore } from '@sinew/store';
import { startPms, type PmsStandin } from '../../../standins/src/pms';
import { makeWritesTestGate } from '../../../../test/support/app-gate-double-writes';
import { waitFor } from '../../../../test/support/wait';
import { FhirWriteController, fhirWriteProvider } from './write.controller';

const ROOT = join(__dirname, '../../../..');
const library = TransformerLibrary.load();

/**
 * The demo as shipped: channels/fhir-writes.yaml between the FHIR write routes and the PMS
 * stand-in's MLLP listener. An AI receptionist books, moves and cancels an appointment and
 * registers a patient; the PMS's diary and the write's status show what happened.
 */
describe('channels/fhir-writes.yaml: an app books into the PMS diary through the FHIR API', () => {
  let dir: string;
  let pms: PmsStandin;
  let engine: Engine;
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    pms = await startPms({
      inbound: { port: 0 },
      patients: [
        { mrn: 'MRN-000123', family: 'TESTPATIENT', given: 'ALICE', birth_date: '1980-02-14', sex: 'F' },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), 'sinew-writes-demo-'));
    const store = await openStore({ dataDir: dir });
    const channel = compileChannelOrThrow(
      readFileSync(join(ROOT, 'channels/fhir-writes.yaml'), 'utf8'),
      'channels/fhir-writes.yaml',
      builtInRegistries(library),
      { values: { PMS_HL7_PORT: String(pms.inbound?.port) }, strict: false },
    );
    engine = new Engine({
      channels: [channel],
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
    });
    await engine.start();
    const gate = makeWritesTestGate([
      {
        token: 'receptionist-token',
        appId: 'ai-receptionist',
        scopes: 'system/Appointment.cru system/Patient.cru',
      },
    ]);
    @Module({
      controllers: [FhirWriteController],
      providers: [fhirWriteProvider({ writes: new FhirWriteRouter({ store }), apps: gate })],
    })
    class DemoModule {}
    app = await NestFactory.create(DemoModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app.close();
    await engine.stop(2_000);
    await pms.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function write(method: 'POST' | 'PUT', path: string, resource: object): Promise<string> {
    const res = await fetch(`${base}/fhir/R4/${path}`, {
      method,
      headers: { authorization: 'Bearer receptionist-token', 'content-type': 'application/fhir+json' },
      body: JSON.stringify(resource),
    });
    expect(res.status).toBe(202);
    return res.headers.get('content-location') as string;
  }

  async function outcome(location: string): Promise<Record<string, unknown>> {
    return waitFor(`the outcome of ${location}`, async () => {
      const res = await fetch(`${base}${location}`, {
        headers: { authorization: 'Bearer receptionist-token' },
      });
      const body = (await res.json()) as Record<string, unknown>;
      return body.state !== 'accepted' ? body : undefined;
    });
  }

  const appointment = (status: string, start: string, id?: string) => ({
    resourceType: 'Appointment',
    ...(id ? { id } : {}),
    contained: [{ resourceType: 'Patient', id: 'p', identifier: [{ value: 'MRN-000123' }] }],
    identifier: [
      {
        system: 'urn:sinew:id:PMS',
        value: 'APT-9001',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
      },
    ],
    status,
    start,
    minutesDuration: 15,
    participant: [
      { actor: { reference: '#p' }, status: 'accepted' },
      { actor: { reference: 'Location/room-2', display: 'Room 2' }, status: 'accepted' },
    ],
  });

  const diary = async () =>
    ((await (await fetch(`${pms.url}/api/appointments`)).json()) as { items: Array<Record<string, unknown>> })
      .items;

  it('books, moves and cancels the appointment in the diary; each write shows the PMS AA', async () => {
    const booked = await outcome(
      await write('POST', 'Appointment', appointment('booked', '2026-05-04T09:00:00+02:00')),
    );
    expect(booked).toMatchObject({
      state: 'completed',
      destinations: [{ name: 'pms-book', state: 'sent', ack: 'AA', detail: 'applied' }],
    });
    expect(await diary()).toMatchObject([
      { appointment_id: 'APT-9001', mrn: 'MRN-000123', start: '2026-05-04T09:00:00+02:00', status: 'booked' },
    ]);

    const moved = await outcome(
      await write('PUT', 'Appointment/a1', appointment('booked', '2026-05-05T11:30:00+02:00', 'a1')),
    );
    expect(moved).toMatchObject({ state: 'completed', destinations: [{ name: 'pms-change', ack: 'AA' }] });
    expect(await diary()).toMatchObject([{ start: '2026-05-05T11:30:00+02:00', status: 'booked' }]);

    const cancelled = await outcome(
      await write('PUT', 'Appointment/a1', appointment('cancelled', '2026-05-05T11:30:00+02:00', 'a1')),
    );
    expect(cancelled).toMatchObject({
      state: 'completed',
      destinations: [{ name: 'pms-cancel', ack: 'AA' }],
    });
    expect(await diary()).toMatchObject([{ appointment_id: 'APT-9001', status: 'cancelled' }]);
    expect(pms.inbound?.received.map((r) => `${r.messageType} ${r.ack}`)).toEqual([
      'SIU^S12 AA',
      'SIU^S14 AA',
      'SIU^S15 AA',
    ]);
  });

  it('registers a patient (ADT^A28); a booking the PMS refuses shows its AE and reason', async () => {
    const registered = await outcome(
      await write('POST', 'Patient', {
        resourceType: 'Patient',
        identifier: [{ value: 'MRN-000777' }],
        name: [{ family: 'NEWCOMER', given: ['BO'] }],
        birthDate: '1991-07-30',
        gender: 'male',
      }),
    );
    expect(registered).toMatchObject({
      state: 'completed',
      destinations: [{ name: 'pms-register', ack: 'AA' }],
    });
    expect(pms.database.patientByMrn('MRN-000777')).toMatchObject({
      family: 'NEWCOMER',
      birth_date: '1991-07-30',
    });

    const unknownPatient = {
      ...appointment('booked', '2026-05-06T08:00:00+02:00'),
      contained: [{ resourceType: 'Patient', id: 'p', identifier: [{ value: 'MRN-NOBODY' }] }],
      identifier: [
        {
          value: 'APT-9002',
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
        },
      ],
    };
    const refused = await outcome(await write('POST', 'Appointment', unknownPatient));
    expect(refused).toMatchObject({
      state: 'failed',
      destinations: [
        {
          name: 'pms-book',
          state: 'dead_lettered',
          ack: 'AE',
          detail: expect.stringContaining('the patient (PID-3) is not registered in the PMS'),
        },
      ],
    });
  });
});
