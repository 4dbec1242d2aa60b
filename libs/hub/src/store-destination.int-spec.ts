import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { StoreDestination } from '@sinew/connectors';
import { Engine, createLogger } from '@sinew/engine';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { MllpDecoder, encodeFrame } from '@sinew/mllp';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { waitFor } from '@sinew/test-support/wait';
import { openHub } from './open-hub';
import type { FhirResource, HubStore, HubViewer } from './types';

jest.setTimeout(60_000);

const SAMPLES = join(__dirname, '..', '..', '..', 'channels', 'samples');
const FIXTURES = join(__dirname, 'fixtures');
const MRN = 'urn:oid:2.16.840.1.113883.19.5|MRN-000123';
const admin: HubViewer = { environment: 'production' };

/** Sends one HL7 v2 file over MLLP and resolves with the ACK's code. */
async function send(port: number, file: string): Promise<string> {
  const payload = Buffer.from(readFileSync(file, 'utf8').replace(/\r?\n/g, '\r'), 'utf8');
  const socket = connect(port, '127.0.0.1');
  const decoder = new MllpDecoder({ maxMessageBytes: 1 << 20 });
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        for (const item of decoder.push(chunk)) if (item.type === 'frame') resolve(item.payload);
      });
      socket.write(encodeFrame(payload));
    });
    return readAck(Hl7Message.parse(reply)).code;
  } finally {
    socket.destroy();
  }
}

const CHANNEL = `
id: adt-hub
source: { type: mllp, listen: 0 }
pipeline:
  - map: { transformer: adt-to-fhir }
destinations:
  - name: hub
    type: store
`;

const backends: Array<[string, () => Promise<{ store: TypeOrmStore; done: () => Promise<void> }>]> = [
  [
    'SQLite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sinew-hub-engine-'));
      const store = await openStore({ dataDir: dir });
      return { store, done: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const schema: TestSchema = await withTestSchema();
      const store = await openStore({ databaseUrl: schema.url, schema: schema.schema });
      return { store, done: () => schema.drop() };
    },
  ],
];

describe.each(backends)('the store destination in a running engine on %s', (_name, open) => {
  let store: TypeOrmStore;
  let done: () => Promise<void>;
  let hub: HubStore;
  let engine: Engine;
  let port: number;

  beforeAll(async () => {
    ({ store, done } = await open());
    hub = openHub(store);
    const registries = builtInRegistries();
    engine = new Engine({
      channels: [compileChannelOrThrow(CHANNEL, 'adt-hub.yaml', registries)],
      store,
      queue: new MemoryQueueDriver(),
      transformers: registries.transformers,
      logger: createLogger('silent'),
      hub,
    });
    await engine.start();
    port = engine.source('adt-hub')?.port?.() as number;
  });
  afterAll(async () => {
    await engine.stop(2_000);
    await hub.close();
    await done();
  });

  const patients = async (identifier: string) =>
    (await hub.search(admin, { resourceType: 'Patient', params: [['identifier', identifier]], count: 10 }))
      .resources;
  const encounters = async () =>
    (
      await hub.search(admin, {
        resourceType: 'Encounter',
        params: [['identifier', 'VISIT-00042']],
        count: 10,
      })
    ).resources;

  it('keeps what an ADT channel maps (A01), applies its cancel (A11) and a merge (A40)', async () => {
    expect(await send(port, join(SAMPLES, 'adt-a01.hl7'))).toBe('AA');
    const [patient] = await waitFor('the patient in the hub', async () => {
      const found = await patients(MRN);
      return found.length ? found : undefined;
    });
    expect(patient).toMatchObject({ birthDate: '1980-02-14', meta: { versionId: '1' } });
    const [admitted] = await encounters();
    expect(admitted).toMatchObject({
      status: 'in-progress',
      subject: { reference: `Patient/${patient!.id}` },
    });
    const everything = (await hub.everything(admin, patient!.id as string))!.map((r) => r.resourceType);
    expect(everything).toEqual(
      expect.arrayContaining(['Patient', 'Encounter', 'Account', 'AllergyIntolerance']),
    );

    expect(await send(port, join(FIXTURES, 'adt-a11.hl7'))).toBe('AA');
    const [cancelled] = await waitFor('the cancelled encounter', async () => {
      const found = await encounters();
      return found[0]?.status === 'cancelled' ? found : undefined;
    });
    expect(cancelled).toMatchObject({ id: admitted!.id, meta: { versionId: '2' } });

    expect(await send(port, join(FIXTURES, 'adt-a40.hl7'))).toBe('AA');
    const [survivor] = await waitFor('the surviving patient', async () => {
      const found = await patients('urn:oid:2.16.840.1.113883.19.5|MRN-000999');
      return found.length ? found : undefined;
    });
    await waitFor('the merge', async () => ((await patients(MRN)).length === 0 ? true : undefined));
    const merged = await hub.read(admin, 'Patient', patient!.id as string);
    expect(merged).toMatchObject({ deleted: true });
    const moved = await hub.read(admin, 'Encounter', admitted!.id as string);
    expect(moved!.resource.subject).toEqual({ reference: `Patient/${survivor!.id}` });
    const changes = await hub.changesSince(0, 1000);
    expect(changes.find((c) => c.action === 'merged')).toMatchObject({
      id: patient!.id,
      mergedInto: survivor!.id,
      channelId: 'adt-hub',
    });
  });

  it('dead-letters a body that is not FHIR, and names a missing hub', async () => {
    const request = {
      messageId: 'm1',
      deliveryId: 'd1',
      attempt: 1,
      contentType: 'fhir' as const,
      channelId: 'c',
      destination: 'hub',
    };
    const logger = createLogger('silent');
    const withHub = new StoreDestination(
      { environment: 'production' },
      { channelId: 'c', destination: 'hub', logger, hub },
    );
    expect(await withHub.send({ ...request, body: Buffer.from('MSH|^~\\&|') })).toMatchObject({
      status: 'failed',
      code: 'INVALID_PAYLOAD',
    });
    expect(await withHub.send({ ...request, body: Buffer.from('{"hello":"world"}') })).toMatchObject({
      status: 'failed',
      code: 'INVALID_PAYLOAD',
      error: expect.stringContaining('not a FHIR resource'),
    });
    const sandbox: FhirResource = { resourceType: 'Patient', identifier: [{ system: 'urn:x', value: 'S1' }] };
    const sandboxHub = new StoreDestination(
      { environment: 'sandbox' },
      { channelId: 'c', destination: 'hub', logger, hub },
    );
    expect(await sandboxHub.send({ ...request, body: Buffer.from(JSON.stringify(sandbox)) })).toMatchObject({
      status: 'sent',
      code: 'STORED 1',
    });
    expect(await sandboxHub.send({ ...request, body: Buffer.from(JSON.stringify(sandbox)) })).toMatchObject({
      status: 'sent',
      code: 'UNCHANGED',
    });
    expect(await patients('urn:x|S1')).toEqual([]);
    expect(
      (
        await hub.search(
          { environment: 'sandbox' },
          { resourceType: 'Patient', params: [['identifier', 'urn:x|S1']], count: 10 },
        )
      ).resources,
    ).toHaveLength(1);
    const without = new StoreDestination(
      { environment: 'production' },
      { channelId: 'c', destination: 'hub', logger },
    );
    expect(await without.send({ ...request, body: Buffer.from(JSON.stringify(sandbox)) })).toMatchObject({
      status: 'failed',
      code: 'HUB_MISSING',
    });
  });
});
