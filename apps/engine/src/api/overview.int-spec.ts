import { AccessService, AuditLog, type Scope } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../test/support/engine-process';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(90_000);

// Answers are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

function oru(controlId: string, mrn: string): Hl7Message {
  return Hl7Message.parse(
    [
      `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|${controlId}|P|2.5.1`,
      `PID|1||${mrn}^^^NORTH^MR||DOE^JANE||19700101|F`,
      'OBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F',
      '',
    ].join('\r'),
  );
}

/** The events of a server-sent event stream, one at a time (comments are skipped). */
class EventStream {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private reading?: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>;
  /** Every comment line seen (`: ping`). */
  readonly comments: string[] = [];

  constructor(
    readonly res: Response,
    private readonly hangUp: AbortController,
  ) {
    this.reader = (res.body as ReadableStream<Uint8Array>).getReader();
  }

  /** The next event, or `closed` when the server ended the stream; rejects after `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<{ event: string; data: Body } | 'closed'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) this.comments.push(line);
          else if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) return { event, data: JSON.parse(data.join('\n')) as Body };
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no event in time');
      let timer: NodeJS.Timeout | undefined;
      // A read still pending from a call that timed out is the one to wait for (its chunk is not lost).
      this.reading ??= this.reader.read();
      const r = await Promise.race([
        this.reading,
        new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), left))),
      ]).finally(() => clearTimeout(timer));
      if (r === 'late') throw new Error('no event in time');
      this.reading = undefined;
      if (r.done) return 'closed';
      this.buffer += this.decoder.decode(r.value, { stream: true });
    }
  }

  close(): void {
    this.hangUp.abort();
  }
}

describe('the dashboard: GET /api/v1/overview and the live GET /api/v1/events', () => {
  let dir: string;
  let running: RunningEngine;
  let store: Store;
  let access: AccessService;
  let labPort: number;
  let outagePort: number;
  let peer: Server;
  /** What the EHR peer answers. */
  let peerStatus = 200;
  const streams: EventStream[] = [];
  const logs: string[] = [];
  const base = () => `http://127.0.0.1:${running.httpPort}`;

  const keyFor = async (scopes: Scope[], channels?: string[]) =>
    (await access.createKey({ name: `k-${scopes.join('+')}`, scopes, ...(channels ? { channels } : {}) }))
      .secret;
  const get = async (path: string, token: string) =>
    fetch(`${base()}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const getJson = async (path: string, token: string): Promise<Body> => {
    const res = await get(path, token);
    expect(res.status).toBe(200);
    return res.json();
  };
  const send = async (port: number, controlId: string, mrn: string) => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      return (await client.send(oru(controlId, mrn))).code;
    } finally {
      await client.close();
    }
  };
  const open = async (headers: Record<string, string>): Promise<EventStream | Response> => {
    const hangUp = new AbortController();
    const res = await fetch(`${base()}/api/v1/events`, { headers, signal: hangUp.signal });
    if (res.status !== 200) return res;
    const s = new EventStream(res, hangUp);
    streams.push(s);
    return s;
  };
  const signIn = async (username: string, password: string) => {
    const res = await fetch(`${base()}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const body = res.status === 201 ? ((await res.json()) as { csrf_token: string }) : undefined;
    return {
      status: res.status,
      cookie: (res.headers.get('set-cookie') ?? '').split(';')[0] as string,
      csrf: body?.csrf_token ?? '',
    };
  };
  const channelOf = (overview: Body, id: string) =>
    (overview.channels as Array<{ id: string }>).find((c) => c.id === id) as Body;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-overview-'));
    mkdirSync(join(dir, 'channels'));
    peer = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = peerStatus;
        res.end(peerStatus === 200 ? '{}' : 'down for maintenance');
      });
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const peerPort = (peer.address() as { port: number }).port;
    labPort = await freePort();
    outagePort = await freePort();
    // Nothing listens there: every attempt is refused.
    const closedPort = await freePort();
    writeFileSync(
      join(dir, 'channels', 'lab.yaml'),
      `id: lab
description: Lab results to the EHR
source: { type: mllp, listen: ${labPort} }
keys: { mrn: PID-3.1 }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out')}
  - name: ehr
    type: http
    url: http://127.0.0.1:${peerPort}/fhir
    ordering: PID-3.1
    retry: { attempts: 3, initial_delay_ms: 100, multiplier: 1, jitter: 0 }
`,
    );
    writeFileSync(
      join(dir, 'channels', 'outage.yaml'),
      `id: outage
source: { type: mllp, listen: ${outagePort} }
destinations:
  - name: billing
    type: http
    url: http://127.0.0.1:${closedPort}/bill
    retry: { attempts: 100, initial_delay_ms: 60000 }
`,
    );
    const config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: '0',
      SINEW_PIPELINE_THREADS: '0',
      SINEW_API_RATE_LIMIT: '100000',
      SINEW_EVENTS_INTERVAL_MS: '200',
    });
    running = await startEngine(config, createLogger('warn', { write: (line: string) => logs.push(line) }));
    store = await openStore({ dataDir: join(dir, 'data') });
    access = new AccessService(store);
  });

  afterAll(async () => {
    for (const s of streams) s.close();
    await running?.stop();
    await store?.close();
    await new Promise((resolve) => peer?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
    // Every stream's audit row was written, the last ones as the engine stopped.
    expect(logs.filter((l) => l.includes('audit log append failed'))).toEqual([]);
  });

  it('says at start, with no user yet, how to create the first administrator', () => {
    const line = logs.find((l) => l.includes('no user yet'));
    expect(line).toBeDefined();
    expect(JSON.parse(line as string)).toMatchObject({
      level: 'warn',
      create: `printf '%s' "$PASSWORD" | sinew users create --username admin --role admin --password-stdin --data ${join(dir, 'data')}`,
    });
  });

  it('counts the last 24 hours, the queue and each destination; a destination down makes its channel failing', async () => {
    const reader = await keyFor(['channels:read']);
    const empty = await getJson('/api/v1/overview', reader);
    expect(Date.now() - Date.parse(empty.generated_at)).toBeLessThan(10_000);
    expect(empty.channels.map((c: { id: string }) => c.id)).toEqual(['lab', 'outage']);
    expect(channelOf(empty, 'lab')).toEqual({
      id: 'lab',
      description: 'Lab results to the EHR',
      state: 'running',
      paused: false,
      source: { type: 'mllp', listening: expect.stringContaining(String(labPort)) },
      last_24h: {
        received: 0,
        filtered: 0,
        rejected: 0,
        errored: 0,
        processed: 0,
        failed: 0,
        sent: 0,
        dead_lettered: 0,
      },
      queued: 0,
      destinations: [
        { name: 'archive', type: 'file', ordering: 'none', up: true, queued: 0, dead_letters: 0 },
        { name: 'ehr', type: 'http', ordering: 'PID-3.1', up: true, queued: 0, dead_letters: 0 },
      ],
    });

    for (const id of ['OV-1', 'OV-2']) expect(await send(labPort, id, 'MRN-OV-1')).toBe('AA');
    expect(await send(outagePort, 'OV-3', 'MRN-OV-2')).toBe('AA');
    const after = await waitFor(
      'both lab messages delivered and the billing destination down',
      async () => {
        const o = await getJson('/api/v1/overview', reader);
        return channelOf(o, 'lab').last_24h.sent === 4 && channelOf(o, 'outage').destinations[0].up === false
          ? o
          : undefined;
      },
      20_000,
      100,
    );
    expect(channelOf(after, 'lab')).toMatchObject({
      state: 'running',
      last_24h: { received: 2, processed: 2, failed: 0, sent: 4, dead_lettered: 0 },
      queued: 0,
    });
    expect(channelOf(after, 'lab').state_reason).toBeUndefined();
    const outage = channelOf(after, 'outage');
    expect(outage).toMatchObject({ state: 'failing', queued: 1, last_24h: { received: 1, processed: 1 } });
    expect(outage.state_reason).toMatch(/^destination billing down since \S+ \(ECONNREFUSED\)$/);
    const billing = outage.destinations[0];
    expect(billing).toMatchObject({ name: 'billing', up: false, down_reason: 'ECONNREFUSED', queued: 1 });
    expect(Date.parse(billing.down_since)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(billing.oldest_queued_at)).toBeGreaterThan(Date.now() - 60_000);

    // The EHR answers 500: three attempts, then a dead letter, and the EHR is down.
    peerStatus = 500;
    expect(await send(labPort, 'OV-4', 'MRN-OV-3')).toBe('AA');
    const failing = await waitFor(
      'the EHR down after a dead letter',
      async () => {
        const lab = channelOf(await getJson('/api/v1/overview', reader), 'lab');
        return lab.destinations[1].dead_letters === 1 && lab.destinations[1].up === false ? lab : undefined;
      },
      20_000,
      100,
    );
    expect(failing).toMatchObject({
      state: 'failing',
      last_24h: { received: 3, processed: 2, failed: 1, sent: 5, dead_lettered: 1 },
      destinations: [
        { name: 'archive', up: true },
        { name: 'ehr', down_reason: 'HTTP 500' },
      ],
    });
    expect(failing.state_reason).toMatch(/^destination ehr down since \S+ \(HTTP 500\)$/);
    peerStatus = 200;
    // Up again (the next delivery is sent): still failing, for the dead letter of the last hour.
    expect(await send(labPort, 'OV-6', 'MRN-OV-9')).toBe('AA');
    const recovered = await waitFor(
      'the EHR up again',
      async () => {
        const lab = channelOf(await getJson('/api/v1/overview', reader), 'lab');
        return lab.destinations[1].up === true ? lab : undefined;
      },
      30_000,
      200,
    );
    expect(recovered.state).toBe('failing');
    expect(recovered.state_reason).toBe('1 dead-lettered delivery in the last hour');

    // A key limited to one channel sees that one only; without channels:read, nothing.
    const limited = await getJson('/api/v1/overview', await keyFor(['channels:read'], ['outage']));
    expect(limited.channels.map((c: { id: string }) => c.id)).toEqual(['outage']);
    expect((await get('/api/v1/overview', await keyFor(['messages:read']))).status).toBe(403);
    expect((await fetch(`${base()}/api/v1/overview`)).status).toBe(401);
  });

  it('answers null for whether a destination is up in a process without workers', async () => {
    const apiOnly = await startEngine(
      loadConfig({
        SINEW_CHANNELS_DIR: join(dir, 'channels'),
        SINEW_DATA_DIR: join(dir, 'data'),
        SINEW_HTTP_PORT: '0',
        SINEW_PIPELINE_THREADS: '0',
        SINEW_ROLES: 'api',
      }),
      createLogger('warn', { write: () => undefined }),
    );
    try {
      const res = await fetch(`http://127.0.0.1:${apiOnly.httpPort}/api/v1/overview`, {
        headers: { authorization: `Bearer ${await keyFor(['channels:read'])}` },
      });
      const lab = channelOf((await res.json()) as Body, 'lab');
      expect(lab.destinations.map((d: { up: unknown }) => d.up)).toEqual([null, null]);
      // The ledger's counters are the same from any process.
      expect(lab.last_24h.received).toBeGreaterThanOrEqual(4);
      expect(lab.source).toEqual({ type: 'mllp' });
    } finally {
      await apiOnly.stop();
    }
  });

  it('shows a paused channel as paused, by whom and since when', async () => {
    const operator = await keyFor(['channels:operate', 'channels:read']);
    const paused = await fetch(`${base()}/api/v1/channels/outage/pause`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}` },
    });
    expect(paused.status).toBe(201);
    try {
      const outage = channelOf(await getJson('/api/v1/overview', operator), 'outage');
      expect(outage).toMatchObject({ state: 'paused', paused: true });
      expect(outage.state_reason).toMatch(/^paused by key:k-channels:operate\+channels:read since \S+$/);
    } finally {
      await fetch(`${base()}/api/v1/channels/outage/resume`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}` },
      });
    }
    expect(channelOf(await getJson('/api/v1/overview', operator), 'outage').state).toBe('failing');
  });

  it('streams the overview to a signed-in browser at once and again when it changes, to at most five streams each', async () => {
    await access.createUser({ username: 'watcher', role: 'viewer', password: 'a long enough password' });
    const { status, cookie } = await signIn('watcher', 'a long enough password');
    expect(status).toBe(201);
    const stream = (await open({ cookie })) as EventStream;
    expect(stream).toBeInstanceOf(EventStream);
    expect(stream.res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.res.headers.get('cache-control')).toBe('no-store');
    const first = await stream.next();
    if (first === 'closed') throw new Error('the stream closed');
    expect(first.event).toBe('overview');
    expect(first.data.channels.map((c: { id: string }) => c.id)).toEqual(['lab', 'outage']);
    const before = channelOf(first.data, 'lab').last_24h.received;

    expect(await send(labPort, 'OV-5', 'MRN-OV-4')).toBe('AA');
    const changed = await waitFor(
      'an event with the new message',
      async () => {
        const e = await stream.next();
        if (e === 'closed') throw new Error('the stream closed');
        return channelOf(e.data, 'lab').last_24h.received === before + 1 ? e : undefined;
      },
      20_000,
      0,
    );
    expect(changed.event).toBe('overview');

    // A key limited to one channel streams that one only.
    const limited = (await open({
      authorization: `Bearer ${await keyFor(['channels:read'], ['lab'])}`,
    })) as EventStream;
    const only = await limited.next();
    if (only === 'closed') throw new Error('the stream closed');
    expect(only.data.channels.map((c: { id: string }) => c.id)).toEqual(['lab']);
    limited.close();

    // Nothing changes: no event (the timer runs every 200 ms here).
    await waitFor(
      'the lab channel settled',
      async () =>
        channelOf(await getJson('/api/v1/overview', await keyFor(['channels:read'])), 'lab').queued === 0,
      20_000,
      100,
    );
    let settled: Body;
    for (;;) {
      const e = await stream.next(1_500).catch(() => undefined);
      if (e === undefined) break;
      if (e === 'closed') throw new Error('the stream closed');
      settled = e;
    }
    expect(settled === undefined || channelOf(settled.data, 'lab').queued === 0).toBe(true);

    // Five streams per user: the sixth is refused while they are open, allowed once one closes.
    const more: EventStream[] = [];
    for (let i = 0; i < 4; i++) more.push((await open({ cookie })) as EventStream);
    expect(more.every((s) => s instanceof EventStream)).toBe(true);
    const sixth = (await open({ cookie })) as Response;
    expect(sixth.status).toBe(429);
    expect(sixth.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await sixth.json()) as Body).code).toBe('events.too_many');
    more[0]!.close();
    const again = await waitFor(
      'a stream once one closed',
      async () => {
        const s = await open({ cookie });
        return s instanceof EventStream ? s : undefined;
      },
      10_000,
      100,
    );
    expect((await again.next()) !== 'closed').toBe(true);
    for (const s of [...more, again]) s.close();

    // No stream without credentials or without channels:read.
    expect(((await open({})) as Response).status).toBe(401);
    const noScope = (await open({ authorization: `Bearer ${await keyFor(['messages:read'])}` })) as Response;
    expect(noScope.status).toBe(403);
    stream.close();
  });

  it('keeps a quiet stream open with a ping comment every 15 s', async () => {
    const stream = (await open({
      authorization: `Bearer ${await keyFor(['channels:read'])}`,
    })) as EventStream;
    expect((await stream.next()) !== 'closed').toBe(true);
    // Events may come meanwhile (the queue draining); the ping is a comment beside them.
    const deadline = Date.now() + 20_000;
    while (!stream.comments.includes(': ping') && Date.now() < deadline) {
      const e = await stream.next(1_000).catch(() => undefined);
      if (e === 'closed') throw new Error('the stream closed');
    }
    expect(stream.comments).toContain(': ping');
    stream.close();
  });

  it('answers a message without content when asked (content=false), and finds messages by one free text', async () => {
    const engineer = await keyFor(['messages:read', 'phi:read']);
    const [m] = await store.searchMessages({ controlId: 'OV-1' });
    const full = await getJson(`/api/v1/messages/${m!.id}`, engineer);
    expect(full.content.raw.data).toContain('DOE^JANE');
    expect(full.keys).toEqual({ mrn: 'MRN-OV-1' });
    const lean = await getJson(`/api/v1/messages/${m!.id}?content=false`, engineer);
    expect(lean.content).toBeUndefined();
    expect(lean.keys).toBeUndefined();
    expect(JSON.stringify(lean)).not.toContain('DOE^JANE');
    expect(JSON.stringify(lean)).not.toContain('MRN-OV-1');
    expect(lean.deliveries.map((d: { destination: string }) => d.destination).sort()).toEqual([
      'archive',
      'ehr',
    ]);
    for (const d of lean.deliveries) {
      expect(d.payload).toBeUndefined();
      expect(d.attempt_list.length).toBeGreaterThan(0);
      for (const a of d.attempt_list) expect(a.response).toBeUndefined();
    }
    expect(lean.control_id).toBe('OV-1');
    expect((await get(`/api/v1/messages/${m!.id}?content=maybe`, engineer)).status).toBe(400);

    const q = async (text: string, extra = '') =>
      (
        (await getJson(`/api/v1/messages?q=${encodeURIComponent(text)}${extra}`, engineer)) as {
          items: Array<{ id: string; control_id: string }>;
        }
      ).items.map((i) => i.control_id);
    expect(await q('MRN-OV-1')).toEqual(['OV-2', 'OV-1']);
    expect(await q('MRN-OV-1', '&limit=1')).toEqual(['OV-2']);
    expect(await q('OV-3')).toEqual(['OV-3']);
    expect(await q(m!.id)).toEqual(['OV-1']);
    expect(await q('MRN-OV-2', '&channel=lab')).toEqual([]);
    expect(await q('MRN-OV')).toEqual([]);
    // Paging: the cursor carries on within the free-text search.
    const page = await getJson('/api/v1/messages?q=MRN-OV-1&limit=1', engineer);
    const next = await getJson(`/api/v1/messages?q=MRN-OV-1&limit=1&cursor=${page.next_cursor}`, engineer);
    expect(next.items.map((i: { control_id: string }) => i.control_id)).toEqual(['OV-1']);
    expect(next.next_cursor).toBeNull();

    // The audit log: the content read is not one, and the search text is not there.
    await waitFor(
      'the audit rows',
      async () => {
        const rows = (await new AuditLog(store).search({ limit: 1000 })).items;
        const read = rows.filter((r) => r.action === 'GET /api/v1/messages/{id}' && r.outcome === '200');
        const searched = rows.filter((r) => r.action === 'GET /api/v1/messages' && r.filter?.q !== undefined);
        if (read.length < 2 || searched.length < 7) return undefined;
        expect(read.filter((r) => r.filter?.content === 'false').every((r) => !r.contentRead)).toBe(true);
        expect(read.some((r) => r.filter?.content === 'false')).toBe(true);
        expect(read.some((r) => r.contentRead)).toBe(true);
        expect(searched.every((r) => r.filter?.q === '*')).toBe(true);
        expect(JSON.stringify(rows)).not.toContain('MRN-OV');
        return true;
      },
      10_000,
      100,
    );
  });

  it('disables, enables, sets the password and the role of a user', async () => {
    const admin = await keyFor(['admin']);
    const post = (path: string, body?: unknown) =>
      fetch(`${base()}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${admin}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    const created = await post('/api/v1/users', {
      username: 'nurse',
      role: 'viewer',
      password: 'the first long password',
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const listed = async () =>
      ((await getJson('/api/v1/users', admin)).items as Array<{ id: string }>).find((u) => u.id === id);

    const disabled = await post(`/api/v1/users/${id}/disable`);
    expect(disabled.status).toBe(201);
    const asDisabled = (await disabled.json()) as Body;
    expect(asDisabled).toMatchObject({ id, username: 'nurse', role: 'viewer', state: 'disabled' });
    expect(asDisabled).toEqual(await listed());
    expect((await signIn('nurse', 'the first long password')).status).toBe(401);

    const enabled = (await (await post(`/api/v1/users/${id}/enable`)).json()) as Body;
    expect(enabled.state).toBe('active');
    expect((await signIn('nurse', 'the first long password')).status).toBe(201);

    expect((await post(`/api/v1/users/${id}/password`, { password: 'short' })).status).toBe(400);
    const pw = await post(`/api/v1/users/${id}/password`, { password: 'the second long password' });
    expect(pw.status).toBe(201);
    expect(((await pw.json()) as Body).username).toBe('nurse');
    expect((await signIn('nurse', 'the first long password')).status).toBe(401);
    const session = await signIn('nurse', 'the second long password');
    expect(session.status).toBe(201);

    // A new role holds from the session's next request.
    const asNurse = () =>
      fetch(`${base()}/api/v1/dead-letters/replay`, {
        method: 'POST',
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
        body: JSON.stringify({ dry_run: true }),
      });
    expect((await asNurse()).status).toBe(403);
    const role = await post(`/api/v1/users/${id}/role`, { role: 'operator' });
    expect(role.status).toBe(201);
    const asOperator = (await role.json()) as Body;
    expect(asOperator.role).toBe('operator');
    expect(asOperator.scopes).toContain('messages:replay');
    expect(asOperator).toEqual(await listed());
    expect((await asNurse()).status).toBe(201);

    expect((await post(`/api/v1/users/${id}/role`, { role: 'superuser' })).status).toBe(400);
    expect((await post('/api/v1/users/no-such-user/disable')).status).toBe(404);
    expect((await post('/api/v1/users/no-such-user/role', { role: 'viewer' })).status).toBe(404);
    // The last active administrator keeps the role and cannot be disabled.
    const boss = await access.createUser({
      username: 'boss',
      role: 'admin',
      password: 'a long enough password',
    });
    const admins = (await access.listUsers()).filter((u) => u.role === 'admin' && u.state === 'active');
    expect(admins.map((u) => u.username)).toEqual(['boss']);
    const demote = await post(`/api/v1/users/${boss.id}/role`, { role: 'viewer' });
    expect(demote.status).toBe(409);
    expect(((await demote.json()) as Body).detail).toContain('last active administrator');
    expect((await post(`/api/v1/users/${boss.id}/disable`)).status).toBe(409);
    expect((await post(`/api/v1/users/${id}/role`, { role: 'admin' })).status).toBe(201);
    expect((await post(`/api/v1/users/${boss.id}/role`, { role: 'engineer' })).status).toBe(201);
    // Not for a viewer.
    expect((await get('/api/v1/users', await keyFor(['channels:read']))).status).toBe(403);
  });

  it('ends a stream whose user is disabled or whose key is revoked', async () => {
    const u = await access.createUser({
      username: 'leaver',
      role: 'viewer',
      password: 'a long enough password',
    });
    const { cookie } = await signIn('leaver', 'a long enough password');
    const asUser = (await open({ cookie })) as EventStream;
    const key = await access.createKey({ name: 'wallboard', scopes: ['channels:read'] });
    const asKey = (await open({ authorization: `Bearer ${key.secret}` })) as EventStream;
    for (const s of [asUser, asKey]) expect((await s.next()) !== 'closed').toBe(true);
    await access.disableUser(u.id);
    await access.revokeKey(key.id);
    for (const s of [asUser, asKey]) {
      let end: Awaited<ReturnType<EventStream['next']>>;
      do end = await s.next(10_000);
      while (end !== 'closed');
    }
    expect(((await open({ cookie })) as Response).status).toBe(401);
  });

  it('ends every open stream when the engine stops, and the stop does not wait for them', async () => {
    const stream = (await open({
      authorization: `Bearer ${await keyFor(['channels:read'])}`,
    })) as EventStream;
    expect((await stream.next()) !== 'closed').toBe(true);
    const started = Date.now();
    await running.stop();
    expect(Date.now() - started).toBeLessThan(10_000);
    let end: Awaited<ReturnType<EventStream['next']>>;
    do end = await stream.next(5_000);
    while (end !== 'closed');
    expect(end).toBe('closed');
  });
});
