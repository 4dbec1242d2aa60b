import type { Bundle, BundleEntry, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { startEhr, type EhrStandin } from './ehr';

const MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.3.72.5.9.1';
const PATIENT_URN = 'urn:uuid:0b8c2e57-5d3a-4a67-9d0e-6a1b2f9b5c01';
const FHIR_JSON = 'application/fhir+json';

function patientEntry(mrn: string, family = 'Sample'): BundleEntry {
  return {
    fullUrl: PATIENT_URN,
    resource: {
      resourceType: 'Patient',
      identifier: [{ system: MRN_SYSTEM, value: mrn }],
      name: [{ family, given: ['Test'] }],
    },
    request: { method: 'PUT', url: `Patient?identifier=${MRN_SYSTEM}|${mrn}` },
  };
}

function observationEntry(n: number): BundleEntry {
  return {
    fullUrl: `urn:uuid:5f0e8a2c-1111-4d6e-8a5b-${String(n).padStart(12, '0')}`,
    resource: {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }], text: `glucose ${n}` },
      subject: { reference: PATIENT_URN },
      valueQuantity: { value: 90 + n, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    },
    request: { method: 'POST', url: 'Observation' },
  };
}

function transaction(...entry: BundleEntry[]): Bundle {
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

async function send(
  ehr: EhrStandin,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: unknown }> {
  const res = await fetch(`${ehr.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': FHIR_JSON, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

function issueText(json: unknown): string {
  const outcome = json as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  return (outcome.issue ?? []).map((i) => i.details?.text ?? i.diagnostics ?? i.code).join('; ');
}

describe('EHR stand-in (FHIR R4 over HTTP)', () => {
  let ehr: EhrStandin;

  beforeAll(async () => {
    ehr = await startEhr();
  });
  afterAll(async () => {
    await ehr.stop();
  });
  beforeEach(() => ehr.reset());

  it('listens on a free loopback port under /fhir', () => {
    expect(ehr.url).toBe(`http://127.0.0.1:${ehr.port}/fhir`);
    expect(ehr.port).toBeGreaterThan(0);
  });

  describe('transaction with a conditional Patient PUT and an Observation referencing it by urn:uuid', () => {
    it('creates both, rewrites the reference, and a resent bundle updates the same Patient', async () => {
      const bundle = transaction(patientEntry('MRN-1001'), observationEntry(1));

      const first = await send(ehr, 'POST', '', bundle);
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
      const response = first.json as Bundle;
      expect(response.type).toBe('transaction-response');
      expect(response.entry?.map((e) => e.response?.status)).toEqual(['201', '201']);
      const patientLocation = response.entry?.[0]?.response?.location;
      expect(patientLocation).toMatch(/^Patient\/[\w-]+$/);
      expect(response.entry?.[0]?.response?.etag).toMatch(/^W\/".+"$/);

      const found = await send(
        ehr,
        'GET',
        `/Patient?identifier=${encodeURIComponent(`${MRN_SYSTEM}|MRN-1001`)}`,
      );
      expect(found.status).toBe(200);
      const searchset = found.json as Bundle<Patient>;
      expect(searchset.type).toBe('searchset');
      expect(searchset.total).toBe(1);
      const patient = searchset.entry?.[0]?.resource as Patient;
      expect(`Patient/${patient.id}`).toBe(patientLocation);
      expect(searchset.entry?.[0]?.fullUrl).toBe(`${ehr.url}/Patient/${patient.id}`);

      const observations = ehr.repo.all<Observation>('Observation');
      expect(observations).toHaveLength(1);
      expect(observations[0]?.subject?.reference).toBe(patientLocation);

      const again = await send(
        ehr,
        'POST',
        '',
        transaction(patientEntry('MRN-1001', 'Renamed'), observationEntry(1)),
      );
      expect(again.status).toBe(200);
      const second = again.json as Bundle;
      expect(second.entry?.map((e) => e.response?.status)).toEqual(['200', '201']);
      expect(second.entry?.[0]?.response?.location).toBe(patientLocation);

      const patients = ehr.repo.all<Patient>('Patient');
      expect(patients).toHaveLength(1);
      expect(patients[0]?.name?.[0]?.family).toBe('Renamed');
      const history = await send(ehr, 'GET', `/${patientLocation}/_history`);
      expect((history.json as Bundle).entry).toHaveLength(2);
      expect(ehr.repo.all<Observation>('Observation').map((o) => o.subject?.reference)).toEqual([
        patientLocation,
        patientLocation,
      ]);
    });

    it('accepts the same shape with more entries than the router allows for a conditional transaction', async () => {
      const observations = Array.from({ length: 12 }, (_, i) => observationEntry(i));
      const practitionerUrn = 'urn:uuid:9a3c55e1-2b7f-4c0e-9d61-3f2e8c4b7a10';
      const practitioner: BundleEntry = {
        fullUrl: practitionerUrn,
        resource: { resourceType: 'Practitioner', identifier: [{ system: 'urn:npi', value: '1234567893' }] },
        request: { method: 'POST', url: 'Practitioner', ifNoneExist: 'identifier=urn:npi|1234567893' },
      };
      for (const o of observations) (o.resource as Observation).performer = [{ reference: practitionerUrn }];
      const bundle = transaction(patientEntry('MRN-2002'), practitioner, ...observations);

      const first = await send(ehr, 'POST', '', bundle);
      expect(first.status).toBe(200);
      expect((first.json as Bundle).entry?.map((e) => e.response?.status)).toEqual(Array(14).fill('201'));

      const again = await send(ehr, 'POST', '', bundle);
      expect(again.status).toBe(200);
      const entries = (again.json as Bundle).entry ?? [];
      expect(entries).toHaveLength(14);
      expect(entries.slice(0, 2).map((e) => e.response?.status)).toEqual(['200', '200']);
      expect(entries.slice(2).every((e) => e.response?.status === '201')).toBe(true);

      expect(ehr.repo.count('Patient')).toBe(1);
      expect(ehr.repo.count('Practitioner')).toBe(1);
      expect(ehr.repo.count('Observation')).toBe(24);
      const [patient] = ehr.repo.all<Patient>('Patient');
      const [doctor] = ehr.repo.all('Practitioner');
      for (const o of ehr.repo.all<Observation>('Observation')) {
        expect(o.subject?.reference).toBe(`Patient/${patient?.id}`);
        expect(o.performer?.[0]?.reference).toBe(`Practitioner/${doctor?.id}`);
      }
    });

    it('answers a large transaction whose conditional creates all match without writing anything', async () => {
      const orgs = transaction(
        ...Array.from({ length: 9 }, (_, i) => ({
          resource: {
            resourceType: 'Organization' as const,
            identifier: [{ system: 'urn:lab', value: `L${i}` }],
          },
          request: { method: 'POST' as const, url: 'Organization', ifNoneExist: `identifier=urn:lab|L${i}` },
        })),
      );
      expect((await send(ehr, 'POST', '', orgs)).status).toBe(200);
      const again = await send(ehr, 'POST', '', orgs);
      expect(again.status).toBe(200);
      const entries = (again.json as Bundle).entry ?? [];
      expect(entries.map((e) => e.response?.status)).toEqual(Array(9).fill('200'));
      expect(entries.map((e) => e.resource?.id)).toEqual(ehr.repo.all('Organization').map((o) => o.id));
      expect(ehr.repo.count('Organization')).toBe(9);
    });

    it('is atomic: one invalid entry refuses the whole bundle with 400 and stores nothing', async () => {
      const bad = observationEntry(1);
      delete (bad.resource as Partial<Observation>).code;

      const res = await send(ehr, 'POST', '', transaction(patientEntry('MRN-3003'), bad));
      expect(res.status).toBe(400);
      expect(issueText(res.json)).toContain('Missing required property');
      expect(ehr.repo.count('Patient')).toBe(0);
      expect(ehr.repo.count('Observation')).toBe(0);

      const existing = await send(ehr, 'POST', '', transaction(patientEntry('MRN-3003', 'Before')));
      expect(existing.status).toBe(200);
      const large = transaction(
        patientEntry('MRN-3003', 'After'),
        ...Array.from({ length: 9 }, (_, i) => observationEntry(i)),
        bad,
      );
      const refused = await send(ehr, 'POST', '', large);
      expect(refused.status).toBe(400);
      expect(ehr.repo.all<Patient>('Patient').map((p) => p.name?.[0]?.family)).toEqual(['Before']);
      expect(ehr.repo.count('Observation')).toBe(0);
      const id = ehr.repo.all<Patient>('Patient')[0]?.id as string;
      expect(((await send(ehr, 'GET', `/Patient/${id}/_history`)).json as Bundle).entry).toHaveLength(1);
    });

    it('refuses a conditional PUT that matches two Patients with 400, whatever the bundle size', async () => {
      for (const family of ['A', 'B']) {
        const created = await send(ehr, 'POST', '/Patient', {
          resourceType: 'Patient',
          identifier: [{ system: MRN_SYSTEM, value: 'DUP' }],
          name: [{ family }],
        });
        expect(created.status).toBe(201);
      }
      const small = await send(ehr, 'POST', '', transaction(patientEntry('DUP'), observationEntry(1)));
      expect(small.status).toBe(400);
      expect(issueText(small.json)).toContain('matched multiple resources');
      const large = transaction(
        patientEntry('DUP'),
        ...Array.from({ length: 9 }, (_, i) => observationEntry(i)),
      );
      const refused = await send(ehr, 'POST', '', large);
      expect(refused.status).toBe(400);
      expect(issueText(refused.json)).toContain('matched multiple resources');
      expect(ehr.repo.count('Observation')).toBe(0);
    });
  });

  it('processes a batch entry by entry: an invalid entry gets its own 400, the others are stored', async () => {
    const bad = observationEntry(2);
    delete (bad.resource as Partial<Observation>).code;
    const res = await send(ehr, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [observationEntry(1), bad],
    });
    expect(res.status).toBe(200);
    const bundle = res.json as Bundle;
    expect(bundle.type).toBe('batch-response');
    expect(bundle.entry?.map((e) => e.response?.status)).toEqual(['201', '400']);
    expect(ehr.repo.count('Observation')).toBe(1);
  });

  it('creates, reads, updates, conditionally updates and deletes single resources', async () => {
    const patient: Patient = {
      resourceType: 'Patient',
      identifier: [{ system: MRN_SYSTEM, value: 'CRUD-1' }],
    };
    const created = await send(ehr, 'POST', '/Patient', patient);
    expect(created.status).toBe(201);
    const body = created.json as Patient;
    expect(body.id).toBeTruthy();
    expect(created.headers.get('location')).toBe(
      `${ehr.url}/Patient/${body.id}/_history/${body.meta?.versionId}`,
    );
    expect(created.headers.get('etag')).toBe(`W/"${body.meta?.versionId}"`);

    const read = await send(ehr, 'GET', `/Patient/${body.id}`);
    expect(read.status).toBe(200);
    expect((read.json as Patient).identifier?.[0]?.value).toBe('CRUD-1');

    const updated = await send(ehr, 'PUT', `/Patient/${body.id}`, {
      ...patient,
      id: body.id,
      gender: 'female',
    });
    expect(updated.status).toBe(200);
    expect((updated.json as Patient).meta?.versionId).not.toBe(body.meta?.versionId);

    const conditional = `/Patient?identifier=${encodeURIComponent(`${MRN_SYSTEM}|CRUD-1`)}`;
    const matched = await send(ehr, 'PUT', conditional, { ...patient, gender: 'male' });
    expect(matched.status).toBe(200);
    expect((matched.json as Patient).id).toBe(body.id);
    const fresh = await send(
      ehr,
      'PUT',
      `/Patient?identifier=${encodeURIComponent(`${MRN_SYSTEM}|CRUD-2`)}`,
      {
        resourceType: 'Patient',
        identifier: [{ system: MRN_SYSTEM, value: 'CRUD-2' }],
      },
    );
    expect(fresh.status).toBe(201);
    expect(ehr.repo.count('Patient')).toBe(2);

    const minimal = await send(ehr, 'POST', '/Patient', patient, { prefer: 'return=minimal' });
    expect(minimal.status).toBe(201);
    expect(minimal.json).toBeUndefined();
    expect(minimal.headers.get('location')).toMatch(/\/Patient\/[\w-]+\/_history\//);

    expect((await send(ehr, 'DELETE', `/Patient/${body.id}`)).status).toBe(200);
    const gone = await send(ehr, 'GET', `/Patient/${body.id}`);
    expect(gone.status).toBe(404);
    expect(issueText(gone.json)).toBe('Not found');
  });

  it('refuses a resource that is not valid FHIR R4 with 400 and an OperationOutcome naming the element', async () => {
    const res = await send(ehr, 'POST', '/Patient', { resourceType: 'Patient', birthDate: '1990-13-45' });
    expect(res.status).toBe(400);
    const outcome = res.json as OperationOutcome;
    expect(outcome.issue?.[0]?.expression).toEqual(['Patient.birthDate']);
    expect(ehr.repo.count('Patient')).toBe(0);
  });

  describe('search', () => {
    beforeEach(async () => {
      for (let i = 0; i < 5; i++) {
        const res = await send(ehr, 'POST', '/Patient', {
          resourceType: 'Patient',
          identifier: [{ system: MRN_SYSTEM, value: `S-${i}` }],
        });
        expect(res.status).toBe(201);
      }
    });

    it('counts with _summary=count (a total, no entries)', async () => {
      const res = await send(ehr, 'GET', '/Patient?_summary=count');
      expect(res.status).toBe(200);
      const bundle = res.json as Bundle;
      expect(bundle.total).toBe(5);
      expect(bundle.entry).toBeUndefined();
    });

    it('pages with _count and a next link that reaches every resource once', async () => {
      const ids: string[] = [];
      let next: string | undefined = `${ehr.url}/Patient?_count=2`;
      let pages = 0;
      while (next) {
        const res = await fetch(next);
        expect(res.status).toBe(200);
        const bundle = (await res.json()) as Bundle;
        ids.push(...(bundle.entry ?? []).map((e) => e.resource?.id as string));
        next = bundle.link?.find((l) => l.relation === 'next')?.url;
        pages += 1;
      }
      expect(pages).toBe(3);
      expect(new Set(ids).size).toBe(5);
    });

    it('answers an unknown search parameter, a bad _count and an unknown type with errors, not an empty result', async () => {
      const unknown = await send(ehr, 'GET', '/Patient?identifer=x');
      expect(unknown.status).toBe(400);
      expect(issueText(unknown.json)).toBe('Unknown search parameter identifer for Patient');
      const badCount = await send(ehr, 'GET', '/Patient?_count=ten');
      expect(badCount.status).toBe(400);
      const type = await send(ehr, 'GET', '/Patiant?identifier=x');
      expect(type.status).toBe(404);
      expect(issueText(type.json)).toBe('Unknown resource type Patiant');
    });
  });

  describe('HTTP errors', () => {
    it('answers 415 for a body that is not FHIR JSON, 400 for broken JSON, 404 outside the base', async () => {
      const xml = await send(ehr, 'POST', '/Patient', '<Patient/>', {
        'content-type': 'application/fhir+xml',
      });
      expect(xml.status).toBe(415);
      expect(issueText(xml.json)).toContain('application/fhir+json');
      const broken = await send(ehr, 'POST', '/Patient', '{"resourceType":');
      expect(broken.status).toBe(400);
      expect(issueText(broken.json)).toBe('Request body is not valid JSON');
      const outside = await fetch(`http://127.0.0.1:${ehr.port}/api/Patient`);
      expect(outside.status).toBe(404);
      expect(ehr.requests.map((r) => r.status)).toEqual([415, 400, 404]);
    });

    it('serves a CapabilityStatement at /metadata', async () => {
      const res = await send(ehr, 'GET', '/metadata');
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({
        resourceType: 'CapabilityStatement',
        fhirVersion: '4.0.1',
        kind: 'instance',
      });
    });
  });

  describe('failure mode', () => {
    it('answers 503 with an OperationOutcome for N requests, stores nothing meanwhile, then recovers', async () => {
      ehr.setFailure(503, { times: 2, retryAfterS: 1 });
      const bundle = transaction(patientEntry('MRN-5005'), observationEntry(1));
      for (let i = 0; i < 2; i++) {
        const res = await send(ehr, 'POST', '', bundle);
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('1');
        expect((res.json as OperationOutcome).issue?.[0]?.code).toBe('transient');
      }
      expect(ehr.repo.count('Patient')).toBe(0);
      const ok = await send(ehr, 'POST', '', bundle);
      expect(ok.status).toBe(200);
      expect(ehr.repo.count('Patient')).toBe(1);
      expect(ehr.requests).toEqual([
        { method: 'POST', path: '/fhir', status: 503 },
        { method: 'POST', path: '/fhir', status: 503 },
        { method: 'POST', path: '/fhir', status: 200 },
      ]);
    });

    it('keeps failing until cleared, and can close the connection without an answer', async () => {
      ehr.setFailure(400);
      for (let i = 0; i < 3; i++) {
        const res = await send(ehr, 'GET', '/Patient');
        expect(res.status).toBe(400);
        expect((res.json as OperationOutcome).issue?.[0]?.code).toBe('invalid');
      }
      ehr.setFailure('reset', { times: 1 });
      await expect(fetch(`${ehr.url}/Patient`)).rejects.toThrow();
      expect((await send(ehr, 'GET', '/Patient')).status).toBe(200);
      ehr.setFailure(undefined);
      expect(ehr.requests.map((r) => r.status)).toEqual([400, 400, 400, 0, 200]);
    });
  });

  it('requires the bearer token when one is configured', async () => {
    const secured = await startEhr({ bearerToken: 'sekret', basePath: 'r4/' });
    try {
      expect(secured.url).toBe(`http://127.0.0.1:${secured.port}/r4`);
      const anonymous = await fetch(`${secured.url}/Patient`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      const authorized = await fetch(`${secured.url}/Patient`, {
        headers: { authorization: 'Bearer sekret' },
      });
      expect(authorized.status).toBe(200);
    } finally {
      await secured.stop();
    }
  });
});
