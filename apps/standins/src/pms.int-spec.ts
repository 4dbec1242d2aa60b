import { startPms, type PmsStandin } from './pms';

async function post(
  pms: PmsStandin,
  path: string,
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ status: number; headers: Headers; json: unknown }> {
  const res = await fetch(`${pms.url}${path}`, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

async function get(pms: PmsStandin, path: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${pms.url}${path}`);
  return { status: res.status, json: await res.json() };
}

const notice = { type: 'results_ready', order: 'ORD-1', mrn: 'MRN-1001', tests: ['2345-7'] };
const appointment = { id: 'APT-9', mrn: 'MRN-1001', start: '2025-03-04T09:30:00Z', minutes: 20 };

describe('PMS stand-in (JSON REST API)', () => {
  let pms: PmsStandin;

  beforeAll(async () => {
    pms = await startPms({ patients: [{ mrn: 'MRN-1001' }] });
  });
  afterAll(async () => {
    await pms.stop();
  });
  beforeEach(() => pms.reset());

  it('stores notices as received and lists them', async () => {
    const first = await post(pms, '/api/notices', JSON.stringify(notice), {
      'content-type': 'application/json; charset=utf-8',
      'idempotency-key': 'msg-1',
    });
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ id: 'notice-1' });
    expect(first.headers.get('location')).toBe('/api/notices/notice-1');
    expect((await post(pms, '/api/notices', JSON.stringify({ ...notice, order: 'ORD-2' }))).status).toBe(201);

    expect(pms.notices.map((n) => n.body)).toEqual([notice, { ...notice, order: 'ORD-2' }]);
    expect(pms.notices[0]?.idempotencyKey).toBe('msg-1');
    expect(pms.notices[1]?.idempotencyKey).toBeUndefined();

    const listed = await get(pms, '/api/notices');
    expect(listed.status).toBe(200);
    expect(listed.json).toEqual(JSON.parse(JSON.stringify(pms.notices)));
    const one = await get(pms, '/api/notices/notice-1');
    expect(one.json).toMatchObject({ id: 'notice-1', body: notice });
    expect((await get(pms, '/api/notices/notice-9')).status).toBe(404);
  });

  it('stores appointments apart from notices', async () => {
    expect((await post(pms, '/api/appointments', JSON.stringify(appointment))).status).toBe(201);
    expect(pms.appointments.map((a) => a.body)).toEqual([appointment]);
    expect(pms.notices).toEqual([]);
    expect((await get(pms, '/api/appointments')).json).toMatchObject([{ body: appointment }]);
  });

  it('lists the seeded patients and can be re-seeded', async () => {
    expect((await get(pms, '/api/patients')).json).toEqual([{ mrn: 'MRN-1001' }]);
    pms.seedPatients([{ mrn: 'A' }, { mrn: 'B' }]);
    expect((await get(pms, '/api/patients')).json).toEqual([{ mrn: 'A' }, { mrn: 'B' }]);
    const refused = await post(pms, '/api/patients', '{}');
    expect(refused.status).toBe(405);
  });

  it('refuses what is not one JSON object, with a JSON error and nothing stored', async () => {
    const text = await post(pms, '/api/notices', 'results ready', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.json).toMatchObject({ error: 'unsupported_media_type' });
    expect((await post(pms, '/api/notices', '{"type":')).json).toMatchObject({ error: 'invalid_json' });
    const array = await post(pms, '/api/notices', '[1,2]');
    expect(array.status).toBe(400);
    expect(array.json).toMatchObject({ error: 'invalid_body', message: 'a notice must be one JSON object' });
    expect((await get(pms, '/api/nowhere')).status).toBe(404);
    expect(pms.notices).toEqual([]);
    expect(pms.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /api/notices 415',
      'POST /api/notices 400',
      'POST /api/notices 400',
      'GET /api/nowhere 404',
    ]);
  });

  it('answers an injected 503 for N requests without storing, then recovers', async () => {
    pms.setFailure(503, { times: 2 });
    for (let i = 0; i < 2; i++) {
      const res = await post(pms, '/api/notices', JSON.stringify(notice));
      expect(res.status).toBe(503);
      expect(res.json).toMatchObject({ error: 'injected' });
    }
    expect(pms.notices).toEqual([]);
    expect((await post(pms, '/api/notices', JSON.stringify(notice))).status).toBe(201);
    expect(pms.notices).toHaveLength(1);
    expect(pms.requests.map((r) => r.status)).toEqual([503, 503, 201]);
  });

  it('can fail until cleared, or close the connection without an answer', async () => {
    pms.setFailure(500);
    expect((await post(pms, '/api/appointments', JSON.stringify(appointment))).status).toBe(500);
    expect((await post(pms, '/api/appointments', JSON.stringify(appointment))).status).toBe(500);
    pms.setFailure('reset');
    await expect(fetch(`${pms.url}/api/appointments`)).rejects.toThrow();
    pms.setFailure(undefined);
    expect((await post(pms, '/api/appointments', JSON.stringify(appointment))).status).toBe(201);
    expect(pms.appointments).toHaveLength(1);
    expect(() => pms.setFailure(99)).toThrow('a failure status must be an HTTP status (100-599), got 99');
  });

  it('requires the bearer token when one is configured', async () => {
    const secured = await startPms({ bearerToken: 't0ken' });
    try {
      const anonymous = await post(secured, '/api/notices', JSON.stringify(notice));
      expect(anonymous.status).toBe(401);
      const authorized = await post(secured, '/api/notices', JSON.stringify(notice), {
        'content-type': 'application/json',
        authorization: 'Bearer t0ken',
      });
      expect(authorized.status).toBe(201);
      expect(secured.notices).toHaveLength(1);
    } finally {
      await secured.stop();
    }
  });
});
