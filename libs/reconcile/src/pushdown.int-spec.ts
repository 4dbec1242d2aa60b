import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresUrl } from '@sinew/test-support/postgres';
import { openStore, type Store } from '@sinew/store';
import { createPostgresDatabase, type TestDatabase } from './adapters/testing';
import { reconcileParts } from './parts';
import { FolderReconciler, loadReconciliationFolder } from './reconciler';

const N = 20_000;

describe('a run whose two sides are PostgreSQL tables compares range checksums in the databases', () => {
  let dir: string;
  let store: Store;
  let db: TestDatabase;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-recon-pushdown-'));
    store = await openStore({ dataDir: join(dir, 'data') });
    db = await createPostgresDatabase(await postgresUrl());
    for (const table of ['pms', 'ehr']) {
      await db.exec(`CREATE TABLE ${table} (mrn text, family text, status text)`);
      await db.exec(
        `INSERT INTO ${table} SELECT 'P' || lpad(g::text, 6, '0'), 'Family ' || (g % 977), CASE WHEN g % 10 = 0 THEN 'cancelled' ELSE 'booked' END
         FROM generate_series(0, ${N - 1}) g`,
      );
    }
    // Three differences: a field, a row missing in the EHR, a row only in the EHR.
    await db.exec(`UPDATE ehr SET family = 'Other' WHERE mrn = 'P001234'`);
    await db.exec(`DELETE FROM ehr WHERE mrn = 'P015000'`);
    await db.exec(`INSERT INTO ehr VALUES ('P999999', 'Stray', 'booked')`);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds each difference, counts per status in the databases, and matches the rest unread', async () => {
    const recDir = join(dir, 'reconciliations');
    mkdirSync(recDir);
    writeFileSync(
      join(recDir, 'tables.yaml'),
      `id: tables
period: all
systems:
  pms: { type: sql, url: '${db.url}' }
  ehr: { type: sql, url: '${db.url}' }
entities:
  - name: visits
    identity: mrn
    status: true
    pushdown: true
    fields: { family: {} }
    source: { system: pms, query: 'SELECT mrn AS key, family, status FROM pms' }
    target: { system: ehr, query: 'SELECT mrn AS key, family, status FROM ehr' }
`,
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
    const run = await reconciler.run('tables', { trigger: 'cli' });
    expect(run).toMatchObject({ status: 'discrepancies', summary: { discrepancies: 3 } });
    expect(run.summary?.entities[0]).toEqual({
      name: 'visits',
      counts: {
        source: { booked: N - N / 10, cancelled: N / 10 },
        target: { booked: N - N / 10 + 1, cancelled: N / 10 - 1 },
      },
      matched: N - 2,
      byKind: { field_mismatch: 1, missing_in_target: 1, missing_in_source: 1 },
      byClass: { unexplained: 2, target_only: 1 },
      pushdown: { rows: { source: N, target: N }, read: expect.any(Object) },
    });
    const read = run.summary?.entities[0]?.pushdown?.read;
    expect((read?.source ?? N) + (read?.target ?? N)).toBeLessThan(0.05 * N);
    const rows = await store.reconcile.listDiscrepancies(run.id, {});
    expect(rows.map((d) => [d.key, d.kind])).toEqual([
      ['P001234', 'field_mismatch'],
      ['P015000', 'missing_in_target'],
      ['P999999', 'missing_in_source'],
    ]);
  }, 60_000);

  it('streams both sides instead when a code map could make equal raw values differ', async () => {
    const recDir = join(dir, 'mapped');
    mkdirSync(recDir);
    writeFileSync(
      join(recDir, 'mapped.yaml'),
      `id: mapped
period: all
systems:
  pms: { type: sql, url: '${db.url}' }
  ehr: { type: sql, url: '${db.url}' }
entities:
  - name: visits
    identity: mrn
    pushdown: true
    fields: { status: { map: { booked: confirmed } } }
    source: { system: pms, query: 'SELECT mrn AS key, status FROM pms' }
    target: { system: ehr, query: 'SELECT mrn AS key, status FROM ehr' }
`,
    );
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
    const run = await reconciler.run('mapped', { trigger: 'cli' });
    const entity = run.summary?.entities[0];
    expect(entity?.pushdown).toBeUndefined();
    // Every booked row now differs (confirmed against booked): raw-equal rows were compared.
    expect(entity?.byKind.field_mismatch).toBeGreaterThan(N / 2);
  }, 60_000);
});
