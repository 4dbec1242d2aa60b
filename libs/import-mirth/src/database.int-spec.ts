import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { databaseDestination, databaseDestinationConfig, type DeliveryRequest } from '@sinew/connectors';
import { createTestDatabase, type Dialect, type TestDatabase } from '@sinew/test-support/databases';
import { importMirth } from './convert';

/**
 * The statements `sinew import mirth` writes for Mirth Database Writers, run by the database
 * destination against a real server: the rows land with the values the payload carries.
 */
jest.setTimeout(30_000);

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'mirth');

/** The first destination of the first channel imported from `file`, as written. */
function importedDestination(file: string): Record<string, unknown> {
  const path = join(FIXTURES, file);
  const channel = importMirth([{ path, text: readFileSync(path, 'utf8') }]).channels[0]?.channel;
  const dest = (channel?.destinations as Array<Record<string, unknown>> | undefined)?.[0];
  if (!dest) throw new Error(`${file}: no destination imported`);
  return dest;
}

function request(payload: unknown): DeliveryRequest {
  return {
    messageId: 'm1',
    deliveryId: 'm1.db',
    attempt: 1,
    body: Buffer.from(JSON.stringify(payload)),
    contentType: 'json',
    channelId: 'c',
    destination: 'db',
  };
}

const cases: Array<{
  dialect: Dialect;
  file: string;
  table: string;
  payload: Record<string, string>;
  select: string;
  row: Record<string, unknown>;
}> = [
  {
    // A Database Writer statement with ${mrn} and ${order}, imported for PostgreSQL.
    dialect: 'postgres',
    file: 'authored/lab-sftp-pickup.xml',
    table: 'CREATE TABLE lab_result (mrn VARCHAR(20), order_no VARCHAR(20), status VARCHAR(2))',
    payload: { mrn: 'MRN1', order: "ORD-7'A" },
    select: 'SELECT mrn, order_no, status FROM lab_result',
    row: { mrn: 'MRN1', order_no: "ORD-7'A", status: 'F' },
  },
  {
    // A Database Writer script concatenating $('Username') … into its SQL, imported for MySQL.
    dialect: 'mysql',
    file: 'channel-examples/hl7-file-reader-to-db-writer.xml',
    table:
      'CREATE TABLE PERSON (USERNAME VARCHAR(40), FIRSTNAME VARCHAR(40), LASTNAME VARCHAR(40), LOGGED_IN INTEGER)',
    payload: { Username: 'jdoe', FirstName: 'JANE', LastName: "O'HARA", Account: 'A1' },
    select: 'SELECT USERNAME, FIRSTNAME, LASTNAME, LOGGED_IN FROM PERSON',
    row: { USERNAME: 'jdoe', FIRSTNAME: 'JANE', LASTNAME: "O'HARA", LOGGED_IN: 0 },
  },
];

describe.each(cases)('the imported statement of $file on $dialect', (c) => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase(c.dialect);
    await db.sql(c.table);
  });
  afterEach(() => db.drop());

  it('writes the row with the values of the payload, bound, not spliced into the text', async () => {
    const imported = importedDestination(c.file);
    expect(imported.type).toBe('database');
    // The server of the export is replaced by the test database; the statements are as imported.
    const config = databaseDestinationConfig.parse({ url: db.url, statements: imported.statements });
    const destination = databaseDestination.create(config, {
      channelId: 'c',
      destination: 'db',
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    try {
      expect(await destination.send(request(c.payload))).toMatchObject({ status: 'sent' });
    } finally {
      await destination.close();
    }
    expect(await db.sql(c.select)).toEqual([c.row]);
  });
});
