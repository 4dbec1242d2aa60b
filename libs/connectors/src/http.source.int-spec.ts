import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { describeWithPeer } from '@sinew/test-support/peers';
import { createTestPki, opensslPeer } from '@sinew/test-support/tls';
import { sleep } from '@sinew/test-support/wait';
import { ackFor, adt, D, recordingIngest, recordingLogger } from '../test/support';
import type { IngestReply, IngestRequest, Source } from './connector';
import { httpSource, httpSourceConfig } from './http.source';

jest.setTimeout(15_000);

const sources: Source[] = [];

async function startSource(
  answer: (request: IngestRequest) => IngestReply | Promise<IngestReply> = (req) => ({
    disposition: D.accepted,
    messageId: 'msg-1',
    ...(req.contentType === 'hl7v2' ? { reply: ackFor(req.body, 'AA') } : {}),
  }),
  config: Record<string, unknown> = {},
) {
  const ingest = recordingIngest(answer);
  const logger = recordingLogger();
  const source = httpSource.create(httpSourceConfig.parse({ listen: 0, ...config }), {
    channelId: 'web-in',
    ingest,
    logger,
  });
  await source.start();
  sources.push(source);
  const base = `http://127.0.0.1:${source.port?.() as number}`;
  return { source, ingest, logger, base };
}

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop(1_000)));
});

async function post(
  url: string,
  body: string | Buffer,
  contentType?: string,
  headers: Record<string, string> = {},
) {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers: { ...(contentType ? { 'content-type': contentType } : {}), ...headers },
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, text: bytes.toString('utf8') };
}

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;
const diagnostics = (text: string) => (json(text).issue as Array<{ diagnostics: string }>)[0]?.diagnostics;

describe('http source: content types', () => {
  it.each(['application/hl7-v2', 'x-application/hl7-v2+er7', 'text/plain; charset=utf-8'])(
    'takes %s as HL7 v2 and answers 200 with the ACK as application/hl7-v2',
    async (contentType) => {
      const { base, ingest } = await startSource();
      const res = await post(base, adt('HTTP-1'), contentType);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/hl7-v2');
      const ack = readAck(Hl7Message.parse(res.bytes));
      expect(ack).toMatchObject({ code: 'AA', controlId: 'HTTP-1' });
      expect(ingest.requests[0]).toMatchObject({
        contentType: 'hl7v2',
        source: 'http',
        remoteAddress: '127.0.0.1',
      });
      expect(ingest.requests[0]?.body).toEqual(adt('HTTP-1'));
    },
  );

  it('takes application/fhir+json and JSON with a resourceType as FHIR, other JSON as json; 202 with the id', async () => {
    const { base, ingest } = await startSource();
    const patient = JSON.stringify({ resourceType: 'Patient', active: true });
    const a = await post(base, patient, 'application/fhir+json');
    const b = await post(base, patient, 'application/json');
    const c = await post(base, '{"event":"appointment.booked","id":42}', 'application/json');
    for (const res of [a, b, c]) {
      expect(res.status).toBe(202);
      expect(json(res.text)).toEqual({ id: 'msg-1', status: 'accepted' });
    }
    expect(ingest.requests.map((r) => r.contentType)).toEqual(['fhir', 'fhir', 'json']);
    expect(ingest.requests[2]?.body.toString()).toBe('{"event":"appointment.booked","id":42}');
  });

  it('answers 415 with an OperationOutcome for other content types and for text/plain that is not HL7', async () => {
    const { base, ingest } = await startSource();
    const xml = await post(base, '<Patient/>', 'application/xml');
    expect(xml.status).toBe(415);
    expect(json(xml.text)).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-supported' }],
    });
    const none = await post(base, Buffer.from('MSH|'));
    expect(none.status).toBe(415);
    const text = await post(base, 'hello', 'text/plain');
    expect(text.status).toBe(415);
    expect(diagnostics(text.text)).toBe('a text/plain body must be an HL7 v2 message starting with MSH');
    expect(ingest.requests).toHaveLength(0);
  });

  it('answers 400 with where the JSON breaks, never with the body itself', async () => {
    const { base, ingest } = await startSource();
    const bad = await post(
      base,
      '{\n  "resourceType": "Patient",\n  "name": [Testpatient]\n}',
      'application/fhir+json',
    );
    expect(bad.status).toBe(400);
    expect(diagnostics(bad.text)).toBe('the body is not valid JSON: expected a value at line 3, column 12');
    const cut = await post(base, '{"resourceType": "Pat', 'application/json');
    expect(diagnostics(cut.text)).toBe('the body is not valid JSON: it ends before the value is complete');
    const notResource = await post(base, '[1,2]', 'application/fhir+json');
    expect(notResource.status).toBe(400);
    expect(diagnostics(notResource.text)).toMatch(/must be a FHIR resource with a resourceType/);
    const empty = await post(base, '', 'application/hl7-v2');
    expect(empty.status).toBe(400);
    expect(diagnostics(empty.text)).toBe('the body is empty');
    expect(ingest.requests).toHaveLength(0);
  });
});

describe('http source: engine outcomes', () => {
  it('duplicate: 200 with the original ACK (HL7) or JSON body', async () => {
    const { base } = await startSource((req) =>
      req.contentType === 'hl7v2'
        ? { disposition: D.duplicate, reply: ackFor(req.body, 'AA') }
        : { disposition: D.duplicate, messageId: 'first', body: { id: 'first', status: 'duplicate' } },
    );
    const hl7 = await post(base, adt('DUP'), 'application/hl7-v2');
    expect(hl7.status).toBe(200);
    expect(readAck(Hl7Message.parse(hl7.bytes)).code).toBe('AA');
    const fhir = await post(base, '{"resourceType":"Patient"}', 'application/fhir+json');
    expect(fhir.status).toBe(200);
    expect(json(fhir.text)).toEqual({ id: 'first', status: 'duplicate' });
  });

  it('rejected: 422 with the AE ACK, or an OperationOutcome naming the issue and its place', async () => {
    const { base } = await startSource((req) =>
      req.contentType === 'hl7v2'
        ? { disposition: D.rejected, reply: ackFor(req.body, 'AE', 'PID-7 is not a date') }
        : { disposition: D.rejected },
    );
    const hl7 = await post(base, adt('REJ'), 'application/hl7-v2');
    expect(hl7.status).toBe(422);
    expect(readAck(Hl7Message.parse(hl7.bytes))).toMatchObject({
      code: 'AE',
      errors: ['PID-7 is not a date'],
    });
    const fhir = await post(base, '{"resourceType":"Patient","birthDate":"x"}', 'application/fhir+json');
    expect(fhir.status).toBe(422);
    expect(fhir.headers.get('content-type')).toBe('application/fhir+json');
    expect(json(fhir.text)).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'invalid',
          diagnostics: 'lab.date: PID-7 is not a date',
          expression: ['PID-7'],
        },
      ],
    });
  });

  it('unavailable: 503 with Retry-After', async () => {
    const { base } = await startSource(() => ({ disposition: D.unavailable }), { retry_after_seconds: 7 });
    const res = await post(base, '{"a":1}', 'application/json');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(json(res.text)).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'transient' }],
    });
  });

  it('an engine failure: 500 with AR for HL7 v2, an OperationOutcome otherwise; nothing of the body logged', async () => {
    const { base, logger } = await startSource(() => {
      throw new Error('boom Testpatient');
    });
    const hl7 = await post(base, adt('CRASH'), 'application/hl7-v2');
    expect(hl7.status).toBe(500);
    expect(readAck(Hl7Message.parse(hl7.bytes))).toMatchObject({ code: 'AR', controlId: 'CRASH' });
    const other = await post(base, '{"a":1}', 'application/json');
    expect(other.status).toBe(500);
    expect(json(other.text)).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'exception' }],
    });
    expect(logger.entries.map((e) => e.level)).toEqual(['error', 'error']);
    expect(JSON.stringify(logger.entries)).not.toMatch(/Testpatient|CRASH/);
  });
});

describe('http source: protocol checks', () => {
  it('answers 413 for a body over max_body_bytes, announced or streamed, without calling the engine', async () => {
    const { base, ingest } = await startSource(undefined, { max_body_bytes: 1024 });
    const announced = await post(base, Buffer.alloc(4096, 0x41), 'application/json');
    expect(announced.status).toBe(413);
    expect(diagnostics(announced.text)).toBe(
      'the body is larger than the limit of 1024 bytes (max_body_bytes)',
    );
    // Chunked: no Content-Length, the limit is found while reading.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${base}/`,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // A JSON string: well-formed as far as it goes.
      req.write(`"${'A'.repeat(799)}`);
      req.write(Buffer.alloc(800, 0x41));
      req.end();
    });
    expect(streamed.status).toBe(413);
    expect(json(streamed.body)).toMatchObject({ issue: [{ code: 'too-long' }] });
    expect(ingest.requests).toHaveLength(0);
  });

  it('requires the bearer token when one is configured (401 with WWW-Authenticate)', async () => {
    const { base, ingest } = await startSource(undefined, { auth_token: 's3cret-token' });
    const none = await post(base, '{"a":1}', 'application/json');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="sinew"');
    expect(json(none.text)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });
    const wrong = await post(base, '{"a":1}', 'application/json', { authorization: 'Bearer s3cret-tokeN' });
    expect(wrong.status).toBe(401);
    const right = await post(base, '{"a":1}', 'application/json', { authorization: 'Bearer s3cret-token' });
    expect(right.status).toBe(202);
    expect(ingest.requests).toHaveLength(1);
  });

  it('answers 405 with Allow for other methods, a JSON status for GET, 404 off its path', async () => {
    const { base, source } = await startSource(undefined, { path: '/hl7' });
    expect(source.describe()).toBe(`${base}/hl7`);
    const put = await fetch(`${base}/hl7`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('POST, GET, HEAD');
    const get = await fetch(`${base}/hl7?x=1`);
    expect(get.status).toBe(200);
    expect(await get.json()).toMatchObject({ status: 'ready' });
    const elsewhere = await post(`${base}/other`, '{}', 'application/json');
    expect(elsewhere.status).toBe(404);
  });

  it('stops gracefully: a request in flight gets its answer, later connections are refused', async () => {
    let release: () => void = () => undefined;
    const { base, source } = await startSource(async () => {
      await new Promise<void>((r) => (release = r));
      return { disposition: D.accepted, messageId: 'slow' };
    });
    const pending = post(base, '{"a":1}', 'application/json');
    await sleep(100);
    const stopped = source.stop(5_000);
    await sleep(50);
    release();
    const res = await pending;
    expect(res.status).toBe(202);
    expect(res.headers.get('connection')).toBe('close');
    await stopped;
    await expect(fetch(base)).rejects.toThrow();
  });

  it('cuts a request still running at the stop timeout', async () => {
    const { base, source } = await startSource(() => new Promise<IngestReply>(() => undefined));
    const pending = post(base, '{"a":1}', 'application/json').then(
      () => 'answered',
      () => 'cut',
    );
    await sleep(100);
    const started = Date.now();
    await source.stop(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await pending).toBe('cut');
  });
});

describeWithPeer(opensslPeer, 'http source over HTTPS', () => {
  it('serves HTTPS with the configured key and certificate', async () => {
    const pki = createTestPki();
    try {
      const { source } = await startSource(undefined, {
        tls: { key: pki.server.keyPath, cert: pki.server.certPath },
      });
      const port = source.port?.() as number;
      expect(source.describe()).toBe(`https://127.0.0.1:${port}/`);
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/',
            ca: pki.ca,
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end('{"a":1}');
      });
      expect(status).toBe(202);
    } finally {
      pki.remove();
    }
  });
});

describe('http source config', () => {
  it('has the documented defaults; listen takes HOST:PORT or a port', () => {
    expect(httpSourceConfig.parse({})).toEqual({
      listen: { host: '127.0.0.1', port: 8081 },
      path: '/',
      max_body_bytes: 10 * 1024 * 1024,
      api_keys: false,
      max_json_depth: 100,
      max_json_values: 1_000_000,
      max_body_bytes_in_flight: 64 * 1024 * 1024,
      request_timeout_ms: 30_000,
      keep_alive_timeout_ms: 5_000,
      max_connections: 256,
      max_connections_per_client: 32,
      retry_after_seconds: 5,
    });
    expect(
      httpSourceConfig.safeParse({ headers_timeout_ms: 5_000, request_timeout_ms: 1_000 }).error?.issues,
    ).toEqual([
      expect.objectContaining({
        path: ['headers_timeout_ms'],
        message: 'headers_timeout_ms must not be longer than request_timeout_ms',
      }),
    ]);
    expect(httpSourceConfig.parse({ listen: '0.0.0.0:8443' }).listen).toEqual({
      host: '0.0.0.0',
      port: 8443,
    });
    expect(httpSourceConfig.parse({ listen: '9000' }).listen).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(httpSourceConfig.safeParse({ listen: 'http://0.0.0.0:8443' }).error?.issues).toEqual([
      expect.objectContaining({
        path: ['listen'],
        message: expect.stringContaining('write "HOST:PORT"'),
      }),
    ]);
    expect(httpSourceConfig.safeParse({ authToken: 'x' }).success).toBe(false);
  });

  it('listens on the address in listen', async () => {
    const { source } = await startSource(undefined, { listen: '[::1]:0', path: '/in' });
    const port = source.port?.() as number;
    expect(source.describe()).toBe(`http://[::1]:${port}/in`);
    expect((await post(`http://[::1]:${port}/in`, '{"a":1}', 'application/json')).status).toBe(202);
    await expect(post(`http://127.0.0.1:${port}/in`, '{"a":1}', 'application/json')).rejects.toThrow();
  });
});

/** A raw connection, from `localAddress` (any 127.x.y.z is loopback): what it got, and when it closed. */
function rawConnection(port: number, localAddress = '127.0.0.1') {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  const opened = Date.now();
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - opened)));
  return {
    socket,
    closed,
    get received() {
      return received;
    },
    /** Writes `text` a byte every `everyMs` until it is sent or the connection closes. */
    async drip(text: string, everyMs: number) {
      for (const ch of text) {
        if (socket.destroyed || socket.writableEnded) return;
        socket.write(ch);
        await sleep(everyMs);
      }
    },
  };
}

const HEAD =
  'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n';

describe('http source: limits', () => {
  it('closes 50 slowloris connections (headers a byte at a time, bodies dripping) by its timeouts; a normal client is served meanwhile', async () => {
    const { base, source } = await startSource(undefined, {
      headers_timeout_ms: 1_000,
      request_timeout_ms: 2_000,
      max_connections_per_client: 100,
    });
    const port = source.port?.() as number;
    const slowHeaders = Array.from({ length: 25 }, () => rawConnection(port));
    const slowBodies = Array.from({ length: 25 }, () => rawConnection(port));
    for (const c of slowHeaders) void c.drip(HEAD, 50);
    for (const c of slowBodies) {
      c.socket.write(HEAD);
      void c.drip(`"${'x'.repeat(198)}"`, 50);
    }
    // A normal client, from another address, keeps being served.
    const answered: Array<{ status: number; ms: number }> = [];
    let slowOpen = true;
    void Promise.all([...slowHeaders, ...slowBodies].map((c) => c.closed)).then(() => (slowOpen = false));
    while (slowOpen) {
      const started = Date.now();
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `${base}/`,
          { method: 'POST', localAddress: '127.0.0.2', headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end('{"a":1}');
      });
      answered.push({ status, ms: Date.now() - started });
      await sleep(100);
    }
    const headerClosed = await Promise.all(slowHeaders.map((c) => c.closed));
    const bodyClosed = await Promise.all(slowBodies.map((c) => c.closed));
    // Closed by the headers timeout (1 s), or by the request timeout (2 s), a checking interval late at most.
    for (const ms of headerClosed) expect(ms).toBeLessThan(1_800);
    for (const ms of bodyClosed) expect(ms).toBeGreaterThanOrEqual(1_900);
    for (const ms of bodyClosed) expect(ms).toBeLessThan(3_000);
    // The server says why (408) where it can.
    for (const c of [...slowHeaders, ...slowBodies]) expect(c.received).toMatch(/^(HTTP\/1\.1 408|$)/);
    expect(answered.length).toBeGreaterThan(10);
    expect(answered.every((a) => a.status === 202 && a.ms < 500)).toBe(true);
  });

  it('closes connections past max_connections_per_client on arrival; other clients are served', async () => {
    const { base, source, logger } = await startSource(undefined, { max_connections_per_client: 2 });
    const port = source.port?.() as number;
    const first = rawConnection(port);
    const second = rawConnection(port);
    await sleep(100);
    const third = rawConnection(port);
    expect(await third.closed).toBeLessThan(500);
    expect(third.received).toBe('');
    const elsewhere = await new Promise<number>((resolve, reject) =>
      httpRequest(`${base}/`, { localAddress: '127.0.0.2' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end(),
    );
    expect(elsewhere).toBe(200);
    first.socket.destroy();
    second.socket.destroy();
    await Promise.all([first.closed, second.closed]);
    await sleep(50);
    expect((await fetch(`${base}/`)).status).toBe(200);
    expect(logger.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'HTTP connections closed on arrival: a connection limit was reached',
      }),
    );
  });

  it('closes connections past max_connections on arrival', async () => {
    const { source } = await startSource(undefined, { max_connections: 2 });
    const port = source.port?.() as number;
    const open = [rawConnection(port, '127.0.0.3'), rawConnection(port, '127.0.0.4')];
    await sleep(100);
    const third = rawConnection(port, '127.0.0.5');
    expect(await third.closed).toBeLessThan(500);
    for (const c of open) expect(c.socket.destroyed).toBe(false);
    for (const c of open) c.socket.destroy();
  });

  it('closes an idle kept-alive connection after keep_alive_timeout_ms', async () => {
    const { source } = await startSource(undefined, { keep_alive_timeout_ms: 300 });
    const c = rawConnection(source.port?.() as number);
    c.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const ms = await c.closed;
    expect(c.received).toMatch(/^HTTP\/1\.1 200/);
    // Node gives an idle connection up to a second past the timeout.
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2_000);
  });

  it('answers 503 with Retry-After when the bodies held at once would pass max_body_bytes_in_flight', async () => {
    const { source, base } = await startSource(undefined, {
      max_body_bytes: 1_000,
      max_body_bytes_in_flight: 1_500,
    });
    const port = source.port?.() as number;
    const head =
      'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n';
    const a = rawConnection(port);
    a.socket.write(`${head}"${'a'.repeat(849)}`);
    await sleep(100);
    const b = rawConnection(port);
    // 850 more bytes would make 1700 held.
    b.socket.write(`${head}"${'b'.repeat(849)}`);
    await b.closed;
    expect(b.received).toMatch(/^HTTP\/1\.1 503 /);
    expect(b.received).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(b.received).toContain('too many message bodies at once');
    // The first one, within the budget, is taken.
    a.socket.write(`${'a'.repeat(49)}"`);
    await waitForText(() => a.received, /\r\n\r\n\{"id"/);
    expect(a.received).toMatch(/^HTTP\/1\.1 202 /);
    a.socket.destroy();
    // Its bytes are given back: the next one is taken too.
    expect((await post(base, '"x"', 'application/json')).status).toBe(202);
  });

  it('refuses a JSON body past max_json_depth or max_json_values as it arrives, before it ends', async () => {
    const { source, ingest } = await startSource(undefined, { max_json_depth: 8, max_json_values: 50 });
    const port = source.port?.() as number;
    const head = (length: number) =>
      `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\nContent-Length: ${length}\r\n\r\n`;
    // Neither body is sent in full: the answer comes while the client still owes most of it.
    const deep = rawConnection(port);
    deep.socket.write(`${head(1_000_000)}${'['.repeat(9)}`);
    const wide = rawConnection(port);
    wide.socket.write(`${head(1_000_000)}[${'1,'.repeat(51)}`);
    const within = await post(
      `http://127.0.0.1:${port}/`,
      `${'['.repeat(8)}${']'.repeat(8)}`,
      'application/json',
    );
    await Promise.all([deep.closed, wide.closed]);
    const outcome = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as unknown;
    expect(deep.received).toMatch(/^HTTP\/1\.1 400 /);
    expect(outcome(deep.received)).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'too-long',
          diagnostics: 'the JSON body nests deeper than the limit of 8 levels (max_json_depth)',
        },
      ],
    });
    expect(wide.received).toMatch(/^HTTP\/1\.1 413 /);
    expect(outcome(wide.received)).toMatchObject({
      issue: [
        {
          code: 'too-long',
          diagnostics: 'the JSON body holds more than the limit of 50 values (max_json_values)',
        },
      ],
    });
    expect(within.status).toBe(202);
    expect(ingest.requests).toHaveLength(1);
  });
});

async function waitForText(read: () => string, pattern: RegExp, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pattern.test(read())) {
    if (Date.now() > until) throw new Error(`not received: ${pattern}`);
    await sleep(20);
  }
}
