import type { FhirResource } from '@sinew/hub';
import { fhirRequest, startFhirApi, type FhirApi } from '@sinew/test-support/fhir-api';

/**
 * Every route × (the scopes it needs, the same scopes without the one it needs): the first is
 * answered 2xx, the second 403 with an OperationOutcome, reported as misuse.
 */
describe('FHIR R4 API: scope × route matrix', () => {
  let api: FhirApi;
  let patientId: string;
  let observationId: string;
  let groupId: string;

  beforeAll(async () => {
    api = await startFhirApi();
    const [p] = await api.hub.seed('production', {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:mrn', value: 'm1' }],
      name: [{ family: 'Matrix' }],
    });
    patientId = p!.id!;
    const [o] = await api.hub.seed('production', {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] },
      subject: { reference: `Patient/${patientId}` },
    });
    observationId = o!.id!;
    const [g] = await api.hub.seed('production', {
      resourceType: 'Group',
      type: 'person',
      actual: true,
      member: [{ entity: { reference: `Patient/${patientId}` } }],
    } as FhirResource);
    groupId = g!.id!;
  });
  afterAll(() => api.close());

  interface Route {
    name: string;
    method?: string;
    path: () => string;
    headers?: Record<string, string>;
    body?: string;
    allowed: string;
    missing: string;
  }
  const async = { prefer: 'respond-async' };
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const routes: Route[] = [
    {
      name: 'read',
      path: () => `Patient/${patientId}`,
      allowed: 'system/Patient.r',
      missing: 'system/Patient.s',
    },
    {
      name: 'vread',
      path: () => `Patient/${patientId}/_history/1`,
      allowed: 'system/Patient.r',
      missing: 'system/Patient.s',
    },
    {
      name: 'history',
      path: () => `Patient/${patientId}/_history`,
      allowed: 'system/Patient.r',
      missing: 'system/Patient.s',
    },
    {
      name: 'search',
      path: () => `Observation?patient=${patientId}`,
      allowed: 'system/Observation.s',
      missing: 'system/Observation.r',
    },
    {
      name: 'POST _search',
      method: 'POST',
      path: () => 'Observation/_search',
      headers: form,
      body: 'code=718-7',
      allowed: 'system/Observation.s',
      missing: 'system/Observation.r system/Patient.s',
    },
    {
      name: 'read (v1 scope)',
      path: () => `Observation/${observationId}`,
      allowed: 'system/Observation.read',
      missing: 'system/Observation.write',
    },
    {
      name: '$everything',
      path: () => `Patient/${patientId}/$everything`,
      allowed: 'system/Patient.rs',
      missing: 'system/Patient.r',
    },
    {
      name: 'system $export',
      path: () => '$export',
      headers: async,
      allowed: 'system/Observation.rs',
      missing: 'system/Observation.r',
    },
    {
      name: 'system $export?_type',
      path: () => '$export?_type=Observation',
      headers: async,
      allowed: 'system/Observation.rs',
      missing: 'system/Patient.rs',
    },
    {
      name: 'Patient $export',
      path: () => 'Patient/$export',
      headers: async,
      allowed: 'system/Patient.rs',
      missing: 'system/Patient.s',
    },
    {
      name: 'Group $export',
      path: () => `Group/${groupId}/$export`,
      headers: async,
      allowed: 'system/Group.r system/Patient.rs',
      missing: 'system/Patient.rs',
    },
  ];

  it.each(routes)('$name: 2xx with $allowed, 403 with $missing', async (route) => {
    const ok = api.gate.issue({ scopes: route.allowed });
    const no = api.gate.issue({ scopes: route.missing });
    const init = {
      method: route.method ?? 'GET',
      headers: route.headers ?? {},
      ...(route.body ? { body: route.body } : {}),
    };
    const allowed = await fhirRequest(`${api.base}/${route.path()}`, ok.token, init);
    expect(allowed.status).toBeGreaterThanOrEqual(200);
    expect(allowed.status).toBeLessThan(300);
    const refused = await fhirRequest<{ resourceType: string; issue: Array<{ code: string }> }>(
      `${api.base}/${route.path()}`,
      no.token,
      init,
    );
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
    expect(api.gate.misuses).toContainEqual(expect.objectContaining({ appId: no.appId, kind: 'forbidden' }));
    expect(api.gate.misuses.some((m) => m.appId === ok.appId)).toBe(false);
  });

  it('covers every route the API serves', () => {
    expect(routes.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'read',
        'vread',
        'history',
        'search',
        'POST _search',
        '$everything',
        'system $export',
        'Patient $export',
        'Group $export',
      ]),
    );
  });
});
