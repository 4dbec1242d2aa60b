import type { FhirResource, HubExportRequest, HubViewer } from '@sinew/hub';
import { makeTestAppGate } from '@sinew/test-support/app-gate-double';
import { makeTestHub, type TestHub } from '@sinew/test-support/fhir-hub-double';
import { fhirRequest, startFhirApi, type FhirApi } from '@sinew/test-support/fhir-api';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: Array<{ type: string; url: string; count: number }>;
  error: unknown[];
}

const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };

describe('FHIR R4 API: Bulk Data $export', () => {
  let api: FhirApi;
  let token: string;
  let appId: string;
  const patients: FhirResource[] = [];
  const observations: FhirResource[] = [];
  let group: FhirResource;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sinew-fhir-export-'));
    api = await startFhirApi({ dataDir });
    for (let i = 0; i < 6; i++) {
      const [p] = await api.hub.seed('production', {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:mrn', value: `E${i}` }],
        name: [{ family: `Export${i}` }],
      });
      patients.push(p!);
      for (let j = 0; j < 3; j++) {
        const [o] = await api.hub.seed('production', {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] },
          subject: { reference: `Patient/${p!.id}` },
        });
        observations.push(o!);
      }
    }
    await api.hub.seed('production', { resourceType: 'Practitioner', name: [{ family: 'Nurse' }] });
    [group] = (await api.hub.seed('production', {
      resourceType: 'Group',
      type: 'person',
      actual: true,
      member: [
        { entity: { reference: `Patient/${patients[0]!.id}` } },
        { entity: { reference: `Patient/${patients[1]!.id}` } },
      ],
    } as FhirResource)) as [FhirResource];
    ({ token, appId } = api.gate.issue({ scopes: 'system/Patient.rs system/Observation.rs system/Group.r' }));
    await api.hub.setExcluded('production', patients[5]!.id!, appId, true);
  });
  afterAll(async () => {
    await api.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function kickOff(path: string, t = token): Promise<string> {
    const r = await fhirRequest(`${api.base}/${path}`, t, { headers: ASYNC });
    expect(r.status).toBe(202);
    const location = r.headers.get('content-location');
    expect(location).toMatch(new RegExp(`^${api.base}/bulk-status/[0-9a-f-]{36}$`));
    return location!;
  }

  async function finished(status: string, t = token): Promise<Manifest> {
    for (let i = 0; i < 750; i++) {
      const r = await fhirRequest<Manifest>(status, t);
      if (r.status === 200) return r.body;
      expect(r.status).toBe(202);
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error('the export did not finish');
  }

  async function download(url: string, t = token): Promise<FhirResource[]> {
    const r = await fetch(url, { headers: { authorization: `Bearer ${t}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/fhir+ndjson');
    const text = await r.text();
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as FhirResource);
  }

  it('system export: 202 + Content-Location, then a manifest whose files hold every allowed resource', async () => {
    const status = await kickOff('$export');
    const manifest = await finished(status);
    expect(manifest).toMatchObject({
      requiresAccessToken: true,
      request: `${api.base}/$export`,
      error: [],
    });
    expect(Date.parse(manifest.transactionTime)).not.toBeNaN();
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([
      ['Patient', 5],
      ['Observation', 15],
    ]);
    const exported = await download(manifest.output.find((o) => o.type === 'Observation')!.url);
    expect(exported.map((o) => o.id).sort()).toEqual(
      observations
        .slice(0, 15)
        .map((o) => o.id)
        .sort(),
    );
    const exportedPatients = await download(manifest.output.find((o) => o.type === 'Patient')!.url);
    expect(JSON.stringify(exportedPatients)).not.toContain(patients[5]!.id!);
  });

  it('keeps the files owner-only, and only the app that asked may read the status or download', async () => {
    const status = await kickOff('$export?_type=Patient');
    const manifest = await finished(status);
    const jobId = status.split('/').pop()!;
    const dir = join(dataDir, 'fhir-export', jobId);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'fhir-export')).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir))
      expect({ f, mode: statSync(join(dir, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });
    const other = api.gate.issue({ scopes: 'system/*.rs' });
    expect((await fhirRequest(status, other.token)).status).toBe(404);
    expect(
      (await fetch(manifest.output[0]!.url, { headers: { authorization: `Bearer ${other.token}` } })).status,
    ).toBe(404);
    expect((await fetch(manifest.output[0]!.url)).status).toBe(401);
    expect(
      (
        await fetch(`${api.base}/bulk-files/${jobId}/..%2Fjob.json`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).status,
    ).toBe(404);
  });

  it('_type and _since narrow the export', async () => {
    const since = patients[3]!.meta!.lastUpdated!;
    const manifest = await finished(
      await kickOff(`$export?_type=Patient&_since=${encodeURIComponent(since)}`),
    );
    expect(manifest.output.map((o) => o.type)).toEqual(['Patient']);
    const got = await download(manifest.output[0]!.url);
    expect(got.map((p) => p.id)).toEqual([patients[3]!.id, patients[4]!.id]);
  });

  it('Patient-level export holds the visible patients and their resources; Group-level only its members', async () => {
    const all = await finished(await kickOff('Patient/$export?_type=Observation'));
    expect(all.output).toEqual([expect.objectContaining({ type: 'Observation', count: 15 })]);
    const members = await finished(await kickOff(`Group/${group.id}/$export`));
    expect(members.output.map((o) => [o.type, o.count])).toEqual([
      ['Patient', 2],
      ['Observation', 6],
    ]);
    const ids = (await download(members.output[0]!.url)).map((p) => p.id).sort();
    expect(ids).toEqual([patients[0]!.id, patients[1]!.id].sort());
    expect(
      (await fhirRequest(`${api.base}/Group/no-such-group/$export`, token, { headers: ASYNC })).status,
    ).toBe(404);
  });

  it('refuses what it cannot do: no Prefer, another output format, a bad _since, an unknown or forbidden _type', async () => {
    const cases: Array<[string, Record<string, string>, number]> = [
      ['$export', { accept: 'application/fhir+json' }, 400],
      ['$export?_outputFormat=text/csv', ASYNC, 400],
      ['$export?_since=yesterday', ASYNC, 400],
      ['$export?_type=Spaceship', ASYNC, 400],
      ['$export?_type=Practitioner', ASYNC, 403],
      ['$export?_typeFilter=Patient%3Factive%3Dtrue', ASYNC, 400],
    ];
    for (const [path, headers, status] of cases) {
      const r = await fhirRequest<{ resourceType: string }>(`${api.base}/${path}`, token, { headers });
      expect({ path, status: r.status, type: r.body.resourceType }).toEqual({
        path,
        status,
        type: 'OperationOutcome',
      });
    }
    const ok = await fhirRequest(`${api.base}/$export?_outputFormat=application%2Ffhir%2Bndjson`, token, {
      headers: ASYNC,
    });
    expect(ok.status).toBe(202);
  });

  it('DELETE on the status URL cancels the export and removes its files', async () => {
    const status = await kickOff('$export');
    await finished(status);
    const dir = join(dataDir, 'fhir-export', status.split('/').pop()!);
    expect(existsSync(dir)).toBe(true);
    const other = api.gate.issue({ scopes: 'system/*.rs' });
    expect((await fhirRequest(status, other.token, { method: 'DELETE' })).status).toBe(404);
    expect((await fhirRequest(status, token, { method: 'DELETE' })).status).toBe(202);
    expect(existsSync(dir)).toBe(false);
    expect((await fhirRequest(status, token)).status).toBe(404);
  });

  it('a finished export survives a restart; one interrupted by it reports a failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-fhir-restart-'));
    const hub = await makeTestHub();
    const gate = await makeTestAppGate();
    await hub.seed('production', { resourceType: 'Patient', name: [{ family: 'Restart' }] });
    const app = gate.issue({ scopes: 'system/Patient.rs' });
    let first: FhirApi | undefined = await startFhirApi({ dataDir: dir, hub, gate });
    try {
      const k = await fhirRequest(`${first.base}/$export`, app.token, { headers: ASYNC });
      const jobPath = new URL(k.headers.get('content-location')!).pathname;
      let manifest: Manifest | undefined;
      for (let i = 0; i < 750 && !manifest; i++) {
        const r = await fhirRequest<Manifest>(`${first.origin}${jobPath}`, app.token);
        if (r.status === 200) manifest = r.body;
        else {
          expect({ status: r.status, errors: first.errors }).toEqual({ status: 202, errors: [] });
          await new Promise((res) => setTimeout(res, 20));
        }
      }
      expect(manifest).toBeDefined();
      await first.close();
      first = undefined;
      // An export the stopped process was still writing: its job file still says `running`.
      const cut = '00000000-0000-4000-8000-000000000001';
      mkdirSync(join(dir, 'fhir-export', cut), { mode: 0o700 });
      writeFileSync(
        join(dir, 'fhir-export', cut, 'job.json'),
        JSON.stringify({
          ...JSON.parse(
            readFileSync(join(dir, 'fhir-export', jobPath.split('/').pop()!, 'job.json'), 'utf8'),
          ),
          id: cut,
          state: 'running',
          output: [],
        }),
      );
      const second = await startFhirApi({ dataDir: dir, hub, gate });
      try {
        const again = await fhirRequest<Manifest>(`${second.origin}${jobPath}`, app.token);
        expect(again.status).toBe(200);
        expect(again.body.transactionTime).toBe(manifest!.transactionTime);
        expect(again.body.output[0]!.url.startsWith(second.base)).toBe(true);
        const interrupted = await fhirRequest<{ issue: Array<{ diagnostics: string }> }>(
          `${second.base}/bulk-status/${'00000000-0000-4000-8000-000000000001'}`,
          app.token,
        );
        expect(interrupted.status).toBe(500);
        expect(interrupted.body.issue[0]!.diagnostics).toMatch(/interrupted/);
        expect(
          (await download(again.body.output[0]!.url, app.token)).map(
            (p) => (p.name as Array<{ family: string }>)[0]!.family,
          ),
        ).toEqual(['Restart']);
      } finally {
        await second.close();
      }
    } finally {
      await first?.close();
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('while running: 202 with X-Progress; DELETE then cancels it and nothing is left behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-fhir-slow-'));
    const hub = await makeTestHub();
    await hub.seed('production', { resourceType: 'Patient', name: [{ family: 'Slow' }] });
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    const slow: TestHub = Object.assign(Object.create(hub) as TestHub, {
      async *exportResources(viewer: HubViewer, request: HubExportRequest): AsyncIterable<FhirResource> {
        await released;
        yield* hub.exportResources(viewer, request);
      },
    });
    const slowApi = await startFhirApi({ dataDir: dir, hub: slow });
    try {
      const app = slowApi.gate.issue({ scopes: 'system/Patient.rs' });
      const k = await fhirRequest(`${slowApi.base}/$export`, app.token, { headers: ASYNC });
      const status = k.headers.get('content-location')!;
      const running = await fhirRequest(status, app.token);
      expect(running.status).toBe(202);
      expect(running.headers.get('x-progress')).toBe('0 resources written');
      expect((await fhirRequest(status, app.token, { method: 'DELETE' })).status).toBe(202);
      release();
      // The cancelled run ends without writing anything back.
      await new Promise((r) => setTimeout(r, 100));
      expect(readdirSync(join(dir, 'fhir-export'))).toEqual([]);
      expect((await fhirRequest(status, app.token)).status).toBe(404);
    } finally {
      release();
      await slowApi.close();
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
