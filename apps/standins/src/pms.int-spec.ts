import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startPms, type PmsStandin } from './pms';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are read field by field
type Json = any;

async function call(
  pms: PmsStandin,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ status: number; headers: Headers; json: Json }> {
  const res = await fetch(`${pms.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Json) : undefined };
}
const post = (pms: PmsStandin, path: string, body: unknown, headers?: Record<string, string>) =>
  call(pms, 'POST', path, body, headers);
const get = (pms: PmsStandin, path: string) => call(pms, 'GET', path);

const notice = { type: 'results_ready', order: 'ORD-1', mrn: 'MRN-1001', tests: ['2345-7'] };
const alice = { mrn: 'MRN-1001', family: 'Testpatient', given: 'Alice', birth_date: '1980-02-14', sex: 'F' };

describe('PMS stand-in (JSON REST API)', () => {
  let pms: PmsStandin;

  beforeAll(async () => {
    pms = await startPms();
  });
  afterAll(async () => {
    await pms.stop();
  });
  beforeEach(() => pms.reset());

  it('stores notices as received and lists them', async () => {
    const first = await post(pms, '/api/notices', notice, {
      'content-type': 'application/json; charset=utf-8',
      'idempotency-key': 'msg-1',
    });
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ id: 'notice-1' });
    expect(first.headers.get('location')).toBe('/api/notices/notice-1');
    expect((await post(pms, '/api/notices', { ...notice, order: 'ORD-2' })).status).toBe(201);

    expect(pms.notices.map((n) => n.body)).toEqual([notice, { ...notice, order: 'ORD-2' }]);
    expect(pms.notices[0]?.idempotencyKey).toBe('msg-1');
    expect(pms.notices[1]?.idempotencyKey).toBeUndefined();

    const listed = await get(pms, '/api/notices');
    expect(listed.status).toBe(200);
    expect(listed.json).toEqual(JSON.parse(JSON.stringify(pms.notices)));
    expect((await get(pms, '/api/notices/notice-1')).json).toMatchObject({ id: 'notice-1', body: notice });
    expect((await get(pms, '/api/notices/notice-9')).status).toBe(404);
  });

  it('creates, reads and updates a patient', async () => {
    const created = await post(pms, '/api/patients', alice);
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ id: expect.any(Number), ...alice, updated_at: expect.any(String) });
    expect(created.headers.get('location')).toBe(`/api/patients/${created.json.id}`);
    expect((await get(pms, `/api/patients/${created.json.id}`)).json).toEqual(created.json);

    const changed = await call(pms, 'PUT', `/api/patients/${created.json.id}`, { family: 'Married' });
    expect(changed.status).toBe(200);
    expect(changed.json).toMatchObject({ ...alice, family: 'Married', id: created.json.id });
    expect(changed.json.updated_at >= created.json.updated_at).toBe(true);
    // A full update may send the record back as read (id and updated_at are ignored).
    const full = await call(pms, 'PUT', `/api/patients/${created.json.id}`, {
      ...changed.json,
      given: 'Alicia',
    });
    expect(full.json).toMatchObject({ family: 'Married', given: 'Alicia' });
    expect((await call(pms, 'PUT', '/api/patients/999', { family: 'X' })).status).toBe(404);
  });

  it('refuses a bad field with 400 naming it, and a taken MRN with 409', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ ...alice, birth_date: '14/02/1980' }, 'birth_date', 'birth_date must be a date YYYY-MM-DD'],
      [{ ...alice, birth_date: '1980-02-30' }, 'birth_date', 'birth_date must be a date YYYY-MM-DD'],
      [{ ...alice, sex: 'female' }, 'sex', 'sex must be one of F, M, O, U'],
      [{ ...alice, family: ' ' }, 'family', 'family must not be empty'],
      [{ ...alice, mrn: undefined }, 'mrn', 'mrn is required'],
      [{ ...alice, nickname: 'Al' }, 'nickname', 'nickname is not a field of this record'],
    ];
    for (const [body, field, message] of cases) {
      const res = await post(pms, '/api/patients', body);
      expect({ status: res.status, json: res.json }).toEqual({
        status: 400,
        json: { error: 'invalid_field', field, message },
      });
    }
    expect((await post(pms, '/api/patients', alice)).status).toBe(201);
    const again = await post(pms, '/api/patients', { ...alice, given: 'Other' });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ error: 'conflict', field: 'mrn' });
    const appointment = await post(pms, '/api/appointments', {
      mrn: 'MRN-NOBODY',
      start: '2026-12-08T09:30:00-05:00',
    });
    expect(appointment.json).toEqual({
      error: 'invalid_field',
      field: 'mrn',
      message: 'mrn names no patient of the PMS',
    });
    const noZone = await post(pms, '/api/appointments', { mrn: alice.mrn, start: '2026-12-08T09:30:00' });
    expect(noZone.json).toMatchObject({ field: 'start' });
    const amount = await post(pms, '/api/charges', { mrn: alice.mrn, code: '99213', amount: '125' });
    expect(amount.json).toMatchObject({ field: 'amount', message: 'amount must be a number' });
  });

  it('keeps appointments and charges with numbers of their own; DELETE cancels', async () => {
    await post(pms, '/api/patients', alice);
    const a = await post(pms, '/api/appointments', {
      mrn: alice.mrn,
      start: '2026-12-08T09:30:00-05:00',
      practitioner: 'DR-ORTIZ',
    });
    expect(a.status).toBe(201);
    expect(a.json).toEqual({
      id: expect.any(Number),
      appointment_id: `APT-${String(a.json.id).padStart(6, '0')}`,
      mrn: alice.mrn,
      start: '2026-12-08T09:30:00-05:00',
      duration_min: 30,
      status: 'booked',
      practitioner: 'DR-ORTIZ',
      location: null,
      updated_at: expect.any(String),
    });
    const cancelled = await call(pms, 'DELETE', `/api/appointments/${a.json.id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.json).toMatchObject({ id: a.json.id, status: 'cancelled' });
    expect((await get(pms, `/api/appointments/${a.json.id}`)).json.status).toBe('cancelled');

    const c = await post(pms, '/api/charges', {
      mrn: alice.mrn,
      code: '99213',
      description: 'Office visit',
      amount: 125.004,
      service_date: '2026-12-08',
    });
    expect(c.json).toEqual({
      id: expect.any(Number),
      charge_number: `CHG-${String(c.json.id).padStart(6, '0')}`,
      mrn: alice.mrn,
      code: '99213',
      description: 'Office visit',
      amount: 125,
      currency: 'USD',
      status: 'billed',
      service_date: '2026-12-08',
      updated_at: expect.any(String),
    });
    const taken = await post(pms, '/api/charges', { ...c.json, id: undefined, updated_at: undefined });
    expect(taken.status).toBe(409);
    expect((await call(pms, 'DELETE', `/api/patients/1`)).status).toBe(405);
  });

  it('lists page by page with a next link, and filters on updated_since', async () => {
    for (let i = 1; i <= 5; i++) {
      expect((await post(pms, '/api/patients', { ...alice, mrn: `MRN-${i}` })).status).toBe(201);
    }
    const first = await get(pms, '/api/patients?per_page=2');
    expect(first.json).toMatchObject({ page: 1, per_page: 2, total: 5 });
    expect(first.json.items.map((p: { mrn: string }) => p.mrn)).toEqual(['MRN-1', 'MRN-2']);
    const seen: string[] = [];
    let next: string | null = `${pms.url}/api/patients?per_page=2`;
    while (next) {
      const page = (await (await fetch(next)).json()) as {
        items: Array<{ mrn: string }>;
        next: string | null;
      };
      seen.push(...page.items.map((p) => p.mrn));
      next = page.next;
    }
    expect(seen).toEqual(['MRN-1', 'MRN-2', 'MRN-3', 'MRN-4', 'MRN-5']);
    expect(first.json.next).toBe(`${pms.url}/api/patients?page=2&per_page=2`);

    const third = (await get(pms, '/api/patients?per_page=2&page=2')).json.items[0];
    const since = await get(pms, `/api/patients?updated_since=${encodeURIComponent(third.updated_at)}`);
    expect(since.json.items.map((p: { mrn: string }) => p.mrn)).toEqual(['MRN-3', 'MRN-4', 'MRN-5']);
    const before = await get(
      pms,
      `/api/patients?updated_since=&updated_before=${encodeURIComponent(third.updated_at)}`,
    );
    expect(before.json.total).toBe(2);
    const bad = await get(pms, '/api/patients?per_page=0');
    expect(bad.json).toMatchObject({ error: 'invalid_query', field: 'per_page' });
    expect((await get(pms, '/api/patients?updated_since=yesterday')).json).toMatchObject({
      field: 'updated_since',
    });
  });

  it('exports CSV with a header row and RFC 4180 quoting', async () => {
    await post(pms, '/api/patients', { ...alice, family: 'O\'Brien, "Jr"', given: 'Line\nBreak' });
    const res = await fetch(`${pms.url}/api/export/patients.csv`);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await res.text();
    // A header row, one record (its quoted LF is no line end), CRLF after each.
    expect(text).toMatch(
      /^id,mrn,family,given,birth_date,sex,updated_at\r\n\d+,MRN-1001,"O'Brien, ""Jr""","Line\nBreak",1980-02-14,F,[^,\r\n]+Z\r\n$/,
    );
    expect(await (await fetch(`${pms.url}/api/export/charges.csv`)).text()).toBe(
      'id,charge_number,mrn,code,description,amount,currency,status,service_date,updated_at\r\n',
    );
    expect((await post(pms, '/api/export', '')).json).toMatchObject({ error: 'no_export_dir' });
  });

  it('refuses what is not one JSON object, with a JSON error and nothing stored', async () => {
    const text = await post(pms, '/api/notices', 'results ready', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.json).toMatchObject({ error: 'unsupported_media_type' });
    expect((await post(pms, '/api/patients', '{"type":')).json).toMatchObject({ error: 'invalid_json' });
    const array = await post(pms, '/api/notices', '[1,2]');
    expect(array.status).toBe(400);
    expect(array.json).toMatchObject({ error: 'invalid_body', message: 'a notice must be one JSON object' });
    expect((await get(pms, '/api/nowhere')).status).toBe(404);
    expect(pms.notices).toEqual([]);
    expect(pms.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /api/notices 415',
      'POST /api/patients 400',
      'POST /api/notices 400',
      'GET /api/nowhere 404',
    ]);
  });

  it('answers an injected 503 for N requests without storing, then recovers', async () => {
    pms.setFailure(503, { times: 2 });
    for (let i = 0; i < 2; i++) {
      const res = await post(pms, '/api/patients', alice);
      expect(res.status).toBe(503);
      expect(res.json).toMatchObject({ error: 'injected' });
    }
    expect((await get(pms, '/api/patients')).json.total).toBe(0);
    expect((await post(pms, '/api/notices', notice)).status).toBe(201);
    expect(pms.notices).toHaveLength(1);
    pms.setFailure('reset');
    await expect(fetch(`${pms.url}/api/patients`)).rejects.toThrow();
    pms.setFailure(undefined);
    expect(pms.requests.map((r) => r.status)).toEqual([503, 503, 200, 201, 0]);
    expect(() => pms.setFailure(99)).toThrow('a failure status must be an HTTP status (100-599), got 99');
  });

  it('requires the bearer token when one is configured', async () => {
    const secured = await startPms({ bearerToken: 't0ken' });
    try {
      expect((await post(secured, '/api/notices', notice)).status).toBe(401);
      const authorized = await post(secured, '/api/notices', notice, {
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

describe('PMS stand-in on a database file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-pms-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps its tables in the file, readable by another connection, and across a restart', async () => {
    const file = join(dir, 'pms.db');
    const pms = await startPms({ dbFile: file, patients: [alice] });
    try {
      const p = await get(pms, '/api/patients');
      expect(p.json.total).toBe(1);
      await post(pms, '/api/appointments', { mrn: alice.mrn, start: '2026-12-08T09:30:00-05:00' });
      await post(pms, '/api/charges', {
        mrn: alice.mrn,
        code: '99213',
        amount: 48.5,
        service_date: '2026-12-08',
      });

      const reader = new Database(file, { readonly: true });
      try {
        expect(reader.prepare('SELECT mrn, family, given, birth_date, sex FROM patients').all()).toEqual([
          { mrn: 'MRN-1001', family: 'Testpatient', given: 'Alice', birth_date: '1980-02-14', sex: 'F' },
        ]);
        expect(reader.prepare('SELECT appointment_id, start, status FROM appointments').get()).toEqual({
          appointment_id: 'APT-000001',
          start: '2026-12-08T09:30:00-05:00',
          status: 'booked',
        });
        const charge = reader.prepare('SELECT charge_number, amount, status FROM charges').get();
        expect(charge).toEqual({ charge_number: 'CHG-000001', amount: 48.5, status: 'billed' });
      } finally {
        reader.close();
      }
    } finally {
      await pms.stop();
    }
    const again = await startPms({ dbFile: file, patients: [alice] });
    try {
      expect((await get(again, '/api/patients')).json.total).toBe(1);
      expect((await get(again, '/api/charges')).json.items[0]).toMatchObject({ charge_number: 'CHG-000001' });
    } finally {
      await again.stop();
    }
  });

  it('writes the nightly CSV export to its folder', async () => {
    const exportDir = join(dir, 'exports');
    const pms = await startPms({ exportDir });
    try {
      await post(pms, '/api/patients', alice);
      const res = await post(pms, '/api/export?date=2026-12-07', '');
      expect(res.status).toBe(201);
      expect(res.json).toEqual({
        date: '2026-12-07',
        files: ['patients', 'appointments', 'charges'].map((e) => join(exportDir, `${e}-2026-12-07.csv`)),
      });
      expect(readdirSync(exportDir).sort()).toEqual([
        'appointments-2026-12-07.csv',
        'charges-2026-12-07.csv',
        'patients-2026-12-07.csv',
      ]);
      expect(readFileSync(join(exportDir, 'patients-2026-12-07.csv'), 'utf8')).toMatch(
        /^id,mrn,family,given,birth_date,sex,updated_at\r\n1,MRN-1001,Testpatient,Alice,1980-02-14,F,\d{4}-.*Z\r\n$/,
      );
      expect((await post(pms, '/api/export?date=07/12/2026', '')).json).toMatchObject({ field: 'date' });
    } finally {
      await pms.stop();
    }
  });
});
