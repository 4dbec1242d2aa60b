import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '@sinew/store';
import { reconcileParts } from './parts';
import { FolderReconciler, loadReconciliationFolder } from './reconciler';

const FILE = `id: exports
timezone: UTC
period: all
systems:
  pms: { type: csv, dir: pms }
  ehr: { type: csv, dir: ehr }
entities:
  - name: patients
    identity: mrn
    identity_normalise: [trim, upper]
    ledger: { channels: [adt], key: mrn }
    fields: { family: { normalise: [upper] } }
    source: { system: pms, file: patients.csv, key: MRN, fields: { family: Family }, updated_at: Updated }
    target: { system: ehr, file: patients.csv, key: MRN, fields: { family: Family } }
`;

describe('a run explains each difference with the ledger (SQLite ledger, CSV sides)', () => {
  let dir: string;
  let store: Store;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-recon-runner-'));
    store = await openStore({ dataDir: join(dir, 'data') });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the messages of a key the source writes in another case than the comparison', async () => {
    const recDir = join(dir, 'reconciliations');
    mkdirSync(join(recDir, 'pms'), { recursive: true });
    mkdirSync(join(recDir, 'ehr'), { recursive: true });
    writeFileSync(join(recDir, 'exports.yaml'), FILE);
    // The PMS writes its MRNs in lower case; the messages it sent carry them so.
    writeFileSync(
      join(recDir, 'pms', 'patients.csv'),
      'MRN,Family,Updated\r\nab-1,Lowe,2026-12-01T09:00:00Z\r\nab-2,Never,2026-12-01T09:00:00Z\r\n',
    );
    writeFileSync(join(recDir, 'ehr', 'patients.csv'), 'MRN,Family\r\n');
    const message = {
      id: randomUUID(),
      channelId: 'adt',
      receivedAt: new Date('2026-12-01T10:00:00Z'),
      source: 'mllp',
      sender: 'PMS|CLINIC',
      messageType: 'ADT^A04',
      controlId: 'C1',
      contentType: 'hl7v2' as const,
      raw: Buffer.from('MSH|^~\\&|PMS|CLINIC\r'),
      keys: { mrn: 'ab-1' },
    };
    await store.insertMessages([message]);
    await store.completePipeline(message.id, {
      status: 'processed',
      issues: [],
      deliveries: [{ destination: 'ehr', payload: Buffer.from('{}'), payloadType: 'fhir' }],
    });
    const at = new Date('2026-12-01T10:00:01Z');
    await store.recordAttempt(
      `${message.id}.ehr`,
      { number: 1, startedAt: at, finishedAt: at, outcome: 'sent', code: 'HTTP 200' },
      { status: 'sent' },
    );

    const parts = reconcileParts({ ledger: store });
    const { reconciliations, problems } = loadReconciliationFolder(
      recDir,
      { values: {}, strict: true },
      parts.sideSchemas,
    );
    expect(problems).toEqual([]);
    const reconciler = new FolderReconciler({
      reconciliations,
      store: store.reconcile,
      ledger: store,
      parts,
    });
    const run = await reconciler.run('exports', { trigger: 'cli' });
    expect(run.status).toBe('discrepancies');
    const found = await store.reconcile.listDiscrepancies(run.id, { limit: 10 });
    expect(found.map((d) => [d.key, d.class, d.messageIds])).toEqual([
      ['AB-1', 'delivered_not_applied', [message.id]],
      ['AB-2', 'never_received', []],
    ]);
  });

  it('reads a nested file’s relative paths from that file’s folder, as lint does', async () => {
    const recDir = join(dir, 'nested');
    const site = join(recDir, 'site-a');
    mkdirSync(join(site, 'pms'), { recursive: true });
    mkdirSync(join(site, 'ehr'), { recursive: true });
    writeFileSync(join(site, 'exports.yaml'), FILE);
    writeFileSync(
      join(site, 'pms', 'patients.csv'),
      'MRN,Family,Updated\r\nX-1,Same,2026-12-01T09:00:00Z\r\n',
    );
    writeFileSync(join(site, 'ehr', 'patients.csv'), 'MRN,Family\r\nX-1,same\r\n');
    const parts = reconcileParts({ ledger: store });
    const { reconciliations, problems } = loadReconciliationFolder(
      recDir,
      { values: {}, strict: true },
      parts.sideSchemas,
    );
    expect(problems).toEqual([]);
    expect(reconciliations.map((r) => r.baseDir)).toEqual([site]);
    const reconciler = new FolderReconciler({
      reconciliations,
      store: store.reconcile,
      ledger: store,
      parts,
    });
    const run = await reconciler.run('exports', { trigger: 'cli' });
    expect(run).toMatchObject({ status: 'clean' });
  });

  it('counts per status in the target’s codes when the compared status field maps them', async () => {
    const recDir = join(dir, 'statuses');
    mkdirSync(join(recDir, 'pms'), { recursive: true });
    mkdirSync(join(recDir, 'ehr'), { recursive: true });
    writeFileSync(
      join(recDir, 'charges.yaml'),
      `id: charges
period: all
systems:
  pms: { type: csv, dir: pms }
  ehr: { type: csv, dir: ehr }
entities:
  - name: charges
    identity: number
    status: true
    fields: { status: { map: { billed: billable, cancelled: aborted } } }
    source: { system: pms, file: c.csv, key: N, fields: { status: S }, status: S }
    target: { system: ehr, file: c.csv, key: N, fields: { status: S }, status: S }
`,
    );
    writeFileSync(join(recDir, 'pms', 'c.csv'), 'N,S\r\n1,billed\r\n2,billed\r\n3,cancelled\r\n');
    writeFileSync(join(recDir, 'ehr', 'c.csv'), 'N,S\r\n1,billable\r\n2,billable\r\n3,billable\r\n');
    const parts = reconcileParts({ ledger: store });
    const { reconciliations } = loadReconciliationFolder(
      recDir,
      { values: {}, strict: true },
      parts.sideSchemas,
    );
    const reconciler = new FolderReconciler({
      reconciliations,
      store: store.reconcile,
      ledger: store,
      parts,
    });
    const run = await reconciler.run('charges', { trigger: 'cli' });
    expect(run.summary?.entities[0]).toMatchObject({
      counts: { source: { billable: 2, aborted: 1 }, target: { billable: 3 } },
      matched: 2,
      byKind: { field_mismatch: 1 },
    });
  });
});
