import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type Dialect, type TestDatabase } from '@sinew/test-support/databases';
import type { ConnectorLogger, DeliveryRequest } from './connector';
import { databaseDestination, databaseDestinationConfig } from './database.destination';

jest.setTimeout(30_000);

/** A logger that keeps what it is given, to check that no row value reaches the logs. */
function recordingLogger(lines: string[]): ConnectorLogger {
  const keep = (obj: object, msg?: string) => lines.push(`${JSON.stringify(obj)} ${msg ?? ''}`);
  return { info: keep, warn: keep, error: keep };
}

function request(payload: unknown, n = 1): DeliveryRequest {
  return {
    messageId: `m${n}`,
    deliveryId: `m${n}.db`,
    attempt: 1,
    body: Buffer.from(JSON.stringify(payload)),
    contentType: 'json',
    channelId: 'c',
    destination: 'db',
  };
}

const UPSERT: Record<Dialect, string> = {
  postgres:
    'INSERT INTO patient (mrn, family, visits) VALUES (:mrn, :family, :visits) ' +
    'ON CONFLICT (mrn) DO UPDATE SET family = excluded.family, visits = excluded.visits',
  sqlite:
    'INSERT INTO patient (mrn, family, visits) VALUES (:mrn, :family, :visits) ' +
    'ON CONFLICT (mrn) DO UPDATE SET family = excluded.family, visits = excluded.visits',
  mysql:
    'INSERT INTO patient (mrn, family, visits) VALUES (:mrn, :family, :visits) ' +
    'ON DUPLICATE KEY UPDATE family = VALUES(family), visits = VALUES(visits)',
};

describe.each<Dialect>(['sqlite', 'postgres', 'mysql'])('database destination on %s', (dialect) => {
  let db: TestDatabase;
  const logs: string[] = [];

  beforeEach(async () => {
    logs.length = 0;
    db = await createTestDatabase(dialect);
    await db.sql(
      'CREATE TABLE patient (mrn VARCHAR(20) PRIMARY KEY, family VARCHAR(40) NOT NULL, visits INTEGER)',
    );
    await db.sql(
      'CREATE TABLE result (mrn VARCHAR(20) NOT NULL, code VARCHAR(20) NOT NULL, value VARCHAR(40), PRIMARY KEY (mrn, code))',
    );
  });
  afterEach(() => db.drop());

  function destination(statements: unknown[], url = db.url) {
    const config = databaseDestinationConfig.parse({ url, statements });
    return databaseDestination.create(config, {
      channelId: 'c',
      destination: 'db',
      logger: recordingLogger(logs),
    });
  }

  it('inserts, then upserts, binding named parameters from the payload', async () => {
    const d = destination([
      {
        sql: UPSERT[dialect],
        params: { mrn: 'patient.mrn', family: 'patient.name.family', visits: 'visits' },
      },
    ]);
    try {
      expect(
        await d.send(request({ patient: { mrn: 'M1', name: { family: "O'Hara" } }, visits: 1 })),
      ).toMatchObject({
        status: 'sent',
      });
      expect(
        await d.send(request({ patient: { mrn: 'M1', name: { family: 'Ohara' } }, visits: 2 }, 2)),
      ).toMatchObject({
        status: 'sent',
      });
      // A value that looks like SQL is only ever a value.
      const evil = "x'); DROP TABLE patient; --";
      expect(await d.send(request({ patient: { mrn: 'M2', name: { family: evil } } }, 3))).toMatchObject({
        status: 'sent',
      });
      const rows = await db.sql('SELECT mrn, family, visits FROM patient ORDER BY mrn');
      expect(rows.map((r) => [r.mrn, r.family, r.visits === null ? null : Number(r.visits)])).toEqual([
        ['M1', 'Ohara', 2],
        ['M2', evil, null],
      ]);
    } finally {
      await d.close();
    }
  });

  it('writes messages sent at the same time, each in its own transaction', async () => {
    const d = destination([
      {
        sql: 'INSERT INTO patient (mrn, family) VALUES (:mrn, :family)',
        params: { mrn: 'mrn', family: 'family' },
      },
    ]);
    try {
      const outcomes = await Promise.all(
        [1, 2, 3, 4, 5, 6].map((n) => d.send(request({ mrn: `M${n}`, family: 'Doe' }, n))),
      );
      expect(outcomes.map((o) => o.status)).toEqual(['sent', 'sent', 'sent', 'sent', 'sent', 'sent']);
      expect((await db.sql('SELECT mrn FROM patient ORDER BY mrn')).map((r) => r.mrn)).toEqual([
        'M1',
        'M2',
        'M3',
        'M4',
        'M5',
        'M6',
      ]);
    } finally {
      await d.close();
    }
  });

  it('runs every statement of a message in one transaction: all rows or none', async () => {
    const d = destination([
      { sql: UPSERT[dialect], params: { mrn: 'mrn', family: 'family', visits: 'visits' } },
      {
        sql: 'INSERT INTO result (mrn, code, value) VALUES (:mrn, :code, :value)',
        params: { mrn: 'mrn', code: 'code', value: 'value' },
        for_each: 'results',
      },
    ]);
    try {
      const ok = await d.send(
        request({
          mrn: 'M1',
          family: 'Doe',
          results: [
            { mrn: 'M1', code: 'GLU', value: '5.4' },
            { mrn: 'M1', code: 'NA', value: '140' },
          ],
        }),
      );
      expect(ok).toMatchObject({ status: 'sent', code: '3 statements' });
      // The second result repeats a key: the whole message is rolled back.
      const bad = await d.send(
        request(
          {
            mrn: 'M2',
            family: 'Roe',
            results: [
              { mrn: 'M2', code: 'K', value: 'secret-value-4.1' },
              { mrn: 'M2', code: 'K', value: 'secret-value-4.2' },
            ],
          },
          2,
        ),
      );
      expect(bad.status).toBe('failed');
      expect(await db.sql("SELECT mrn FROM patient WHERE mrn = 'M2'")).toEqual([]);
      expect(await db.sql("SELECT code FROM result WHERE mrn = 'M2'")).toEqual([]);
      expect((await db.sql('SELECT code FROM result ORDER BY code')).map((r) => r.code)).toEqual([
        'GLU',
        'NA',
      ]);
    } finally {
      await d.close();
    }
  });

  it('a constraint violation fails with the database code, and no row value in the error or the logs', async () => {
    const d = destination([
      {
        sql: 'INSERT INTO patient (mrn, family) VALUES (:mrn, :family)',
        params: { mrn: 'mrn', family: 'family' },
      },
    ]);
    try {
      expect(await d.send(request({ mrn: 'MRN-SECRET-77', family: 'Doe' }))).toMatchObject({
        status: 'sent',
      });
      const dup = await d.send(request({ mrn: 'MRN-SECRET-77', family: 'Doe' }, 2));
      const expected = { postgres: '23505', mysql: 'ER_DUP_ENTRY', sqlite: 'SQLITE_CONSTRAINT_PRIMARYKEY' }[
        dialect
      ];
      expect(dup).toMatchObject({ status: 'failed', code: expected });
      const missing = await d.send(request({ mrn: 'M9' }, 3));
      expect(missing.status).toBe('failed');
      const text = JSON.stringify([dup, missing]) + logs.join('\n');
      expect(text).not.toContain('MRN-SECRET-77');
      expect(text).not.toContain('Doe');
      expect(logs.length).toBeGreaterThan(0);
    } finally {
      await d.close();
    }
  });

  if (dialect === 'mysql') {
    it('reads the password from password_file; a refused login is retried, the password never shown', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sinew-dbpw-'));
      const file = join(dir, 'password');
      writeFileSync(file, 'Wrong-Secret-99\n');
      const config = databaseDestinationConfig.parse({
        url: db.url,
        password_file: file,
        statements: [
          { sql: 'INSERT INTO patient (mrn, family) VALUES (:mrn, :f)', params: { mrn: 'mrn', f: 'f' } },
        ],
      });
      const d = databaseDestination.create(config, {
        channelId: 'c',
        destination: 'db',
        logger: recordingLogger(logs),
      });
      try {
        const outcome = await d.send(request({ mrn: 'M1', f: 'Doe' }));
        expect(outcome).toMatchObject({ status: 'retry', code: 'ER_ACCESS_DENIED_ERROR' });
        expect(JSON.stringify(outcome) + logs.join('\n')).not.toContain('Wrong-Secret-99');
      } finally {
        await d.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  if (dialect !== 'sqlite') {
    it('asks for a retry when the server cannot be reached', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      const url = new URL(db.url);
      url.port = String(port);
      const d = destination(
        [
          {
            sql: 'INSERT INTO patient (mrn, family) VALUES (:mrn, :family)',
            params: { mrn: 'mrn', family: 'f' },
          },
        ],
        url.toString(),
      );
      try {
        expect(await d.send(request({ mrn: 'M1', f: 'Doe' }))).toMatchObject({
          status: 'retry',
          code: 'ECONNREFUSED',
        });
      } finally {
        await d.close();
      }
    });
  }
});

describe('database destination config', () => {
  it('refuses a :name without a path in params', () => {
    const r = databaseDestinationConfig.safeParse({
      url: 'sqlite:/tmp/x.db',
      statements: [{ sql: 'INSERT INTO t (a, b) VALUES (:a, :b)', params: { a: 'a' } }],
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(':b has no entry in params');
  });
});
