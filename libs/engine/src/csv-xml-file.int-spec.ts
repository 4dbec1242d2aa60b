import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { TransformerLibrary } from '@sinew/mapping';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type MessageRecord, type Store } from '@sinew/store';
import { waitFor } from '@sinew/test-support/wait';
import { Engine } from './engine';
import { createLogger } from './logger';

const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/** A PMS export: `;`-delimited, Windows-1252 is not needed here; a BOM, CRLF, a quoted line break. */
const EXPORT =
  '\ufeffpatient_id;last_name;first_name;birth_date;sex;phone\r\n' +
  'P-1;Doe;Jane;19800214;F;555-0101\r\n' +
  'P-2;"Roe; Jr";Richard;19700101;M;\r\n' +
  'SKIP;Test;"two\r\nlines";20000101;U;\r\n';

describe('csv and xml files through the engine (embedded ledger, real folders)', () => {
  let dir: string;
  let inbox: string;
  let outbox: string;
  let engine: Engine | undefined;
  let store: Store | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-csv-xml-'));
    inbox = join(dir, 'in');
    outbox = join(dir, 'out');
    mkdirSync(inbox);
  });
  afterEach(async () => {
    await engine?.stop(2_000);
    await store?.close();
    engine = undefined;
    store = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(channelYaml: string): Promise<Store> {
    const channel = compileChannelOrThrow(channelYaml, 'test.yaml', registries);
    store = await openStore({ dataDir: join(dir, 'data') });
    engine = new Engine({
      channels: [channel],
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
    });
    await engine.start();
    return store;
  }

  const settled = (m: MessageRecord) => m.status === 'delivered' || m.status === 'filtered';

  it('turns a CSV file of 3 rows into 3 messages in the ledger, filtered and mapped by column', async () => {
    const ledger = await start(`
id: pms-patients
source:
  type: file
  directory: ${inbox}
  pattern: '*.csv'
  poll_interval_ms: 50
  min_age_ms: 0
  content_type: csv
  csv: { delimiter: ';' }
pipeline:
  - filter: { fhirpath: "patient_id != 'SKIP'" }
  - map: { transformer: pms-patient-csv-to-fhir }
destinations:
  - name: archive
    type: file
    directory: ${outbox}
    filename: \${message_id}.json
`);
    writeFileSync(join(inbox, 'patients.csv'), EXPORT);
    const messages = await waitFor('3 messages settled', async () => {
      const found = await ledger.searchMessages({ channelId: 'pms-patients' });
      return found.length === 3 && found.every(settled) ? found : undefined;
    });
    expect(messages.map((m) => [m.contentType, m.messageType]).sort()).toEqual([
      ['csv', 'csv'],
      ['csv', 'csv'],
      ['csv', 'csv'],
    ]);
    const raws = await Promise.all(
      messages.map(async (m) => (await ledger.getContent(m.id, 'raw'))?.toString('utf8')),
    );
    // Each row is kept as text: the column names, then the row, comma-separated.
    expect(raws.sort()).toEqual([
      'patient_id,last_name,first_name,birth_date,sex,phone\nP-1,Doe,Jane,19800214,F,555-0101\n',
      'patient_id,last_name,first_name,birth_date,sex,phone\nP-2,Roe; Jr,Richard,19700101,M,\n',
      'patient_id,last_name,first_name,birth_date,sex,phone\nSKIP,Test,"two\r\nlines",20000101,U,\n',
    ]);
    expect(messages.filter((m) => m.status === 'filtered')).toHaveLength(1);
    const written = readdirSync(outbox).map(
      (f) => JSON.parse(readFileSync(join(outbox, f), 'utf8')) as unknown,
    );
    const patients = written.map(
      (b) =>
        (b as { entry: Array<{ resource: { name: Array<{ family: string }>; gender: string } }> }).entry[0]
          ?.resource,
    );
    expect(patients.map((p) => [p?.name[0]?.family, p?.gender]).sort()).toEqual([
      ['Doe', 'female'],
      ['Roe; Jr', 'male'],
    ]);
    await waitFor('moved', () => (existsSync(join(inbox, 'done', 'patients.csv')) ? true : undefined));

    // The same file handed over again (as after a crash before the move): its rows are duplicates.
    writeFileSync(join(inbox, 'patients.csv'), EXPORT);
    await waitFor('moved again', () =>
      existsSync(join(inbox, 'done', 'patients-2.csv')) ? true : undefined,
    );
    const after = await ledger.searchMessages({ channelId: 'pms-patients' });
    expect(after.map((m) => m.duplicateCount)).toEqual([1, 1, 1]);
    expect(readdirSync(outbox)).toHaveLength(2);
  });

  it('moves a malformed CSV file to the error folder, handing on none of its rows', async () => {
    const ledger = await start(`
id: pms-patients
source: { type: file, directory: ${inbox}, poll_interval_ms: 50, min_age_ms: 0, content_type: csv }
pipeline:
  - map: { transformer: pms-patient-csv-to-fhir }
destinations:
  - { name: archive, type: file, directory: ${outbox} }
`);
    writeFileSync(join(inbox, 'short-row.csv'), 'patient_id,last_name\nP-1,Doe\nP-2\n');
    await waitFor('moved', () => (existsSync(join(inbox, 'error', 'short-row.csv')) ? true : undefined));
    expect(await ledger.searchMessages({ channelId: 'pms-patients' })).toEqual([]);
    expect(readFileSync(join(inbox, 'error', 'short-row.csv'), 'utf8')).toBe(
      'patient_id,last_name\nP-1,Doe\nP-2\n',
    );
  });

  it('reads an XML file as one message named by its root element; a malformed one goes to the error folder', async () => {
    const ledger = await start(`
id: lab-orders
source: { type: file, directory: ${inbox}, poll_interval_ms: 50, min_age_ms: 0, content_type: xml }
pipeline:
  - filter: { fhirpath: "LabOrder.Test.exists()" }
  - map: { transformer: lab-order-xml-to-json }
destinations:
  - { name: archive, type: file, directory: ${outbox}, filename: '\${message_id}.json' }
`);
    const order =
      '<LabOrder id="ORD-1"><Patient mrn="MRN-5"><Name>Roe</Name></Patient><Test code="718-7">Hemoglobin</Test></LabOrder>';
    writeFileSync(join(inbox, 'a-order.xml'), order);
    writeFileSync(join(inbox, 'b-broken.xml'), '<LabOrder id="ORD-2">\n<Test>\n</LabOrder>');
    const [m] = await waitFor('delivered', async () => {
      const found = await ledger.searchMessages({ channelId: 'lab-orders' });
      return found.length === 1 && found.every(settled) ? found : undefined;
    });
    expect([m?.contentType, m?.messageType, m?.status]).toEqual(['xml', 'LabOrder', 'delivered']);
    expect((await ledger.getContent(m?.id ?? '', 'raw'))?.toString('utf8')).toBe(order);
    expect(JSON.parse(readFileSync(join(outbox, `${m?.id}.json`), 'utf8'))).toEqual({
      orderId: 'ORD-1',
      patient: { mrn: 'MRN-5', name: 'Roe' },
      tests: [{ code: '718-7', name: 'Hemoglobin' }],
    });
    await waitFor('moved', () => (existsSync(join(inbox, 'error', 'b-broken.xml')) ? true : undefined));
    expect(await ledger.searchMessages({ channelId: 'lab-orders' })).toHaveLength(1);
  });
});
