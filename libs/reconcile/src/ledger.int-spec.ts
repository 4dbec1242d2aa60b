import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestSchema } from '@sinew/test-support/postgres';
import { openStore, type NewMessage, type Store } from '@sinew/store';
import { ledgerCount, ledgerLookup, ledgerRecords } from './ledger';

describe('the ledger side of a reconciliation (SQLite ledger)', () => {
  let dir: string;
  let store: Store;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-recon-ledger-'));
    store = await openStore({ dataDir: dir });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function message(channelId: string, mrn: string, at: string, type = 'ADT^A04'): NewMessage {
    return {
      id: randomUUID(),
      channelId,
      receivedAt: new Date(at),
      source: 'mllp',
      sender: 'PMS|CLINIC',
      messageType: type,
      controlId: `C${randomUUID().slice(0, 8)}`,
      contentType: 'hl7v2',
      raw: Buffer.from('MSH|^~\\&|PMS|CLINIC\r'),
      keys: { mrn },
    };
  }

  it('explains each key with its messages, newest first, their outcome and their deliveries', async () => {
    const first = message('adt', 'MRN-1', '2026-12-06T09:00:00Z');
    const second = message('adt', 'MRN-1', '2026-12-06T10:00:00Z', 'ADT^A08');
    const rejected = message('adt', 'MRN-2', '2026-12-06T11:00:00Z');
    const other = message('lab', 'MRN-1', '2026-12-06T12:00:00Z', 'ORU^R01');
    await store.insertMessages([first, second, rejected, other]);
    const delivery = { destination: 'ehr', payload: Buffer.from('{}'), payloadType: 'fhir' as const };
    await store.completePipeline(first.id, { status: 'processed', issues: [], deliveries: [delivery] });
    await store.completePipeline(second.id, { status: 'processed', issues: [], deliveries: [delivery] });
    await store.completePipeline(rejected.id, {
      status: 'rejected',
      issues: [
        { severity: 'error', code: 'adt.family_name', location: 'PID-5.1', message: 'no family name' },
      ],
      deliveries: [],
    });
    const at = new Date('2026-12-06T10:00:01Z');
    await store.recordAttempt(
      `${first.id}.ehr`,
      { number: 1, startedAt: at, finishedAt: at, outcome: 'sent', code: 'HTTP 200' },
      { status: 'sent' },
    );
    await store.recordAttempt(
      `${second.id}.ehr`,
      { number: 1, startedAt: at, finishedAt: at, outcome: 'failed', code: 'HTTP 422', error: 'invalid' },
      { status: 'dead_lettered' },
    );

    const evidence = await ledgerLookup(store, { channels: ['adt'], key: 'mrn' }).evidence([
      'MRN-1',
      'MRN-2',
      'MRN-3',
    ]);
    expect(
      evidence.get('MRN-1')?.messages.map((m) => [m.id, m.status, m.deliveries.map((d) => d.status)]),
    ).toEqual([
      [second.id, 'failed', ['dead_lettered']],
      [first.id, 'delivered', ['sent']],
    ]);
    expect(evidence.get('MRN-1')?.messages[0]?.deliveries[0]).toMatchObject({
      destination: 'ehr',
      lastResponse: 'HTTP 422: invalid',
    });
    expect(evidence.get('MRN-2')?.messages).toEqual([
      expect.objectContaining({ id: rejected.id, status: 'rejected', reason: 'adt.family_name at PID-5.1' }),
    ]);
    expect(evidence.get('MRN-3')?.messages).toEqual([]);

    const both = await ledgerLookup(store, { channels: ['adt', 'lab'], key: 'mrn' }).evidence(['MRN-1']);
    expect(both.get('MRN-1')?.messages.map((m) => m.id)).toEqual([other.id, second.id, first.id]);
  });

  it('counts the distinct identity values received in a period, on the named channels only', async () => {
    const period = {
      from: new Date('2026-12-06T00:00:00Z'),
      to: new Date('2026-12-07T00:00:00Z'),
      label: 'day',
    };
    const keys: string[] = [];
    for await (const r of ledgerRecords(store, { channels: ['adt'], key: 'mrn' }, period)) keys.push(r.key);
    expect(keys.sort()).toEqual(['MRN-1', 'MRN-2']);
    expect(await ledgerCount(store, { channels: ['adt', 'lab'], key: 'mrn' }, period)).toBe(2);
    const before = { to: new Date('2026-12-06T10:30:00Z'), label: 'early' };
    expect(await ledgerCount(store, { channels: ['adt'], key: 'mrn' }, before)).toBe(1);
    expect(await ledgerCount(store, { channels: ['adt'], key: 'visit' }, period)).toBe(0);
  });
});

describe.each([
  ['SQLite', 'sqlite'],
  ['PostgreSQL', 'postgres'],
] as const)('the ledger count in one query (%s ledger)', (_name, kind) => {
  let dir: string;
  let store: Store;
  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-recon-ledger-count-'));
    if (kind === 'postgres') {
      const { url, schema, drop } = await withTestSchema();
      dropSchema = drop;
      store = await openStore({ databaseUrl: url, schema });
    } else store = await openStore({ dataDir: dir });
    const at = (channelId: string, mrn: string, when: string): NewMessage => ({
      id: randomUUID(),
      channelId,
      receivedAt: new Date(when),
      source: 'mllp',
      sender: 'PMS|CLINIC',
      messageType: 'ADT^A04',
      controlId: `C${randomUUID().slice(0, 8)}`,
      contentType: 'hl7v2',
      raw: Buffer.from('MSH|^~\\&|PMS|CLINIC\r'),
      keys: { mrn },
    });
    await store.insertMessages([
      at('adt', ' mrn-1', '2026-12-06T08:00:00Z'),
      at('adt', 'MRN-1 ', '2026-12-06T09:00:00Z'),
      at('adt', 'MRN-2', '2026-12-06T10:00:00Z'),
      at('adt', '\tmrn-2\n', '2026-12-06T11:00:00Z'),
      at('adt', '   ', '2026-12-06T11:30:00Z'),
      at('adt', 'MRN-3', '2026-12-07T00:00:00Z'),
      at('lab', 'MRN-4', '2026-12-06T12:00:00Z'),
    ]);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await dropSchema?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const day = { from: new Date('2026-12-06T00:00:00Z'), to: new Date('2026-12-07T00:00:00Z'), label: 'day' };

  it('counts distinct normalised keys without paging through the messages, as paging does', async () => {
    let pages = 0;
    const counted = {
      searchMessages: (...a: Parameters<Store['searchMessages']>) => {
        pages++;
        return store.searchMessages(...a);
      },
      getDeliveries: (id: string) => store.getDeliveries(id),
      getAttempts: (id: string) => store.getAttempts(id),
    };
    const withSql = { ...counted, reconcile: store.reconcile };
    const upper = (k: string) => k.trim().toUpperCase();
    const scope = { channels: ['adt'], key: 'mrn' };

    expect(await ledgerCount(withSql, scope, day, upper, ['trim', 'upper'])).toBe(2);
    expect(await ledgerCount(withSql, scope, day, (k) => k.trim(), ['trim'])).toBe(4);
    expect(await ledgerCount(withSql, scope, day)).toBe(4);
    expect(
      await ledgerCount(withSql, { channels: ['adt', 'lab'], key: 'mrn' }, day, upper, ['upper', 'trim']),
    ).toBe(3);
    expect(await ledgerCount(withSql, scope, { label: 'all' }, upper, ['trim', 'upper'])).toBe(3);
    expect(
      await ledgerCount(withSql, { channels: ['adt'], key: 'visit' }, day, upper, ['trim', 'upper']),
    ).toBe(0);
    expect(pages).toBe(0);

    // The same counts paged through, as a store without the query (or a normaliser SQL lacks) is.
    expect(await ledgerCount(counted, scope, day, upper, ['trim', 'upper'])).toBe(2);
    expect(await ledgerCount(counted, scope, day, (k) => k.trim())).toBe(4);
    expect(pages).toBeGreaterThan(0);
    pages = 0;
    expect(await ledgerCount(withSql, scope, day, (k) => k.replace(/\D+/g, ''), ['digits'])).toBe(2);
    expect(pages).toBeGreaterThan(0);
  });
});
