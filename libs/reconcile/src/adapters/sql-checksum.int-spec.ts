import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { postgresUrl } from '@sinew/test-support/postgres';
import type { ReadContext, SideRecord } from '../types';
import { sqlAdapter } from './sql';
import { sqlChecksumDiff, type ChecksumDiffStats, type RangeRows } from './sql-checksum';
import { createMysqlDatabase, createPostgresDatabase, type TestDatabase } from './testing';

const ctx: Omit<ReadContext, 'side'> = {
  entity: 'patients',
  period: { label: 'all' },
  fields: ['family', 'birth_date', 'amount'],
  withStatus: false,
  signal: new AbortController().signal,
  baseDir: tmpdir(),
};

const reader = (url: string, table: string) =>
  sqlAdapter.create(
    sqlAdapter.system.parse({ type: 'sql', url }),
    sqlAdapter.side.parse({
      query: `SELECT mrn AS ${url.startsWith('mysql') ? '`key`' : 'key'}, family, birth_date, amount FROM ${table}`,
    }),
    { systemName: table },
  );

async function diff(source: string, target: string, sourceUrl: string, targetUrl = sourceUrl, opts = {}) {
  const stats = {} as ChecksumDiffStats;
  const chunks: RangeRows[] = [];
  for await (const chunk of sqlChecksumDiff(reader(sourceUrl, source), reader(targetUrl, target), ctx, {
    ...opts,
    stats,
  })) {
    chunks.push(chunk);
  }
  return { chunks, stats, differing: differingKeys(chunks) };
}

/** What a comparison of the fetched rows finds: keys missing on a side, held twice, or with other fields. */
function differingKeys(chunks: RangeRows[]): string[] {
  const bySide = (pick: (c: RangeRows) => SideRecord[]) => {
    const map = new Map<string, SideRecord[]>();
    for (const chunk of chunks) for (const r of pick(chunk)) map.set(r.key, [...(map.get(r.key) ?? []), r]);
    return map;
  };
  const source = bySide((c) => c.source);
  const target = bySide((c) => c.target);
  const keys = new Set([...source.keys(), ...target.keys()]);
  const out: string[] = [];
  for (const key of keys) {
    const s = source.get(key) ?? [];
    const t = target.get(key) ?? [];
    if (s.length !== 1 || t.length !== 1 || JSON.stringify(s[0]?.fields) !== JSON.stringify(t[0]?.fields))
      out.push(key);
  }
  return out.sort();
}

const N = 50_000;

/** 20 differences: 8 changed fields, 4 rows missing in the target, 4 only in the target, 2 duplicates, 2 nulls. */
async function plant(db: TestDatabase, target: string): Promise<string[]> {
  const planted: string[] = [];
  const at = (i: number) => `P${i}`;
  for (const i of [11, 4_000, 9_999, 15_321, 22_222, 30_001, 41_000, 49_998]) {
    await db.exec(`UPDATE ${target} SET family = family || 'x' WHERE mrn = '${at(i)}'`);
    planted.push(at(i));
  }
  for (const i of [2, 12_345, 33_333, 49_999]) {
    await db.exec(`DELETE FROM ${target} WHERE mrn = '${at(i)}'`);
    planted.push(at(i));
  }
  for (const i of [1, 2, 3, 4]) {
    await db.exec(`INSERT INTO ${target} VALUES ('Q${i}', 'Extra', '2000-01-01', 1)`);
    planted.push(`Q${i}`);
  }
  for (const i of [777, 25_000]) {
    await db.exec(`INSERT INTO ${target} SELECT * FROM ${target} WHERE mrn = '${at(i)}'`);
    planted.push(at(i));
  }
  for (const i of [5_555, 44_444]) {
    await db.exec(`UPDATE ${target} SET birth_date = NULL WHERE mrn = '${at(i)}'`);
    planted.push(at(i));
  }
  return planted.sort();
}

describe('sqlChecksumDiff on PostgreSQL', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createPostgresDatabase(await postgresUrl());
    for (const table of ['src', 'dst', 'same']) {
      await db.exec(`CREATE TABLE ${table} (mrn text, family text, birth_date date, amount numeric(10,2))`);
      await db.exec(
        `INSERT INTO ${table} SELECT 'P' || g, 'Family ' || (g % 977), DATE '1950-01-01' + (g % 20000), (g % 1000) / 4.0
         FROM generate_series(0, ${N - 1}) g`,
      );
    }
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('finds nothing and fetches nothing when both sides hold the same rows', async () => {
    const { chunks, stats } = await diff('src', 'same', db.url);
    expect(chunks).toEqual([]);
    expect(stats.rowsTotal).toEqual({ source: N, target: N });
    expect(stats.rowsFetched).toEqual({ source: 0, target: 0 });
    expect(stats.queries).toBe(2);
  });

  it('finds 20 planted differences by fetching under 5 % of the rows', async () => {
    const planted = await plant(db, 'dst');
    const { differing, stats } = await diff('src', 'dst', db.url);
    expect(differing).toEqual(planted);
    const fetched = stats.rowsFetched.source + stats.rowsFetched.target;
    expect(fetched).toBeLessThan(0.05 * N);
    expect(stats.checksums).toBe(true);
    expect(stats.levels).toBeGreaterThan(2);
  }, 60_000);

  it('places long keys sharing their first 16 bytes exactly', async () => {
    for (const table of ['long_src', 'long_dst']) {
      await db.exec(`CREATE TABLE ${table} (mrn text, family text, birth_date date, amount numeric(10,2))`);
      await db.exec(
        `INSERT INTO ${table} SELECT 'urn:oid:1.2.3.4.5|P' || g, 'F' || g, DATE '2000-01-01', 1 FROM generate_series(0, 4999) g`,
      );
    }
    await db.exec(
      "UPDATE long_dst SET family = 'changed' WHERE mrn IN ('urn:oid:1.2.3.4.5|P10', 'urn:oid:1.2.3.4.5|P4321')",
    );
    await db.exec("DELETE FROM long_dst WHERE mrn = 'urn:oid:1.2.3.4.5|P2500'");
    const { differing, stats } = await diff('long_src', 'long_dst', db.url);
    expect(differing).toEqual([
      'urn:oid:1.2.3.4.5|P10',
      'urn:oid:1.2.3.4.5|P2500',
      'urn:oid:1.2.3.4.5|P4321',
    ]);
    // Range bounds come from a random sample of keys: a tenth of one table is still a small part.
    expect(stats.rowsFetched.source + stats.rowsFetched.target).toBeLessThan(1000);
  }, 60_000);

  it('gives the same differences when every range is fetched (SQLite-like fallback sizes)', async () => {
    const { differing } = await diff('src', 'dst', db.url, db.url, { leafRows: N * 2 });
    const { differing: bisected } = await diff('src', 'dst', db.url);
    expect(differing).toEqual(bisected);
  }, 60_000);
});

describe('sqlChecksumDiff on MariaDB and across databases', () => {
  let maria: TestDatabase;
  let pg: TestDatabase;
  const M = 20_000;

  beforeAll(async () => {
    maria = await createMysqlDatabase();
    pg = await createPostgresDatabase(await postgresUrl());
    await maria.exec('SET SESSION cte_max_recursion_depth = 100000').catch(() => undefined);
    for (const table of ['src', 'dst']) {
      await maria.exec(
        `CREATE TABLE ${table} (mrn varchar(20), family varchar(50), birth_date date, amount int)`,
      );
      await maria.exec(
        `INSERT INTO ${table} SELECT concat('P', seq), concat('Family ', seq % 977), date_add('1950-01-01', INTERVAL seq % 20000 DAY), seq % 1000 FROM seq_0_to_${M - 1}`,
      );
    }
    await pg.exec('CREATE TABLE dst (mrn text, family text, birth_date date, amount int)');
    await pg.exec(
      `INSERT INTO dst SELECT 'P' || g, 'Family ' || (g % 977), DATE '1950-01-01' + (g % 20000), g % 1000 FROM generate_series(0, ${M - 1}) g`,
    );
    for (const [db, concat] of [
      [maria, "concat(family, 'y')"],
      [pg, "family || 'y'"],
    ] as const) {
      await db.exec(`UPDATE dst SET family = ${concat} WHERE mrn IN ('P5', 'P17000')`);
      await db.exec("DELETE FROM dst WHERE mrn = 'P9000'");
    }
  }, 60_000);
  afterAll(async () => {
    await maria?.drop();
    await pg?.drop();
  });

  it('bisects with MariaDB checksums', async () => {
    const { differing, stats } = await diff('src', 'dst', maria.url);
    expect(differing).toEqual(['P17000', 'P5', 'P9000']);
    // Range bounds come from a random sample of keys, so what is fetched varies from run to
    // run (up to about 6 % of the rows seen); a tenth of one table is still a small part of both.
    expect(stats.rowsFetched.source + stats.rowsFetched.target).toBeLessThan(0.1 * M);
  }, 60_000);

  it('compares a MariaDB source with a PostgreSQL target (same column text on both)', async () => {
    const { differing, stats } = await diff('src', 'dst', maria.url, pg.url);
    expect(differing).toEqual(['P17000', 'P5', 'P9000']);
    expect(stats.rowsFetched.source + stats.rowsFetched.target).toBeLessThan(0.1 * M);
  }, 60_000);
});

describe('sqlChecksumDiff with a SQLite side', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'recon-sum-'));
    for (const [name, change] of [
      ['a.db', false],
      ['b.db', true],
    ] as const) {
      const db = new Database(join(dir, name));
      db.exec('CREATE TABLE t (mrn TEXT, family TEXT, birth_date TEXT, amount INTEGER)');
      const insert = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?)');
      db.transaction(() => {
        for (let i = 0; i < 3000; i++)
          insert.run(`P${i}`, change && i === 1234 ? 'Changed' : `F${i}`, '2000-01-01', i);
      })();
      db.close();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every row, range by range, without checksums', async () => {
    const { chunks, differing, stats } = await diff(
      't',
      't',
      `sqlite:${join(dir, 'a.db')}`,
      `sqlite:${join(dir, 'b.db')}`,
      {
        streamRangeRows: 1000,
      },
    );
    expect(stats.checksums).toBe(false);
    expect(differing).toEqual(['P1234']);
    expect(stats.rowsFetched).toEqual({ source: 3000, target: 3000 });
    expect(Math.max(...chunks.map((c) => c.source.length))).toBeLessThanOrEqual(1000);
  });
});
