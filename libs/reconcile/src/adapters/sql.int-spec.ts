import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { postgresUrl } from '@sinew/test-support/postgres';
import type { ReadContext, SideRecord } from '../types';
import { ReconcileReadError } from './errors';
import { sqlAdapter } from './sql';
import { createMysqlDatabase, createPostgresDatabase, type TestDatabase } from './testing';

const ROWS = 4500; // more than two cursor batches
const base = Date.parse('2026-12-06T00:00:00Z');

function rows() {
  return Array.from({ length: ROWS }, (_, i) => ({
    mrn: `MRN${String(i).padStart(6, '0')}`,
    family: `Family ${i}`,
    birth_date: `19${String(40 + (i % 60))}-0${1 + (i % 9)}-1${i % 10}`,
    status: i % 3 === 0 ? 'cancelled' : 'booked',
    // one row a minute from midnight: the first 1,440 fall on 2026-12-06
    updated_at: new Date(base + i * 60_000).toISOString(),
    amount: (i % 100) + 0.5,
  }));
}

function context(overrides: Partial<ReadContext> = {}): ReadContext {
  return {
    entity: 'visits',
    side: 'source',
    period: { label: 'all' },
    fields: ['family', 'birth_date', 'amount'],
    withStatus: false,
    signal: new AbortController().signal,
    baseDir: tmpdir(),
    ...overrides,
  };
}

async function collect(iterable: AsyncIterable<SideRecord>): Promise<SideRecord[]> {
  const out: SideRecord[] = [];
  for await (const record of iterable) out.push(record);
  return out;
}

const day = { from: new Date(base), to: new Date(base + 86_400_000), label: '2026-12-06' };

interface Case {
  name: string;
  setup(): Promise<{ url: string; query: string; done(): Promise<void>; baseDir?: string }>;
  /** How the row of index 7 reads (each driver's own types). */
  seventh: Partial<SideRecord>;
  badColumn: RegExp;
}

async function loadSql(
  db: TestDatabase,
  create: string,
  insert: (chunk: ReturnType<typeof rows>) => [string, unknown[]],
) {
  await db.exec(create);
  const all = rows();
  for (let i = 0; i < all.length; i += 500) {
    const [sql, values] = insert(all.slice(i, i + 500));
    await db.exec(sql, values);
  }
}

const cases: Case[] = [
  {
    name: 'PostgreSQL',
    setup: async () => {
      const db = await createPostgresDatabase(await postgresUrl());
      await loadSql(
        db,
        'CREATE TABLE visits (mrn text, family text, birth_date date, status text, updated_at timestamptz, amount numeric(10,2))',
        (chunk) => [
          'INSERT INTO visits SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::timestamptz[], $6::numeric[])',
          [
            chunk.map((r) => r.mrn),
            chunk.map((r) => r.family),
            chunk.map((r) => r.birth_date),
            chunk.map((r) => r.status),
            chunk.map((r) => r.updated_at),
            chunk.map((r) => r.amount),
          ],
        ],
      );
      return {
        url: db.url,
        query: `SELECT mrn AS key, family, birth_date, amount, status, updated_at FROM visits
                WHERE (:from::timestamptz IS NULL OR updated_at >= :from::timestamptz)
                  AND (:to::timestamptz IS NULL OR updated_at < :to::timestamptz);`,
        done: () => db.drop(),
      };
    },
    seventh: {
      fields: { family: 'Family 7', birth_date: '1947-08-17', amount: '7.50' },
      updatedAt: '2026-12-06T00:07:00.000Z',
    },
    badColumn:
      /^system pms_db: the query of entity visits \(source\) failed with SQL error 42703: column "famly" does not exist \(postgres:\/\/postgres@127\.0\.0\.1:\d+\/recon_\w+, query: SELECT mrn AS key, famly/,
  },
  {
    name: 'MariaDB',
    setup: async () => {
      const db = await createMysqlDatabase();
      await loadSql(
        db,
        'CREATE TABLE visits (mrn varchar(20), family varchar(50), birth_date date, status varchar(20), updated_at datetime(3), amount decimal(10,2))',
        (chunk) => [
          'INSERT INTO visits VALUES ?',
          [
            chunk.map((r) => [
              r.mrn,
              r.family,
              r.birth_date,
              r.status,
              r.updated_at.replace('T', ' ').replace('Z', ''),
              r.amount,
            ]),
          ],
        ],
      );
      return {
        url: db.url,
        query: `SELECT mrn AS \`key\`, family, birth_date, amount, status, updated_at FROM visits
                WHERE (:from IS NULL OR updated_at >= :from) AND (:to IS NULL OR updated_at < :to)`,
        done: () => db.drop(),
      };
    },
    seventh: {
      fields: { family: 'Family 7', birth_date: '1947-08-17', amount: '7.50' },
      updatedAt: '2026-12-06T00:07:00.000',
    },
    badColumn:
      /^system pms_db: the query of entity visits \(source\) failed with SQL error ER_BAD_FIELD_ERROR: Unknown column 'famly' in '(field list|SELECT)' \(mysql:\/\/root@127\.0\.0\.1:3306\/recon_\w+, query: /,
  },
  {
    name: 'SQLite',
    setup: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'recon-sqlite-'));
      const db = new Database(join(dir, 'pms.db'));
      db.exec(
        'CREATE TABLE visits (mrn TEXT, family TEXT, birth_date TEXT, status TEXT, updated_at TEXT, amount REAL)',
      );
      const insert = db.prepare(
        'INSERT INTO visits VALUES (@mrn, @family, @birth_date, @status, @updated_at, @amount)',
      );
      db.transaction(() => rows().forEach((r) => insert.run(r)))();
      db.close();
      return {
        url: 'sqlite:pms.db',
        baseDir: dir,
        query: `SELECT mrn AS key, family, birth_date, amount, status, updated_at FROM visits
                WHERE (:from IS NULL OR updated_at >= :from) AND (:to IS NULL OR updated_at < :to)`,
        done: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
    seventh: {
      fields: { family: 'Family 7', birth_date: '1947-08-17', amount: 7.5 },
      updatedAt: '2026-12-06T00:07:00.000Z',
    },
    badColumn:
      /^system pms_db: the query of entity visits \(source\) failed with SQL error SQLITE_ERROR: no such column: famly \(sqlite:pms\.db, query: /,
  },
];

describe.each(cases)('sql adapter against $name', (c) => {
  let url: string;
  let query: string;
  let baseDir = tmpdir();
  let done: () => Promise<void>;

  beforeAll(async () => {
    const setup = await c.setup();
    ({ url, query, done } = setup);
    if (setup.baseDir) baseDir = setup.baseDir;
  }, 60_000);
  afterAll(async () => {
    await done?.();
  });

  const reader = (q = query) =>
    sqlAdapter.create(sqlAdapter.system.parse({ type: 'sql', url }), sqlAdapter.side.parse({ query: q }), {
      systemName: 'pms_db',
    });

  it('streams every row as a record', async () => {
    const records = await collect(reader().read(context({ baseDir })));
    expect(records).toHaveLength(ROWS);
    expect(new Set(records.map((r) => r.key)).size).toBe(ROWS);
    expect(records.find((r) => r.key === 'MRN000007')).toEqual({ key: 'MRN000007', ...c.seventh });
  });

  it('binds the period to :from and :to', async () => {
    const records = await collect(reader().read(context({ baseDir, period: day, withStatus: true })));
    expect(records).toHaveLength(1440);
    expect(records.every((r) => r.status === 'booked' || r.status === 'cancelled')).toBe(true);
  });

  it('counts in the database, in all and per status', async () => {
    expect(await reader().count(context({ baseDir }))).toEqual(new Map([['', ROWS]]));
    expect(await reader().count(context({ baseDir, period: day, withStatus: true }))).toEqual(
      new Map([
        ['booked', 960],
        ['cancelled', 480],
      ]),
    );
  });

  it('names the system, the database, the query and the SQL error code', async () => {
    const error = await collect(
      reader(query.replace('family,', 'famly AS family,')).read(context({ baseDir })),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReconcileReadError);
    expect((error as Error).message).toMatch(c.badColumn);
  });

  it('says which columns the query lacks', async () => {
    const error = await collect(reader(query.replace('amount,', '')).read(context({ baseDir }))).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toMatch(
      /^system pms_db: the query of entity visits \(source\) returns no column amount \(it must return key, the field names; /,
    );
  });

  it('stops early without leaving the query open', async () => {
    let n = 0;
    for await (const record of reader().read(context({ baseDir }))) {
      expect(record.key).toMatch(/^MRN/);
      if (++n === 10) break;
    }
    expect(await reader().count(context({ baseDir }))).toEqual(new Map([['', ROWS]]));
  });
});
