import { validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { FhirResource, HubWriteRouter } from '@sinew/hub';
import { fhirRequest, startFhirApi, type FhirApi } from '@sinew/test-support/fhir-api';
import { loadFhirStructureDefinitions } from '@sinew/validation';

interface RestResource {
  type: string;
  interaction: Array<{ code: string }>;
  searchParam?: Array<{ name: string; type: string }>;
  searchInclude?: string[];
  operation?: Array<{ name: string }>;
}
interface Capability extends FhirResource {
  rest: Array<{
    resource: RestResource[];
    operation: Array<{ name: string }>;
    security: {
      service: Array<{ coding: Array<{ code: string }> }>;
      extension: Array<{ extension: Array<{ url: string; valueUri: string }> }>;
    };
  }>;
}

/** A syntactically valid value for a search parameter of this type. */
const SAMPLE: Record<string, string> = {
  token: 'http://example.org|x',
  string: 'a',
  date: 'ge2020-01-01',
  reference: 'Patient/p1',
  number: '1',
  quantity: '1',
  uri: 'http://example.org',
};

const writes: HubWriteRouter = {
  writableTypes: (env) => (env === 'production' ? ['Patient', 'Appointment'] : ['Appointment']),
  submit: () => Promise.resolve({ refused: 'not in this test', status: 422 }),
  status: () => Promise.resolve(undefined),
};

describe('FHIR R4 API: the CapabilityStatement states what is served', () => {
  let api: FhirApi;
  let token: string;
  let cap: Capability;

  beforeAll(async () => {
    loadFhirStructureDefinitions();
    api = await startFhirApi();
    ({ token } = api.gate.issue({ scopes: 'system/*.rs' }));
    const r = await fhirRequest<Capability>(`${api.base}/metadata`, undefined);
    expect(r.status).toBe(200);
    cap = r.body;
  });
  afterAll(() => api.close());

  it('is a valid FHIR R4 CapabilityStatement', () => {
    expect(() => validateResource({ resourceType: 'Bundle' } as Resource)).toThrow();
    expect(() => validateResource(cap as unknown as Resource)).not.toThrow();
    expect(cap).toMatchObject({
      resourceType: 'CapabilityStatement',
      fhirVersion: '4.0.1',
      kind: 'instance',
      status: 'active',
    });
  });

  it('lists every type the hub serves with read, vread, history and search, and the hub search params', () => {
    const params = api.hub.searchParams();
    const rest = cap.rest[0]!;
    expect(rest.resource.map((r) => r.type).sort()).toEqual(Object.keys(params).sort());
    for (const r of rest.resource) {
      expect(r.interaction.map((i) => i.code)).toEqual(['read', 'vread', 'history-instance', 'search-type']);
      expect(r.searchParam!.map((p) => p.name)).toEqual(params[r.type]!.map((p) => p.name));
    }
    const patient = rest.resource.find((r) => r.type === 'Patient')!;
    expect(patient.operation!.map((o) => o.name)).toEqual(['everything', 'export']);
    // The hub serves no Group type, so the statement lists no Group-level export.
    expect(Object.keys(params)).not.toContain('Group');
    expect(rest.resource.find((r) => r.type === 'Group')).toBeUndefined();
    expect(rest.operation.map((o) => o.name)).toEqual(['export']);
    expect(rest.security.service[0]!.coding[0]!.code).toBe('SMART-on-FHIR');
    expect(rest.security.extension[0]!.extension[0]).toEqual({
      url: 'token',
      valueUri: `${api.origin}/oauth/token`,
    });
  });

  it('every search parameter it lists is accepted, and one it does not list is refused', async () => {
    let checked = 0;
    for (const r of cap.rest[0]!.resource) {
      for (const p of r.searchParam ?? []) {
        // `_id` is a token on Resource.id, which has no system: its value is a plain id.
        const sample = p.name === '_id' ? 'x' : SAMPLE[p.type]!;
        const url = `${api.base}/${r.type}?${p.name}=${encodeURIComponent(sample)}`;
        const answer = await fhirRequest(url, token);
        expect({ url, status: answer.status }).toEqual({ url, status: 200 });
        checked++;
      }
      const listed = new Set((r.searchParam ?? []).map((p) => p.name));
      for (const unlisted of ['performer', 'address-city', 'x-unlisted']) {
        if (listed.has(unlisted)) continue;
        const answer = await fhirRequest(`${api.base}/${r.type}?${unlisted}=a`, token);
        expect({ type: r.type, unlisted, status: answer.status }).toEqual({
          type: r.type,
          unlisted,
          status: 400,
        });
      }
    }
    expect(checked).toBeGreaterThan(30);
    const withSystem = await fhirRequest<{ resourceType: string; issue: Array<{ diagnostics: string }> }>(
      `${api.base}/Patient?_id=${encodeURIComponent('http://example.org|x')}`,
      token,
    );
    expect(withSystem.status).toBe(400);
    expect(withSystem.body.resourceType).toBe('OperationOutcome');
    expect(withSystem.body.issue[0]!.diagnostics).toMatch(/_id/);
  });

  it('every _include it lists is accepted, and one it does not list is refused', async () => {
    let checked = 0;
    for (const r of cap.rest[0]!.resource) {
      for (const inc of r.searchInclude ?? []) {
        expect((await fhirRequest(`${api.base}/${r.type}?_include=${inc}`, token)).status).toBe(200);
        checked++;
      }
      expect((await fhirRequest(`${api.base}/${r.type}?_include=${r.type}:performer`, token)).status).toBe(
        400,
      );
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });

  it('lists no writes without a write router, and create/update only for the types channels take', async () => {
    expect(JSON.stringify(cap)).not.toContain('"create"');
    const withWrites = await startFhirApi({ writes });
    try {
      const r = await fhirRequest<Capability>(`${withWrites.base}/metadata`, undefined);
      const writable = r.body.rest[0]!.resource.filter((x) => x.interaction.some((i) => i.code === 'create'))
        .map((x) => x.type)
        .sort();
      expect(writable).toEqual(['Appointment', 'Patient']);
      for (const x of r.body.rest[0]!.resource.filter((t) => t.type === 'Patient')) {
        expect(x.interaction.map((i) => i.code)).toEqual([
          'read',
          'vread',
          'history-instance',
          'search-type',
          'create',
          'update',
        ]);
      }
    } finally {
      await withWrites.close();
    }
  });

  it('answers OperationOutcomes and Bundles that validate as FHIR R4', async () => {
    const [p] = await api.hub.seed('production', {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:mrn', value: '9' }],
      name: [{ family: 'Valid' }],
    });
    for (const path of [
      `Patient?_id=${p!.id}`,
      `Patient/${p!.id}/_history`,
      `Patient/${p!.id}/$everything`,
      'Patient?family=Nobody',
      'Patient?bogus=1',
      'Patient/none',
    ]) {
      const r = await fhirRequest(`${api.base}/${path}`, token);
      expect(() => validateResource(r.body as unknown as Resource)).not.toThrow();
    }
  });
});
