import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow, compileChannelSet } from '@sinew/channels';
import { fhirWriteChannels, FhirWriteClaimError } from '@sinew/connectors';
import { buildAck, Hl7Message } from '@sinew/hl7v2';
import type { FhirResource, HubReader } from '@sinew/hub';
import { TransformerLibrary } from '@sinew/mapping';
import { MllpServer } from '@sinew/mllp';
import { createQueueDriver } from '@sinew/queue';
import { openStore, type Store } from '@sinew/store';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { flushPrefix, redisUrl, uniquePrefix } from '@sinew/test-support/redis';
import { waitFor } from '@sinew/test-support/wait';
import { writeFileSync } from 'node:fs';
import { Engine } from './engine';
import { FhirWriteRouter } from './fhir-writes';
import { createLogger } from './logger';

const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/** The PMS stand-in of the test: an MLLP listener that keeps what it receives and answers AA, or AE when told to. */
class PmsListener {
  readonly received: Hl7Message[] = [];
  answer: 'AA' | 'AE' = 'AA';
  private readonly server = new MllpServer({ port: 0 }, (bytes) => {
    const message = Hl7Message.parse(bytes);
    this.received.push(message);
    return this.answer === 'AA'
      ? buildAck(message, { code: 'AA', text: 'booked' })
      : buildAck(message, {
          code: 'AE',
          text: 'slot taken',
          error: { code: '207', text: 'the slot is no longer free' },
        });
  });

  start(): Promise<void> {
    return this.server.start();
  }
  stop(): Promise<void> {
    return this.server.stop();
  }
  get port(): number {
    return this.server.port;
  }
}

const writesChannel = (pmsPort: number, id = 'writes', environment = 'production') => `
id: ${id}
source: { type: fhir, resources: [Appointment, Patient], environment: ${environment} }
destinations:
  - name: pms-booking
    type: mllp
    url: mllp://127.0.0.1:${pmsPort}
    on_application_error: fail
    filter: { fhirpath: "resourceType = 'Appointment' and id.empty()" }
    transformer: appointment-to-siu-s12
    retry: { attempts: 1 }
  - name: pms-change
    type: mllp
    url: mllp://127.0.0.1:${pmsPort}
    on_application_error: fail
    filter: { fhirpath: "resourceType = 'Appointment' and id.exists() and status != 'cancelled'" }
    transformer: appointment-to-siu-s14
    retry: { attempts: 1 }
  - name: pms-patient
    type: mllp
    url: mllp://127.0.0.1:${pmsPort}
    on_application_error: fail
    filter: { fhirpath: "resourceType = 'Patient'" }
    transformer: patient-to-adt
    transformer_params: { event: A28 }
    retry: { attempts: 1 }
`;

/** A booked Appointment with its Patient contained, as an app booking into the diary sends it. */
function appointment(overrides: Partial<FhirResource> = {}): FhirResource {
  return {
    resourceType: 'Appointment',
    contained: [
      {
        resourceType: 'Patient',
        id: 'p1',
        identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN-4711' }],
        name: [{ family: 'Testpatient', given: ['Alice'] }],
        birthDate: '1980-02-14',
        gender: 'female',
      },
    ],
    identifier: [
      {
        system: 'urn:sinew:id:PMS',
        value: 'APT-77',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
      },
    ],
    status: 'booked',
    start: '2026-04-01T09:30:00+02:00',
    end: '2026-04-01T09:50:00+02:00',
    minutesDuration: 20,
    participant: [{ actor: { reference: '#p1' }, status: 'accepted' }],
    ...overrides,
  };
}

/** Embedded (SQLite, in-process queue) and scaled out (PostgreSQL, BullMQ on Redis). */
describe.each([
  ['sqlite', 'memory'],
  ['postgres', 'bullmq'],
] as const)(
  'FHIR writes through a channel with a fhir source (%s ledger, %s queue, real MLLP peer)',
  (kind, queueKind) => {
    const pms = new PmsListener();
    let dir: string;
    let pg: TestSchema | undefined;
    let redis: { url: string; prefix: string } | undefined;
    let store: Store;
    let engine: Engine | undefined;
    let router: FhirWriteRouter;

    beforeAll(() => pms.start());
    afterAll(() => pms.stop());

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sinew-writes-'));
      pms.received.length = 0;
      pms.answer = 'AA';
      if (kind === 'postgres') pg = await withTestSchema();
      if (queueKind === 'bullmq') redis = { url: await redisUrl(), prefix: uniquePrefix('writes') };
      store = await openStore(pg ? { databaseUrl: pg.url, schema: pg.schema } : { dataDir: dir });
      engine = new Engine({
        channels: [compileChannelOrThrow(writesChannel(pms.port), 'writes.yaml', registries)],
        store,
        queue: createQueueDriver(redis ? { redisUrl: redis.url, prefix: redis.prefix } : {}),
        transformers: library,
        logger: createLogger('silent'),
        sweepIntervalMs: 200,
      });
      await engine.start();
      router = new FhirWriteRouter({ store });
    });

    afterEach(async () => {
      await engine?.stop(2_000);
      engine = undefined;
      await pg?.drop();
      pg = undefined;
      if (redis) await flushPrefix(redis.url, redis.prefix);
      redis = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    it('commits a new Appointment, sends SIU^S12 with its SCH and PID, and shows the AA', async () => {
      expect(router.writableTypes('production')).toEqual(['Appointment', 'Patient']);
      expect(router.writableTypes('sandbox')).toEqual([]);

      const result = await router.submit(appointment({ id: 'client-chosen' }), {
        environment: 'production',
        interaction: 'create',
        appId: 'app-receptionist',
      });
      if (!('messageId' in result)) throw new Error(`refused: ${result.refused}`);
      expect(result.channelId).toBe('writes');

      // The message is in the ledger when submit resolves, with the app that wrote it.
      const message = await store.getMessage(result.messageId);
      expect(message).toMatchObject({ channelId: 'writes', source: 'fhir', messageType: 'Appointment' });
      expect(message?.keys).toMatchObject({ app: 'app-receptionist' });
      // A create carries no id: the client's id is dropped.
      const raw = JSON.parse(
        (await store.getContent(result.messageId, 'raw'))?.toString('utf8') ?? '{}',
      ) as FhirResource;
      expect(raw.id).toBeUndefined();

      await waitFor('the SIU at the PMS', () => pms.received.length === 1);
      const siu = pms.received[0] as Hl7Message;
      expect(siu.get('MSH-9.1')).toBe('SIU');
      expect(siu.get('MSH-9.2')).toBe('S12');
      expect(siu.get('SCH-1.1')).toBe('APT-77');
      expect(siu.get('PID-3.1')).toBe('MRN-4711');
      expect(siu.get('PID-5.1')).toBe('Testpatient');
      expect(siu.get('PID-7')).toMatch(/^19800214/);

      const status = await waitFor('the write completed', async () => {
        const s = await router.status(result.messageId);
        return s?.state === 'completed' ? s : undefined;
      });
      expect(status).toEqual({
        messageId: result.messageId,
        channelId: 'writes',
        resourceType: 'Appointment',
        state: 'completed',
        appId: 'app-receptionist',
        destinations: [{ name: 'pms-booking', state: 'sent', ack: 'AA', detail: 'booked' }],
      });
    });

    it('shows the PMS refusal (AE) with its text, and the write as failed', async () => {
      pms.answer = 'AE';
      const result = await router.submit(appointment(), {
        environment: 'production',
        interaction: 'create',
        appId: 'app-receptionist',
      });
      if (!('messageId' in result)) throw new Error(`refused: ${result.refused}`);
      const status = await waitFor('the write failed', async () => {
        const s = await router.status(result.messageId);
        return s?.state === 'failed' ? s : undefined;
      });
      expect(status.destinations).toEqual([
        {
          name: 'pms-booking',
          state: 'dead_lettered',
          ack: 'AE',
          detail: 'slot taken; the slot is no longer free',
        },
      ]);
    });

    it('sends an update as SIU^S14, and a Patient as ADT^A28', async () => {
      const update = await router.submit(appointment({ id: 'appt-1', status: 'booked' }), {
        environment: 'production',
        interaction: 'update',
        appId: 'app-receptionist',
      });
      expect(update).toMatchObject({ channelId: 'writes' });
      const patient = await router.submit(
        {
          resourceType: 'Patient',
          identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN-9001' }],
          name: [{ family: 'Newcomer', given: ['Bo'] }],
          birthDate: '1991-07-30',
        },
        { environment: 'production', interaction: 'create', appId: 'app-receptionist' },
      );
      expect(patient).toMatchObject({ channelId: 'writes' });
      await waitFor('two messages at the PMS', () => pms.received.length === 2);
      const types = pms.received.map((m) => `${m.get('MSH-9.1')}^${m.get('MSH-9.2')}`).sort();
      expect(types).toEqual(['ADT^A28', 'SIU^S14']);
      const adt = pms.received.find((m) => m.get('MSH-9.1') === 'ADT') as Hl7Message;
      expect(adt.get('PID-3.1')).toBe('MRN-9001');
    });

    it('refuses what no channel takes, an update without id, and what the pipeline refuses', async () => {
      const how = { environment: 'production', interaction: 'create', appId: 'a' } as const;
      expect(await router.submit({ resourceType: 'Observation' }, how)).toEqual({
        refused: 'no channel takes writes of Observation in production',
        status: 404,
      });
      expect(await router.submit(appointment(), { ...how, environment: 'sandbox' })).toMatchObject({
        status: 404,
      });
      expect(await router.submit(appointment(), { ...how, interaction: 'update' })).toEqual({
        refused: 'an update must carry the id of its URL in the resource',
        status: 400,
      });
      // S12 announces a booking: a proposed-free status ('fulfilled') fails the map.
      const refused = await router.submit(appointment({ status: 'fulfilled' }), how);
      expect(refused).toMatchObject({ status: 422 });
      expect('refused' in refused && refused.refused).toMatch(/^channel writes refused the write: map\./);
      // A cancelled update matches no destination of this channel: nothing would reach the PMS.
      const filtered = await router.submit(appointment({ id: 'x', status: 'cancelled' }), {
        ...how,
        interaction: 'update',
      });
      expect(filtered).toMatchObject({ status: 422 });
      expect(pms.received).toHaveLength(0);
      expect(await router.status('no-such-message')).toBeUndefined();
    });

    it('sends the hub Patient an Appointment references (Patient/{id}) as its PID; one the app cannot see refuses the write', async () => {
      const hub: Pick<HubReader, 'read'> = {
        read: async (viewer, type, id) =>
          type === 'Patient' && id === 'pat-1' && viewer.appId === 'app-receptionist'
            ? {
                resourceType: 'Patient',
                id,
                versionId: 2,
                lastUpdated: '2026-03-01T10:00:00Z',
                deleted: false,
                patientId: id,
                resource: {
                  resourceType: 'Patient',
                  id,
                  meta: { versionId: '2' },
                  identifier: [{ system: 'urn:sinew:id:PMS', value: 'MRN-000123' }],
                  name: [{ family: 'Hubpatient', given: ['Carla'] }],
                },
              }
            : undefined,
      };
      const withHub = new FhirWriteRouter({ store, hub });
      const how = { environment: 'production', interaction: 'create', appId: 'app-receptionist' } as const;
      const { contained: _contained, ...bare } = appointment();
      const byReference = {
        ...bare,
        participant: [{ actor: { reference: 'Patient/pat-1' }, status: 'accepted' }],
      };
      const result = await withHub.submit(byReference, how);
      if (!('messageId' in result)) throw new Error(`refused: ${result.refused}`);
      await waitFor('the SIU at the PMS', () => pms.received.length === 1);
      expect(pms.received[0]?.get('PID-3.1')).toBe('MRN-000123');
      expect(pms.received[0]?.get('PID-5.1')).toBe('Hubpatient');
      // Another app does not see that patient (consent): the write is refused, nothing is sent.
      expect(await withHub.submit(byReference, { ...how, appId: 'other-app' })).toEqual({
        refused: 'participant Patient/pat-1 is no Patient this app can see',
        status: 422,
      });
      expect(pms.received).toHaveLength(1);
    });

    // The registry is the same whatever the stack. Deploying a new channel on BullMQ and stopping
    // at once (as this test does) makes BullMQ report "Connection is closed" now and then, which
    // jest takes for an unhandled error: the embedded stack alone runs it.
    (kind === 'sqlite' ? it : it.skip)(
      'refuses a second running channel that takes the same type in the same environment, naming both',
      async () => {
        const other = compileChannelOrThrow(writesChannel(pms.port, 'writes-2'), 'writes-2.yaml', registries);
        const sandbox = compileChannelOrThrow(
          writesChannel(pms.port, 'writes-sandbox', 'sandbox'),
          'writes-sandbox.yaml',
          registries,
        );
        const first = compileChannelOrThrow(writesChannel(pms.port), 'writes.yaml', registries);
        await expect((engine as Engine).deploy([first, other])).rejects.toThrow(
          new FhirWriteClaimError('Appointment', 'production', ['writes', 'writes-2']),
        );
        await (engine as Engine).deploy([first, sandbox]);
        expect(fhirWriteChannels.types('sandbox')).toEqual(['Appointment', 'Patient']);
        await (engine as Engine).stop(2_000);
        engine = undefined;
        // Stopped channels take nothing.
        expect(fhirWriteChannels.types('production')).toEqual([]);
        expect(fhirWriteChannels.types('sandbox')).toEqual([]);
      },
    );

    it('lint names both channels when two files take the same type in one environment', () => {
      const a = join(dir, 'a.yaml');
      const b = join(dir, 'b.yaml');
      writeFileSync(a, writesChannel(1, 'diary'));
      writeFileSync(b, writesChannel(1, 'bookings'));
      const set = compileChannelSet([a, b], registries, { env: { values: {}, strict: false } }, (p) =>
        p.endsWith('a.yaml') ? 'a.yaml' : 'b.yaml',
      );
      expect(
        set.problems.filter((p) => p.severity === 'error').map((p) => `${p.file} ${p.code} ${p.message}`),
      ).toEqual([
        'b.yaml channel.duplicate_write_type channel diary (a.yaml) also takes FHIR writes of Appointment in production; one channel per type and environment',
      ]);
      expect(set.channels.map((c) => c.id)).toEqual(['diary']);
    });
  },
);
