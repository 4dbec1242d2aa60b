import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReadContext, SideRecord } from '../types';
import { ReconcileReadError } from './errors';
import { httpJsonAdapter } from './http-json';

const TOTAL = 250;
const PAGE = 100;
const patients = Array.from({ length: TOTAL }, (_, i) => ({
  mrn: `M${String(i).padStart(4, '0')}`,
  name: { family: `Fam${i}` },
  dob: '1970-01-01',
  status: i % 5 === 0 ? 'inactive' : 'active',
  updated_at: '2026-12-06T10:00:00Z',
}));

function context(overrides: Partial<ReadContext> = {}): ReadContext {
  return {
    entity: 'patients',
    side: 'source',
    period: { label: 'all' },
    fields: ['family', 'birth_date'],
    withStatus: false,
    signal: new AbortController().signal,
    baseDir: __dirname,
    ...overrides,
  };
}

async function collect(iterable: AsyncIterable<SideRecord>): Promise<SideRecord[]> {
  const out: SideRecord[] = [];
  for await (const record of iterable) out.push(record);
  return out;
}

describe('http_json adapter against a JSON API', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ url: string; auth?: string; clinic?: string }> = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const url = new URL(req.url ?? '/', 'http://pms');
      seen.push({
        url: req.url ?? '',
        auth: req.headers.authorization,
        clinic: req.headers['x-clinic'] as string,
      });
      const send = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.headers.authorization !== 'Bearer pms-token') return send(401, { error: 'unauthorised' });
      const offset = Number(url.searchParams.get('after') ?? 0);
      switch (url.pathname) {
        case '/api/patients': {
          const items = patients.slice(offset, offset + PAGE);
          const next = offset + PAGE < TOTAL ? `/api/patients?after=${offset + PAGE}` : null;
          return send(200, { items, next });
        }
        case '/api/numbered': {
          const page = Number(url.searchParams.get('page'));
          return send(200, patients.slice((page - 1) * PAGE, page * PAGE));
        }
        case '/api/cursor': {
          const cursor = Number(url.searchParams.get('cursor') ?? 0);
          const data = patients.slice(cursor, cursor + PAGE);
          return send(200, {
            data,
            meta: { next_cursor: cursor + PAGE < TOTAL ? String(cursor + PAGE) : '' },
          });
        }
        case '/api/broken':
          return send(503, { error: 'down' });
        default:
          return send(404, { error: 'not found' });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    seen.length = 0;
  });

  const system = (auth: unknown = { bearer: 'pms-token' }) =>
    httpJsonAdapter.system.parse({
      type: 'http_json',
      base_url: base,
      headers: { 'X-Clinic': 'main' },
      auth,
    });
  const reader = (side: Record<string, unknown>, auth?: unknown) =>
    httpJsonAdapter.create(
      system(auth),
      httpJsonAdapter.side.parse({
        key: '$.mrn',
        fields: { family: '$.name.family', birth_date: "$['dob']" },
        status: '$.status',
        updated_at: '$.updated_at',
        ...side,
      }),
      { systemName: 'pms' },
    );

  it('follows relative next links, with the period in the URL template, the bearer and the headers', async () => {
    const period = {
      from: new Date('2026-12-06T05:00:00Z'),
      to: new Date('2026-12-07T05:00:00Z'),
      label: 'yesterday',
    };
    const records = await collect(
      reader({ path: '/api/patients?from={from}&to={to}', items: '$.items', next: '$.next' }).read(
        context({ period, withStatus: true }),
      ),
    );
    expect(records).toHaveLength(TOTAL);
    expect(records[3]).toEqual({
      key: 'M0003',
      fields: { family: 'Fam3', birth_date: '1970-01-01' },
      status: 'active',
      updatedAt: '2026-12-06T10:00:00Z',
    });
    expect(seen.map((s) => s.url)).toEqual([
      '/api/patients?from=2026-12-06T05%3A00%3A00.000Z&to=2026-12-07T05%3A00%3A00.000Z',
      '/api/patients?after=100',
      '/api/patients?after=200',
    ]);
    expect(seen.every((s) => s.auth === 'Bearer pms-token' && s.clinic === 'main')).toBe(true);
  });

  it('leaves {from} and {to} empty when the period is unbounded', async () => {
    await collect(reader({ path: 'api/patients?from={from}&to={to}', items: '$.items' }).read(context()));
    expect(seen.map((s) => s.url)).toEqual(['/api/patients?from=&to=']);
  });

  it('pages by page number until an empty page, items being the body', async () => {
    const records = await collect(reader({ path: '/api/numbered', page_param: 'page' }).read(context()));
    expect(records.map((r) => r.key)).toEqual(patients.map((p) => p.mrn));
    expect(seen.map((s) => s.url)).toEqual([1, 2, 3, 4].map((n) => `/api/numbered?page=${n}`));
  });

  it('pages by cursor', async () => {
    const records = await collect(
      reader({
        path: '/api/cursor',
        items: '$.data[*]',
        next: '$.meta.next_cursor',
        cursor_param: 'cursor',
      }).read(context()),
    );
    expect(records).toHaveLength(TOTAL);
    expect(seen.map((s) => s.url)).toEqual([
      '/api/cursor',
      '/api/cursor?cursor=100',
      '/api/cursor?cursor=200',
    ]);
  });

  it('names the system, the URL and the status when a request fails', async () => {
    const failing = await collect(reader({ path: '/api/broken' }).read(context())).catch((e: unknown) => e);
    expect(failing).toBeInstanceOf(ReconcileReadError);
    expect((failing as Error).message).toBe(`system pms: GET page 1: ${base}/api/broken answered HTTP 503`);

    const refused = await collect(
      reader({ path: '/api/patients', items: '$.items' }, { bearer: 'nope' }).read(context()),
    ).catch((e: unknown) => e);
    expect((refused as Error).message).toBe(
      `system pms: GET page 1: ${base}/api/patients answered HTTP 401 (check the system’s auth settings)`,
    );
  });

  it('says when the items are not where the settings say', async () => {
    const error = await collect(reader({ path: '/api/patients', items: '$.records' }).read(context())).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toBe(
      `system pms: GET ${base}/api/patients: the answer holds nothing at $.records`,
    );
  });

  it('refuses contradictory paging settings', () => {
    expect(() => httpJsonAdapter.side.parse({ path: '/x', key: '$.id', cursor_param: 'c' })).toThrow(
      'cursor_param needs next',
    );
    expect(() => httpJsonAdapter.side.parse({ path: '/x', key: 'id' })).toThrow('a JSONPath starts with $');
  });
});
