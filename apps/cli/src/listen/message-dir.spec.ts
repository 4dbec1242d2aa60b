import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageDirectory, fileStamp, safeControlId } from './message-dir';
import { column, hostPort } from './listener';

describe('file names of received messages', () => {
  it('keep letters, digits, dot, underscore and dash of MSH-10; replace the rest', () => {
    expect(safeControlId('MSG-0001.a_b')).toBe('MSG-0001.a_b');
    expect(safeControlId('../../etc/passwd')).toBe('.._.._etc_passwd');
    expect(safeControlId('a b\tc\r\nd')).toBe('a_b_c__d');
    expect(safeControlId('ÄÖ€')).toBe('___');
    expect(safeControlId('')).toBe('no-control-id');
    expect(safeControlId('x'.repeat(200))).toHaveLength(64);
  });

  it('start with the UTC arrival time, which sorts', () => {
    expect(fileStamp(new Date(Date.UTC(2026, 2, 15, 8, 30, 0, 123)))).toBe('20260315T083000.123Z');
  });
});

describe('MessageDirectory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-msgdir-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const at = new Date(Date.UTC(2026, 2, 15, 8, 30, 0, 123));

  it('creates the folder, owner-only, and writes the bytes as received, owner-only', async () => {
    const out = join(dir, 'a', 'b');
    const store = await MessageDirectory.open(out);
    const bytes = Buffer.from('MSH|^~\\&|A|B|C|D|20260315||ADT^A01|X1|P|2.5.1\rPID|1||\xe9\r', 'latin1');
    const name = await store.write(bytes, 'X1', at);
    expect(name).toBe('20260315T083000.123Z_X1.hl7');
    expect(readFileSync(join(out, name))).toEqual(bytes);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    expect(statSync(join(out, name)).mode & 0o777).toBe(0o600);
    expect(readdirSync(out)).toEqual([name]);
  });

  it('never overwrites: the same time and control id get _2, _3, also when written at once', async () => {
    const store = await MessageDirectory.open(dir);
    writeFileSync(join(dir, '20260315T083000.123Z_SAME.hl7'), 'earlier');
    const names = await Promise.all(
      [1, 2, 3].map((i) => store.write(Buffer.from(`message ${i}`), 'SAME', at)),
    );
    expect(names.sort()).toEqual([
      '20260315T083000.123Z_SAME_2.hl7',
      '20260315T083000.123Z_SAME_3.hl7',
      '20260315T083000.123Z_SAME_4.hl7',
    ]);
    expect(readFileSync(join(dir, '20260315T083000.123Z_SAME.hl7'), 'utf8')).toBe('earlier');
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a folder it cannot create', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, '');
    await expect(MessageDirectory.open(join(file, 'sub'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});

describe('output columns', () => {
  it('are printable, tab-free and bounded whatever the sender put in MSH-9/MSH-10', () => {
    expect(column('ADT^A01')).toBe('ADT^A01');
    expect(column('')).toBe('-');
    expect(column(undefined)).toBe('-');
    expect(column('a\tb\nc d')).toBe('a?b?c?d');
    expect(column('x'.repeat(100))).toBe(`${'x'.repeat(63)}…`);
  });

  it('bracket IPv6 addresses', () => {
    expect(hostPort('127.0.0.1', 2575)).toBe('127.0.0.1:2575');
    expect(hostPort('::1', 2575)).toBe('[::1]:2575');
  });
});
