import { request as httpRequest } from 'node:http';
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
    expect(diagnostics(announced.text)).toBe('the body is larger than the limit of 1024 bytes (max_body_bytes)');
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
      max_json_depth: 100,
      max_json_values: 1_000_000,
      max_body_bytes_in_flight: 64 * 1024 * 1024,
      headers_timeout_ms: 10_000,
      request_timeout_ms: 30_000,
      keep_alive_timeout_ms: 5_000,
      max_connections: 256,
      max_connections_per_client: 32,
      retry_after_seconds: 5,
    });
    expect(httpSourceConfig.safeParse({ headers_timeout_ms: 5_000, request_timeout_ms: 1_000 }).error?.issues).toEqual([
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
