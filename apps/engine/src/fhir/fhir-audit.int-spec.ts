import { AuditLog } from '@sinew/auth';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { waitFor } from '@sinew/test-support';
import { fhirRequest, startFhirApi, type FhirApi } from '@sinew/test-support/fhir-api';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('FHIR R4 API: every call in the audit log (SQLite ledger)', () => {
  let dir: string;
  let store: TypeOrmStore;
  let audit: AuditLog;
  let api: FhirApi;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-fhir-audit-'));
    store = await openStore({ dataDir: dir });
    audit = new AuditLog(store);
    api = await startFhirApi({ audit });
  });
  afterAll(async () => {
    await api.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records the app, the route template, the ids returned and parameter names, never values or content', async () => {
    const [p] = await api.hub.seed('production', {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:mrn', value: 'A-77' }],
      name: [{ family: 'Audited' }],
      birthDate: '1977-07-07',
    });
    const app = api.gate.issue({ scopes: 'system/Patient.rs' });
    expect(
      (await fhirRequest(`${api.base}/Patient?family=Audited&birthdate=1977-07-07`, app.token)).status,
    ).toBe(200);
    expect((await fhirRequest(`${api.base}/Patient/${p!.id}`, app.token)).status).toBe(200);
    expect((await fhirRequest(`${api.base}/Observation`, app.token)).status).toBe(403);
    expect((await fhirRequest(`${api.base}/Patient`, undefined)).status).toBe(401);
    const { items } = await waitFor('four audit records', async () => {
      const found = await audit.search({});
      return found.items.length >= 4 && found;
    });
    const mine = items.map((i) => ({
      actor: i.actor,
      action: i.action,
      outcome: i.outcome,
      objectIds: i.objectIds,
      filter: i.filter,
      contentRead: i.contentRead,
    }));
    expect(mine).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actor: app.appId,
          action: 'GET /fhir/R4/{type}',
          outcome: '200',
          objectIds: [`Patient/${p!.id}`],
          filter: { family: '*', birthdate: '*' },
          contentRead: true,
        }),
        expect.objectContaining({
          actor: app.appId,
          action: 'GET /fhir/R4/{type}/{id}',
          outcome: '200',
          objectIds: [`Patient/${p!.id}`],
        }),
        expect.objectContaining({
          actor: app.appId,
          action: 'GET /fhir/R4/{type}',
          outcome: '403',
          contentRead: false,
        }),
        expect.objectContaining({ actor: 'anonymous', action: 'GET /fhir/R4/{type}', outcome: '401' }),
      ]),
    );
    const text = JSON.stringify(items);
    expect(text).not.toContain('Audited');
    expect(text).not.toContain('1977-07-07');
    expect(text).not.toContain('A-77');
  });
});
