import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReadContext, SideRecord } from '../types';
import { csvAdapter, periodLastDay } from './csv';
import { ReconcileReadError } from './errors';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'recon-csv-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const yesterday = {
  from: new Date('2026-12-06T05:00:00Z'),
  to: new Date('2026-12-07T05:00:00Z'),
  label: 'yesterday',
};

function context(overrides: Partial<ReadContext> = {}): ReadContext {
  return {
    entity: 'patients',
    side: 'source',
    period: yesterday,
    fields: ['family', 'birth_date'],
    withStatus: false,
    signal: new AbortController().signal,
    baseDir: dir,
    ...overrides,
  };
}

function reader(side: Record<string, unknown> = {}, timezone = 'America/New_York') {
  return csvAdapter.create(
    csvAdapter.system.parse({ type: 'csv', dir: 'exports' }),
    csvAdapter.side.parse({
      file: 'patients-{date}.csv',
      key: 'MRN',
      fields: { family: 'Last Name', birth_date: 'DOB' },
      status: 'Status',
      updated_at: 'Updated',
      ...side,
    }),
    { systemName: 'pms_export', timezone },
  );
}

async function collect(iterable: AsyncIterable<SideRecord>): Promise<SideRecord[]> {
  const out: SideRecord[] = [];
  for await (const record of iterable) out.push(record);
  return out;
}

function write(name: string, text: string): string {
  mkdirSync(join(dir, 'exports'), { recursive: true });
  const path = join(dir, 'exports', name);
  writeFileSync(path, text);
  return path;
}

describe('csv adapter', () => {
  it('names the file after the period’s last day in the reconciliation’s time zone', () => {
    expect(periodLastDay(yesterday, 'America/New_York')).toBe('2026-12-06');
    expect(periodLastDay(yesterday, 'UTC')).toBe('2026-12-07');
    expect(periodLastDay({ label: 'all' }, 'UTC', new Date('2026-12-07T10:00:00Z'))).toBe('2026-12-07');
  });

  it('reads RFC 4180 rows with a BOM, quotes, embedded commas, quotes and line breaks', async () => {
    const path = write(
      'patients-2026-12-06.csv',
      '\uFEFFMRN,Last Name,DOB,Status,Updated\r\n' +
        'A1,"O""Brien",02/03/1980,active,2026-12-06T10:00:00Z\r\n' +
        'A2,"Smith, Jr",,inactive,\r\n' +
        'A3,"Two\r\nLines",12/31/1999,active,2026-12-06T11:00:00Z\r\n',
    );
    const records = await collect(reader().read(context({ withStatus: true })));
    expect(records).toEqual([
      {
        key: 'A1',
        fields: { family: 'O"Brien', birth_date: '02/03/1980' },
        status: 'active',
        updatedAt: '2026-12-06T10:00:00Z',
        ref: `${path}:2`,
      },
      {
        key: 'A2',
        fields: { family: 'Smith, Jr', birth_date: '' },
        status: 'inactive',
        updatedAt: null,
        ref: `${path}:3`,
      },
      {
        key: 'A3',
        fields: { family: 'Two\r\nLines', birth_date: '12/31/1999' },
        status: 'active',
        updatedAt: '2026-12-06T11:00:00Z',
        ref: `${path}:4`,
      },
    ]);
  });

  it('reads another delimiter', async () => {
    write('semi.csv', 'MRN;Last Name;DOB;Status;Updated\nB1;Doe;1980-01-01;active;\n');
    const records = await collect(reader({ file: 'semi.csv', delimiter: ';' }).read(context()));
    expect(records.map((r) => [r.key, r.fields.family])).toEqual([['B1', 'Doe']]);
  });

  it('names the path of a missing file', async () => {
    const error = await collect(reader({ file: 'nothing-{date}.csv' }).read(context())).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ReconcileReadError);
    expect((error as Error).message).toBe(
      `system pms_export: ${join(dir, 'exports', 'nothing-2026-12-06.csv')}: no such file (ENOENT)`,
    );
  });

  it('names the line of a row with a missing column, without its values', async () => {
    const path = write(
      'short.csv',
      'MRN,Last Name,DOB,Status,Updated\nC1,Doe,1980-01-01,active,\nC2,Secretname,1980-01-01\n',
    );
    const error = await collect(reader({ file: 'short.csv' }).read(context())).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `system pms_export: ${path} line 3: 3 columns where the header has 5`,
    );
    expect((error as Error).message).not.toContain('Secretname');
  });

  it('names a header column the settings ask for and the file lacks', async () => {
    const path = write('nodob.csv', 'MRN,Last Name\nD1,Doe\n');
    const error = await collect(reader({ file: 'nodob.csv' }).read(context())).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `system pms_export: ${path}: no column "DOB" (field birth_date) in the header row`,
    );
  });

  it('names the line of broken quoting', async () => {
    const path = write('quote.csv', 'MRN,Last Name,DOB,Status,Updated\nE1,"Doe,1980-01-01,active,\n');
    const error = await collect(reader({ file: 'quote.csv' }).read(context())).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      new RegExp(`^system pms_export: ${path} line \\d+: not valid CSV \\(CSV_\\w+\\)$`),
    );
  });

  it('refuses an empty file', async () => {
    write('empty.csv', '');
    const error = await collect(reader({ file: 'empty.csv' }).read(context())).catch((e: unknown) => e);
    expect((error as Error).message).toContain('empty file, a header row is required');
  });
});
