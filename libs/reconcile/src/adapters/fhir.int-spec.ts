import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEhr, type EhrStandin } from '../../../../apps/standins/src';
import type { ReadContext, SideRecord } from '../types';
import { ReconcileReadError } from './errors';
import { fhirAdapter, type FhirSideSettings, type FhirSystemSettings } from './fhir';

const PATIENTS = 1200;
const MRN_SYSTEM = 'urn:oid:1.2.3';

function context(overrides: Partial<ReadContext> = {}): ReadContext {
  return {
    entity: 'patients',
    side: 'target',
    period: { label: 'all' },
    fields: ['family', 'birth_date'],
    withStatus: false,
    signal: new AbortController().signal,
    baseDir: __dirname,
    ...overrides,
  };
}

const side: FhirSideSettings = fhirAdapter.side.parse({
  resource: 'Patient',
  key: `identifier.where(system='${MRN_SYSTEM}').value`,
  fields: { family: 'name.family', birth_date: 'birthDate' },
});

function reader(system: Partial<FhirSystemSettings> & { base_url: string }, deps = {}) {
  return fhirAdapter.create(fhirAdapter.system.parse({ type: 'fhir', ...system }), side, {
    systemName: 'ehr',
    ...deps,
  });
}

async function collect(iterable: AsyncIterable<SideRecord>): Promise<SideRecord[]> {
  const out: SideRecord[] = [];
  for await (const record of iterable) out.push(record);
  return out;
}

async function loadPatients(ehr: EhrStandin, token?: string): Promise<void> {
  const entry = Array.from({ length: PATIENTS }, (_, i) => ({
    request: { method: 'POST', url: 'Patient' },
    resource: {
      resourceType: 'Patient',
      identifier: [
        { system: 'urn:oid:9.9.9', value: `OTHER-${i}` },
        { system: MRN_SYSTEM, value: `MRN${String(i).padStart(5, '0')}` },
      ],
      name: [{ family: `Family${i}`, given: ['Given'] }],
      birthDate: `19${String(50 + (i % 50))}-01-0${1 + (i % 9)}`,
    },
  }));
  const res = await fetch(ehr.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/fhir+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }),
  });
  expect(res.status).toBe(200);
}

describe('fhir adapter against the EHR stand-in', () => {
  let ehr: EhrStandin;

  beforeAll(async () => {
    ehr = await startEhr();
    await loadPatients(ehr);
  }, 60_000);
  afterAll(async () => {
    await ehr.stop();
  });

  it('reads every Patient, page by page, with _count and _elements', async () => {
    ehr.requests.length = 0;
    const records = await collect(reader({ base_url: ehr.url }).read(context()));
    expect(records).toHaveLength(PATIENTS);
    expect(new Set(records.map((r) => r.key)).size).toBe(PATIENTS);
    const first = records.find((r) => r.key === 'MRN00007');
    expect(first?.fields).toEqual({ family: 'Family7', birth_date: '1957-01-08' });
    expect(first?.ref).toMatch(new RegExp(`^${ehr.url}/Patient/`));
    expect(first?.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);

    const searches = ehr.requests.filter((r) => r.method === 'GET');
    expect(searches).toHaveLength(3);
    const firstUrl = new URL(searches[0]?.path ?? '', 'http://x');
    expect(firstUrl.searchParams.get('_count')).toBe('500');
    expect(firstUrl.searchParams.get('_elements')?.split(',').sort()).toEqual([
      'birthDate',
      'identifier',
      'meta',
      'name',
    ]);
  });

  it('counts with _summary=count', async () => {
    ehr.requests.length = 0;
    const counts = await reader({ base_url: ehr.url }).count?.(context());
    expect(counts).toEqual(new Map([['', PATIENTS]]));
    expect(ehr.requests.map((r) => r.path)).toEqual([expect.stringContaining('_summary=count')]);
    expect(await reader({ base_url: ehr.url }).count?.(context({ withStatus: true }))).toBeUndefined();
  });

  it('filters on the period with _lastUpdated ge/lt', async () => {
    const now = Date.now();
    const current = { from: new Date(now - 3_600_000), to: new Date(now + 3_600_000), label: 'around now' };
    const past = {
      from: new Date(now - 2 * 86_400_000),
      to: new Date(now - 86_400_000),
      label: 'the day before',
    };
    ehr.requests.length = 0;
    expect(await reader({ base_url: ehr.url }).count?.(context({ period: current }))).toEqual(
      new Map([['', PATIENTS]]),
    );
    expect(ehr.requests[0]?.path).toContain(
      `_lastUpdated=ge${encodeURIComponent(current.from.toISOString())}`,
    );
    expect(ehr.requests[0]?.path).toContain(`_lastUpdated=lt${encodeURIComponent(current.to.toISOString())}`);
    expect(await collect(reader({ base_url: ehr.url }).read(context({ period: past })))).toEqual([]);
  });

  it('names the page URL when page 3 fails with HTTP 500', async () => {
    let pages = 0;
    const failingThird: typeof fetch = (input, init) => {
      pages += 1;
      if (pages === 3) ehr.setFailure(500, { times: 1 });
      return fetch(input, init);
    };
    const error = await collect(reader({ base_url: ehr.url }, { fetch: failingThird }).read(context())).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ReconcileReadError);
    const message = (error as Error).message;
    expect(message).toMatch(
      /^system ehr: GET page 3: http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient\?.*_offset=1000.* answered HTTP 500$/,
    );
    expect((error as ReconcileReadError).code).toBe(500);
  });
});

describe('fhir adapter authentication', () => {
  let ehr: EhrStandin;
  let tokenServer: Server;
  let tokenUrl: string;
  const tokenRequests: Array<{ contentType?: string; form: URLSearchParams }> = [];
  let issue: string[] = [];

  beforeAll(async () => {
    ehr = await startEhr({ bearerToken: 'good-token' });
    await loadPatients(ehr, 'good-token');
    tokenServer = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        tokenRequests.push({ contentType: req.headers['content-type'], form });
        if (form.get('client_secret') !== 's3cret') {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            access_token: issue.shift() ?? 'good-token',
            token_type: 'Bearer',
            expires_in: 3600,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
    tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  }, 60_000);
  afterAll(async () => {
    await ehr.stop();
    await new Promise((resolve) => tokenServer.close(resolve));
  });
  beforeEach(() => {
    tokenRequests.length = 0;
    issue = [];
  });

  const oauth2 = (secret = 's3cret') => ({
    oauth2: { token_url: tokenUrl, client_id: 'sinew', client_secret: secret, scope: 'system/Patient.read' },
  });

  it('fetches a client-credentials token once and reads every page with it', async () => {
    const records = await collect(reader({ base_url: ehr.url, auth: oauth2() }).read(context()));
    expect(records).toHaveLength(PATIENTS);
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]?.contentType).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(tokenRequests[0]?.form ?? [])).toEqual({
      grant_type: 'client_credentials',
      client_id: 'sinew',
      client_secret: 's3cret',
      scope: 'system/Patient.read',
    });
  });

  it('fetches a new token when the EHR answers 401', async () => {
    issue = ['expired-token', 'good-token'];
    const counts = await reader({ base_url: ehr.url, auth: oauth2() }).count?.(context());
    expect(counts).toEqual(new Map([['', PATIENTS]]));
    expect(tokenRequests).toHaveLength(2);
  });

  it('says clearly when the token endpoint refuses the client', async () => {
    const error = await reader({ base_url: ehr.url, auth: oauth2('wrong') })
      .count?.(context())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReconcileReadError);
    expect((error as Error).message).toBe(
      `system ehr: the OAuth2 token endpoint ${tokenUrl} answered HTTP 401`,
    );
  });

  it('says clearly when the bearer token is refused', async () => {
    const error = await collect(
      reader({ base_url: ehr.url, auth: { bearer: 'wrong' } }).read(context()),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReconcileReadError);
    expect((error as Error).message).toMatch(
      /^system ehr: GET page 1: http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient\?\S+ answered HTTP 401 \(check the system’s auth settings\)$/,
    );
    expect((error as Error).message).not.toContain('wrong');
  });
});
