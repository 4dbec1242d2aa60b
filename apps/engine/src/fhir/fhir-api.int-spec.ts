import type { FhirResource } from '@sinew/hub';
import { waitFor } from '@sinew/test-support';
import { fhirRequest, startFhirApi, type FhirApi } from '@sinew/test-support/fhir-api';

interface Bundle extends FhirResource {
  type: string;
  total?: number;
  link?: Array<{ relation: string; url: string }>;
  entry?: Array<{ fullUrl: string; resource: FhirResource; search?: { mode: string } }>;
}
interface Outcome extends FhirResource {
  issue: Array<{ severity: string; code: string; diagnostics?: string; expression?: string[] }>;
}

const LOINC = 'http://loinc.org';
const MRN = 'urn:oid:1.2.36.146.595.217.0.1';

function patient(
  mrn: string,
  family: string,
  given: string,
  birthDate: string,
  gender: string,
): FhirResource {
  return {
    resourceType: 'Patient',
    identifier: [{ system: MRN, value: mrn }],
    name: [{ family, given: [given] }],
    birthDate,
    gender,
  };
}
function observation(patientId: string, code: string, date: string, value: number): FhirResource {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
        ],
      },
    ],
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: date,
    valueQuantity: { value, unit: 'g/dL' },
  };
}

describe('FHIR R4 API: reads, search, history, $everything, errors', () => {
  let api: FhirApi;
  let token: string;
  let appId: string;
  let doe: FhirResource;
  let smith: FhirResource;
  let hidden: FhirResource;
  const obs: FhirResource[] = [];
  let encounter: FhirResource;

  beforeAll(async () => {
    api = await startFhirApi();
    doe = await seedOne('production', patient('1001', 'Doe', 'Jan', '1980-05-01', 'male'));
    smith = await seedOne('production', patient('1002', 'Smith', 'Ann', '1992-11-20', 'female'));
    hidden = await seedOne('production', patient('1003', 'Hidden', 'Eve', '1970-01-01', 'female'));
    for (const [p, code, date, v] of [
      [doe, '718-7', '2024-01-10T09:00:00Z', 13.1],
      [doe, '2345-7', '2024-02-10T09:00:00Z', 5.4],
      [doe, '718-7', '2024-03-10T09:00:00Z', 12.2],
      [smith, '718-7', '2024-02-15T09:00:00Z', 14.0],
      [hidden, '718-7', '2024-02-16T09:00:00Z', 11.0],
    ] as const) {
      obs.push(...(await api.hub.seed('production', observation(p.id!, code, date, v))));
    }
    encounter = await seedOne('production', {
      resourceType: 'Encounter',
      status: 'finished',
      subject: { reference: `Patient/${doe.id}` },
      period: { start: '2024-01-10T08:00:00Z' },
    });
    ({ token, appId } = api.gate.issue({
      scopes: 'system/Patient.rs system/Observation.rs system/Encounter.rs',
    }));
    await api.hub.setExcluded('production', hidden.id!, appId, true);
  });
  afterAll(() => api.close());

  const seedOne = async (env: 'production', resource: FhirResource): Promise<FhirResource> =>
    (await api.hub.seed(env, resource))[0]!;
  const get = <T = FhirResource>(path: string, headers: Record<string, string> = {}) =>
    fhirRequest<T>(`${api.base}/${path}`, token, { headers });

  describe('read and vread', () => {
    it('answers the current version as application/fhir+json with ETag and Last-Modified', async () => {
      const r = await get(`Patient/${doe.id}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/fhir+json; fhirVersion=4.0');
      expect(r.body).toMatchObject({
        resourceType: 'Patient',
        id: doe.id,
        name: [{ family: 'Doe' }],
        meta: { versionId: '1' },
      });
      expect(r.headers.get('etag')).toBe('W/"1"');
      expect(new Date(r.headers.get('last-modified')!).toISOString()).toBe(
        new Date(Math.floor(Date.parse(r.body.meta!.lastUpdated!) / 1000) * 1000).toISOString(),
      );
      const again = await get(`Patient/${doe.id}`, { 'if-none-match': 'W/"1"' });
      expect(again.status).toBe(304);
    });

    it('answers an unknown id with 404 and a deleted resource with 410, both OperationOutcomes', async () => {
      const missing = await get<Outcome>('Patient/no-such-patient');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'not-found' }],
      });
      const [gone] = await api.hub.seed('production', patient('1099', 'Gone', 'Gus', '1960-01-01', 'male'));
      await api.hub.remove('production', 'Patient', gone!.id!);
      const deleted = await get<Outcome>(`Patient/${gone!.id}`);
      expect(deleted.status).toBe(410);
      expect(deleted.body.issue[0]).toMatchObject({ code: 'deleted' });
      const history = await get<Bundle>(`Patient/${gone!.id}/_history`);
      expect(
        history.body.entry!.map((e) => (e as unknown as { request: { method: string } }).request.method),
      ).toEqual(['DELETE', 'POST']);
    });

    it('reads older versions (vread) and lists the history newest first, paged', async () => {
      const [p] = await api.hub.seed('production', patient('1050', 'Versioned', 'Val', '1985-01-01', 'male'));
      await api.hub.seed('production', {
        ...patient('1050', 'Versioned', 'Val', '1985-01-01', 'male'),
        gender: 'other',
      });
      await api.hub.seed('production', {
        ...patient('1050', 'Versioned', 'Valentin', '1985-01-01', 'other'),
      });
      const v1 = await get(`Patient/${p!.id}/_history/1`);
      expect(v1.status).toBe(200);
      expect(v1.body).toMatchObject({ gender: 'male', meta: { versionId: '1' } });
      expect(v1.headers.get('etag')).toBe('W/"1"');
      expect((await get(`Patient/${p!.id}/_history/9`)).status).toBe(404);
      expect((await get(`Patient/${p!.id}/_history/x`)).status).toBe(400);
      const page1 = await get<Bundle>(`Patient/${p!.id}/_history?_count=2`);
      expect(page1.body).toMatchObject({ resourceType: 'Bundle', type: 'history', total: 3 });
      expect(page1.body.entry!.map((e) => e.resource.meta!.versionId)).toEqual(['3', '2']);
      const next = page1.body.link!.find((l) => l.relation === 'next')!.url;
      const page2 = await fhirRequest<Bundle>(next, token);
      expect(page2.body.entry!.map((e) => e.resource.meta!.versionId)).toEqual(['1']);
      expect(page2.body.link!.some((l) => l.relation === 'next')).toBe(false);
    });

    it('refuses an invalid id, an unknown type and parameters a read does not take', async () => {
      expect((await get<Outcome>('Patient/has%20space')).status).toBe(400);
      const unknownType = await get<Outcome>('Spaceship/1');
      expect(unknownType.status).toBe(404);
      expect(unknownType.body.resourceType).toBe('OperationOutcome');
      const param = await get<Outcome>(`Patient/${doe.id}?_elements=name`);
      expect(param.status).toBe(400);
      expect(param.body.issue[0]!.expression).toEqual(['_elements']);
    });
  });

  describe('search', () => {
    const ids = (b: Bundle, mode = 'match') =>
      (b.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => e.resource.id);

    it('finds by identifier, by name and birthdate, and Observation by patient, code and date', async () => {
      const byId = await get<Bundle>(`Patient?identifier=${encodeURIComponent(`${MRN}|1001`)}`);
      expect(byId.status).toBe(200);
      expect(byId.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
      expect(ids(byId.body)).toEqual([doe.id]);
      expect(byId.body.entry![0]!.fullUrl).toBe(`${api.base}/Patient/${doe.id}`);
      const byName = await get<Bundle>('Patient?name=smi&birthdate=1992-11-20');
      expect(ids(byName.body)).toEqual([smith.id]);
      const byNameWrongDate = await get<Bundle>('Patient?name=smi&birthdate=1992-11-21');
      expect(ids(byNameWrongDate.body)).toEqual([]);
      const o = await get<Bundle>(
        `Observation?patient=${doe.id}&code=${encodeURIComponent(`${LOINC}|718-7`)}&date=ge2024-02-01`,
      );
      expect(ids(o.body)).toEqual([obs[2]!.id]);
    });

    it('sorts with _sort and pages through opaque next links to every match once', async () => {
      const first = await get<Bundle>(`Observation?patient=${doe.id}&_sort=-date&_count=2`);
      // A page that has a next link may omit `total`; _summary=count gives it.
      expect((await get<Bundle>(`Observation?patient=${doe.id}&_summary=count`)).body.total).toBe(3);
      expect(ids(first.body)).toEqual([obs[2]!.id, obs[1]!.id]);
      const self = first.body.link!.find((l) => l.relation === 'self')!.url;
      expect(self).toBe(`${api.base}/Observation?patient=${doe.id}&_sort=-date&_count=2`);
      const next = first.body.link!.find((l) => l.relation === 'next')!.url;
      expect(next).toMatch(/_cursor=/);
      const second = await fhirRequest<Bundle>(next, token);
      expect(ids(second.body)).toEqual([obs[0]!.id]);
      expect(second.body.link!.find((l) => l.relation === 'next')).toBeUndefined();
    });

    it('POST _search with a form body answers what GET does', async () => {
      const r = await fhirRequest<Bundle>(`${api.base}/Observation/_search`, token, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `patient=${doe.id}&code=2345-7`,
      });
      expect(r.status).toBe(200);
      expect(ids(r.body)).toEqual([obs[1]!.id]);
    });

    it('_include brings each subject Patient once, as search.mode include', async () => {
      for (const include of ['Observation:patient', 'Observation:subject', 'Observation:subject:Patient']) {
        const r = await get<Bundle>(`Observation?code=718-7&_include=${include}`);
        expect(r.status).toBe(200);
        expect(ids(r.body)).toEqual([obs[0]!.id, obs[2]!.id, obs[3]!.id]);
        expect(ids(r.body, 'include').sort()).toEqual([doe.id, smith.id].sort());
      }
      const enc = await get<Bundle>('Encounter?_include=Encounter:subject');
      expect(ids(enc.body)).toEqual([encounter.id]);
      expect(ids(enc.body, 'include')).toEqual([doe.id]);
      const bad = await get<Outcome>('Observation?_include=Observation:performer');
      expect(bad.status).toBe(400);
      expect(bad.body.issue[0]).toMatchObject({ code: 'not-supported', expression: ['_include'] });
    });

    it('_elements keeps id, meta and the listed elements and tags the resource SUBSETTED', async () => {
      const r = await get<Bundle>(`Observation?patient=${smith.id}&_elements=code,status`);
      const res = r.body.entry![0]!.resource;
      expect(Object.keys(res).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status']);
      expect(res.meta!.tag).toEqual([expect.objectContaining({ code: 'SUBSETTED' })]);
    });

    it('_summary=count and _count=0 answer only the total; _total=none leaves it out', async () => {
      for (const q of ['_summary=count', '_count=0']) {
        const r = await get<Bundle>(`Observation?patient=${doe.id}&${q}`);
        expect(r.body.total).toBe(3);
        expect(r.body.entry).toBeUndefined();
      }
      const none = await get<Bundle>(`Observation?patient=${doe.id}&_total=none`);
      expect(none.body.total).toBeUndefined();
      expect(ids(none.body)).toHaveLength(3);
      const accurate = await get<Bundle>(`Observation?patient=${doe.id}&_total=accurate&_count=1`);
      expect(accurate.body.total).toBe(3);
    });

    it.each([
      ['Patient?shoe-size=42', 'shoe-size'],
      ['Patient?birthdate=yesterday', 'birthdate'],
      ['Patient?name:fuzzy=doe', 'name:fuzzy'],
      ['Patient?_count=1001', '_count'],
      ['Patient?_count=-1', '_count'],
      ['Patient?_summary=text', '_summary'],
      ['Patient?_total=maybe', '_total'],
      ['Patient?_revinclude=Observation:patient', '_revinclude'],
      ['Patient?_sort=gender', '_sort'],
      ['Patient?_cursor=forged', '_cursor'],
    ])('%s is refused with 400 naming %s', async (path, param) => {
      const r = await get<Outcome>(path);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', expression: [param] }],
      });
    });

    it('serves JSON only: _format=xml and an XML-only Accept are 406, a JSON _format is fine', async () => {
      expect((await get('Patient?_format=json')).status).toBe(200);
      expect((await get('Patient?_format=application/fhir%2Bjson')).status).toBe(200);
      const xml = await get<Outcome>('Patient?_format=xml');
      expect(xml.status).toBe(406);
      expect(xml.body.resourceType).toBe('OperationOutcome');
      expect((await get('Patient', { accept: 'application/fhir+xml' })).status).toBe(406);
      expect((await get(`Patient/${doe.id}`, { accept: 'application/fhir+xml' })).status).toBe(406);
    });
  });

  describe('consent', () => {
    it('an excluded patient is neither read, found, included nor in $everything for that app', async () => {
      expect((await get(`Patient/${hidden.id}`)).status).toBe(404);
      expect((await get(`Observation/${obs[4]!.id}`)).status).toBe(404);
      const all = await get<Bundle>('Observation?code=718-7&_include=Observation:patient&_count=1000');
      const seen = JSON.stringify(all.body);
      expect(seen).not.toContain(hidden.id!);
      expect(seen).not.toContain('Hidden');
      expect((await get(`Patient/${hidden.id}/$everything`)).status).toBe(404);
      const other = api.gate.issue({ scopes: 'system/Patient.rs' });
      const r = await fhirRequest(`${api.base}/Patient/${hidden.id}`, other.token);
      expect(r.status).toBe(200);
    });

    it("following another app's next link never shows this app's excluded patients", async () => {
      const other = api.gate.issue({ scopes: 'system/Observation.rs' });
      const first = await fhirRequest<Bundle>(`${api.base}/Observation?code=718-7&_count=1`, other.token);
      const next = first.body.link!.find((l) => l.relation === 'next')!.url;
      const pages: string[] = [];
      let url: string | undefined = next;
      while (url) {
        const page: { status: number; body: Bundle } = await fhirRequest<Bundle>(url, token);
        pages.push(JSON.stringify(page.body));
        url = page.status === 200 ? page.body.link?.find((l) => l.relation === 'next')?.url : undefined;
      }
      expect(pages.join('')).not.toContain(obs[4]!.id!);
    });
  });

  describe('environments', () => {
    it('a sandbox token reads the sandbox only, never production data', async () => {
      const sandboxPatient = await api.hub.seed(
        'sandbox',
        patient('S-1', 'Sandy', 'Sam', '2000-01-01', 'female'),
      );
      const sandbox = api.gate.issue({ scopes: 'system/*.rs', environment: 'sandbox' });
      expect((await fhirRequest(`${api.base}/Patient/${doe.id}`, sandbox.token)).status).toBe(404);
      const all = await fhirRequest<Bundle>(`${api.base}/Patient?_count=1000`, sandbox.token);
      expect((all.body.entry ?? []).map((e) => e.resource.id)).toEqual([sandboxPatient[0]!.id]);
      expect((await fhirRequest(`${api.base}/Patient/${doe.id}/$everything`, sandbox.token)).status).toBe(
        404,
      );
      const prod = await get<Bundle>('Patient?family=Sandy');
      expect(prod.body.entry).toBeUndefined();
    });
  });

  describe('Patient/$everything', () => {
    it('answers the patient and what belongs to them as a searchset', async () => {
      const r = await get<Bundle>(`Patient/${doe.id}/$everything`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 5 });
      expect(r.body.entry!.map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort()).toEqual(
        [
          `Patient/${doe.id}`,
          `Encounter/${encounter.id}`,
          ...obs.slice(0, 3).map((o) => `Observation/${o.id}`),
        ].sort(),
      );
    });

    it('leaves out the types the app may not read and search, and honours _type', async () => {
      const narrow = api.gate.issue({ scopes: 'system/Patient.rs system/Observation.r' });
      const r = await fhirRequest<Bundle>(`${api.base}/Patient/${doe.id}/$everything`, narrow.token);
      expect(r.body.entry!.map((e) => e.resource.resourceType)).toEqual(['Patient']);
      const typed = await get<Bundle>(`Patient/${doe.id}/$everything?_type=Encounter`);
      expect(typed.body.entry!.map((e) => e.resource.resourceType)).toEqual(['Encounter']);
      expect((await get('Patient/no-one/$everything')).status).toBe(404);
    });
  });

  describe('authentication, rate limits and the call log', () => {
    it('without a token: 401 with WWW-Authenticate; a bad token too', async () => {
      const none = await fhirRequest<Outcome>(`${api.base}/Patient`, undefined);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="sinew"/);
      expect(none.body.issue[0]!.code).toBe('login');
      const bad = await fhirRequest<Outcome>(`${api.base}/Patient`, 'not-a-token');
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    });

    it('a revoked app gets 401, a paused or suspended one 403, each on its next request', async () => {
      for (const [action, status] of [
        ['revoke', 401],
        ['pause', 403],
        ['suspend', 403],
      ] as const) {
        const app = api.gate.issue({ scopes: 'system/Patient.rs' });
        expect((await fhirRequest(`${api.base}/Patient`, app.token)).status).toBe(200);
        api.gate[action](app.appId);
        const r = await fhirRequest<Outcome>(`${api.base}/Patient`, app.token);
        expect(r.status).toBe(status);
        expect(r.body.resourceType).toBe('OperationOutcome');
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    });

    it('past its rate limit: 429 with Retry-After, reported as misuse', async () => {
      const app = api.gate.issue({ scopes: 'system/Patient.rs' });
      api.gate.limit(app.appId, 2, 2500);
      expect((await fhirRequest(`${api.base}/Patient`, app.token)).status).toBe(200);
      expect((await fhirRequest(`${api.base}/Patient`, app.token)).status).toBe(200);
      const r = await fhirRequest<Outcome>(`${api.base}/Patient`, app.token);
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('3');
      expect(r.body.issue[0]!.code).toBe('throttled');
      expect(api.gate.misuses).toContainEqual(
        expect.objectContaining({ appId: app.appId, kind: 'rate_limit' }),
      );
    });

    it('an app limited to endpoints is refused elsewhere (403, reported)', async () => {
      const app = api.gate.issue({ scopes: 'system/*.rs', endpoints: ['Patient'] });
      expect((await fhirRequest(`${api.base}/Patient/${doe.id}`, app.token)).status).toBe(200);
      const r = await fhirRequest<Outcome>(`${api.base}/Observation`, app.token);
      expect(r.status).toBe(403);
      expect(api.gate.misuses).toContainEqual(
        expect.objectContaining({ appId: app.appId, kind: 'forbidden' }),
      );
    });

    it('records each call with its status and the Type/ids returned, never content', async () => {
      const app = api.gate.issue({ scopes: 'system/Patient.rs' });
      await fhirRequest(`${api.base}/Patient?family=Doe`, app.token);
      await fhirRequest(`${api.base}/Observation`, app.token);
      await waitFor(
        'both calls recorded',
        () => api.gate.calls.filter((c) => c.appId === app.appId).length === 2,
      );
      const calls = api.gate.calls.filter((c) => c.appId === app.appId).map((c) => c.call);
      expect(calls).toEqual([
        expect.objectContaining({
          method: 'GET',
          path: 'Patient',
          status: 200,
          objectIds: [`Patient/${doe.id}`],
        }),
        expect.objectContaining({ method: 'GET', path: 'Observation', status: 403 }),
      ]);
      expect(JSON.stringify(calls)).not.toContain('Doe');
    });

    it('the CapabilityStatement needs no token, and is JSON only', async () => {
      const r = await fhirRequest(`${api.base}/metadata`, undefined);
      expect(r.status).toBe(200);
      expect(r.body.resourceType).toBe('CapabilityStatement');
      expect((await fhirRequest(`${api.base}/metadata?_format=xml`, undefined)).status).toBe(406);
      expect((await fhirRequest(`${api.base}/metadata?_format=json`, undefined)).status).toBe(200);
    });
  });

  describe('unexpected input', () => {
    it('an unsupported method is 405, reported as an unexpected payload', async () => {
      const r = await fhirRequest<Outcome>(`${api.base}/Patient/${doe.id}`, token, {
        method: 'PATCH',
        body: '{}',
      });
      expect(r.status).toBe(405);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(api.gate.misuses).toContainEqual(expect.objectContaining({ appId, kind: 'unexpected_payload' }));
    });

    it('a _search body that is not a form is 415, reported; malformed JSON is a 400 OperationOutcome', async () => {
      const before = api.gate.misuses.length;
      const json = await fhirRequest<Outcome>(`${api.base}/Patient/_search`, token, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: '{"name":"Doe"}',
      });
      expect(json.status).toBe(415);
      expect(api.gate.misuses.slice(before)).toContainEqual(
        expect.objectContaining({ kind: 'unexpected_payload' }),
      );
      const broken = await fhirRequest<Outcome>(`${api.base}/Patient/_search`, token, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name": "Doe',
      });
      expect(broken.status).toBe(400);
      expect(broken.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(broken.body)).not.toContain('Doe');
      await waitFor(
        'both reported',
        () => api.gate.misuses.slice(before).filter((m) => m.kind === 'unexpected_payload').length >= 2,
      );
      expect(api.gate.misuses.slice(before).filter((m) => m.kind === 'unexpected_payload')).toHaveLength(2);
    });

    it('an unknown path is a 404 OperationOutcome', async () => {
      const r = await get<Outcome>('Patient/1/2/3/4');
      expect(r.status).toBe(404);
      expect(r.body.resourceType).toBe('OperationOutcome');
    });
  });
});
