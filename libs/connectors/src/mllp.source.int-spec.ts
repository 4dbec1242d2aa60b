import { connect } from 'node:net';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { describeWithPeer } from '@sinew/test-support/peers';
import { createTestPki, opensslPeer, type TestPki } from '@sinew/test-support/tls';
import { sleep } from '@sinew/test-support/wait';
import { ackFor, adt, D, recordingIngest, recordingLogger } from '../test/support';
import type { IngestReply, IngestRequest, Source } from './connector';
import { mllpSource, mllpSourceConfig } from './mllp.source';

jest.setTimeout(15_000);

const sources: Source[] = [];
const clients: MllpClient[] = [];

async function startSource(
  answer: (request: IngestRequest) => IngestReply | Promise<IngestReply>,
  config: Record<string, unknown> = {},
) {
  const ingest = recordingIngest(answer);
  const logger = recordingLogger();
  const source = mllpSource.create(mllpSourceConfig.parse({ listen: 0, ...config }), {
    channelId: 'lab-in',
    ingest,
    logger,
  });
  await source.start();
  sources.push(source);
  return { source, ingest, logger, port: source.port?.() as number };
}

function client(
  port: number,
  options: Partial<ConstructorParameters<typeof MllpClient>[0]> = {},
): MllpClient {
  const c = new MllpClient({ host: '127.0.0.1', port, ackTimeoutMs: 5_000, ...options });
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(sources.splice(0).map((s) => s.stop(1_000)));
});

describe('mllp source', () => {
  it('hands each frame to the engine as hl7v2 and writes back the exact reply bytes', async () => {
    let reply: Buffer | undefined;
    const { ingest, port, source } = await startSource((req) => {
      reply = ackFor(req.body, 'AA');
      return { disposition: D.accepted, messageId: 'm1', reply };
    });
    expect(port).toBeGreaterThan(0);
    expect(source.describe()).toBe(`mllp://127.0.0.1:${port}`);
    const result = await client(port).send(adt('CTRL-1'));
    expect(result.status).toBe('accepted');
    expect(result.ack?.toBuffer()).toEqual(reply);
    expect(ingest.requests).toHaveLength(1);
    const [request] = ingest.requests;
    expect(request?.body).toEqual(adt('CTRL-1'));
    expect(request).toMatchObject({ contentType: 'hl7v2', source: 'mllp', remoteAddress: '127.0.0.1' });
    expect(request?.connectionId).toEqual(expect.any(Number));
  });

  it('listens on the address in listen, IPv6 included', async () => {
    const { port, source, ingest } = await startSource(
      (req) => ({ disposition: D.accepted, reply: ackFor(req.body, 'AA') }),
      { listen: '[::1]:0' },
    );
    expect(source.describe()).toBe(`mllp://[::1]:${port}`);
    expect((await client(port, { host: '::1' }).send(adt('V6-1'))).code).toBe('AA');
    expect(ingest.requests[0]?.remoteAddress).toBe('::1');
    const v4 = await client(port, { reconnect: { attempts: 1 } }).send(adt('V4-1'));
    expect(v4.status).toBe('connection_failed');
  });

  it('passes rejections (AE with ERR) and unavailability (AR) through as the engine built them', async () => {
    const { port } = await startSource((req) => {
      const id = Hl7Message.parse(req.body).controlId;
      return id === 'BAD'
        ? { disposition: D.rejected, reply: ackFor(req.body, 'AE', 'PID-3 is required') }
        : { disposition: D.unavailable, reply: ackFor(req.body, 'AR', 'store unavailable') };
    });
    const c = client(port);
    const rejected = await c.send(adt('BAD'));
    expect(rejected).toMatchObject({ status: 'error', code: 'AE', controlId: 'BAD' });
    expect(rejected.errors).toContain('PID-3 is required');
    const unavailable = await c.send(adt('LATER'));
    expect(unavailable).toMatchObject({ status: 'rejected', code: 'AR', controlId: 'LATER' });
  });

  it('answers AR (ERR 207) when the engine throws, and logs no message content', async () => {
    const { port, logger } = await startSource(() => {
      throw new Error('database exploded while storing Testpatient');
    });
    const result = await client(port).send(adt('CRASH-1'));
    expect(result).toMatchObject({ status: 'rejected', code: 'AR', controlId: 'CRASH-1' });
    expect(result.ack?.get('ERR-3.1')).toBe('207');
    expect(logger.entries).toEqual([
      {
        level: 'error',
        obj: { channelId: 'lab-in', connectionId: expect.any(Number), error: 'Error' },
        msg: expect.any(String),
      },
    ]);
    expect(JSON.stringify(logger.entries)).not.toMatch(/Testpatient|CRASH-1/);
  });

  it('builds the ACK itself when the engine answers without one (AA accepted, AE rejected, AR unavailable)', async () => {
    const outcomes: Record<string, IngestReply['disposition']> = {
      A: D.accepted,
      D: D.duplicate,
      R: D.rejected,
      U: D.unavailable,
    };
    const { port } = await startSource((req) => ({
      disposition: outcomes[Hl7Message.parse(req.body).controlId] ?? D.accepted,
    }));
    const c = client(port);
    const codes = [];
    for (const id of ['A', 'D', 'R', 'U']) codes.push((await c.send(adt(id))).code);
    expect(codes).toEqual(['AA', 'AA', 'AE', 'AR']);
  });

  it('keeps arrival order on one connection even when the engine answers out of order', async () => {
    const { port } = await startSource(async (req) => {
      const id = Hl7Message.parse(req.body).controlId;
      await sleep(id === 'FIRST' ? 150 : 0);
      return { disposition: D.accepted, reply: ackFor(req.body, 'AA') };
    });
    const frames: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(Buffer.concat([frame(adt('FIRST')), frame(adt('SECOND'))]));
      });
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        let end: number;
        while ((end = buffer.indexOf(0x1c)) >= 0) {
          frames.push(readAck(Hl7Message.parse(buffer.subarray(1, end))).controlId);
          buffer = buffer.subarray(end + 2);
        }
        if (frames.length === 2) {
          socket.destroy();
          resolve();
        }
      });
      socket.on('error', reject);
    });
    expect(frames).toEqual(['FIRST', 'SECOND']);
  });

  it('stops gracefully: the message in flight still gets its ACK, new connections are refused', async () => {
    let release: () => void = () => undefined;
    const { port, source } = await startSource(async (req) => {
      await new Promise<void>((r) => (release = r));
      return { disposition: D.accepted, reply: ackFor(req.body, 'AA') };
    });
    const c = client(port, { reconnect: { attempts: 1 } });
    const pending = c.send(adt('INFLIGHT'));
    await sleep(100);
    const stopped = source.stop(5_000);
    await sleep(50);
    release();
    expect((await pending).code).toBe('AA');
    await stopped;
    const late = await client(port, { reconnect: { attempts: 1 } }).send(adt('LATE'));
    expect(late.status).toBe('connection_failed');
  });

  it('refuses a message over max_message_bytes with AR without calling the engine', async () => {
    const { port, ingest, logger } = await startSource(() => ({ disposition: D.accepted }), {
      max_message_bytes: 200,
    });
    const big = Buffer.concat([adt('BIG'), Buffer.from(`NTE|1||${'x'.repeat(500)}\r`)]);
    const result = await client(port).send(big);
    expect(result.code).toBe('AR');
    expect(ingest.requests).toHaveLength(0);
    expect(logger.entries).toContainEqual({
      level: 'warn',
      obj: { channelId: 'lab-in', code: 'mllp.frame_too_large', connectionId: expect.any(Number) },
      msg: expect.any(String),
    });
  });

  it('closes a silent connection after idle_timeout_ms, reporting it at info level only', async () => {
    const { port, logger } = await startSource(() => ({ disposition: D.accepted }), { idle_timeout_ms: 100 });
    const closed = await new Promise<number>((resolve) => {
      const started = Date.now();
      const socket = connect(port, '127.0.0.1');
      socket.on('close', () => resolve(Date.now() - started));
      socket.on('error', () => undefined);
    });
    expect(closed).toBeGreaterThanOrEqual(90);
    expect(closed).toBeLessThan(2_000);
    expect(logger.entries).toEqual([
      {
        level: 'info',
        obj: { channelId: 'lab-in', reason: 'idle', count: 1, lastPeer: '127.0.0.1' },
        msg: 'idle MLLP connections closed after idle_timeout_ms: 1 since the channel started',
      },
    ]);
  });
});

describe('mllp source config', () => {
  it('has the documented defaults and refuses unknown fields and bad values', () => {
    expect(mllpSourceConfig.parse({})).toEqual({
      listen: { host: '127.0.0.1', port: 2575 },
      max_connections: 100,
      max_connections_per_peer: 10,
      frame_timeout_ms: 30_000,
      allow: [],
      priority: [],
      reserved_connections: 10,
      max_message_bytes: 1_048_576,
      idle_timeout_ms: 60_000,
    });
    expect(mllpSourceConfig.safeParse({ prot: 2575 }).success).toBe(false);
    expect(mllpSourceConfig.safeParse({ port: 2575 }).success).toBe(false);
    const noCa = mllpSourceConfig.safeParse({ tls: { key: 'k', cert: 'c', request_cert: true } });
    expect(noCa.error?.issues[0]).toMatchObject({
      path: ['tls', 'ca'],
      message: expect.stringContaining('request_cert needs ca'),
    });
  });

  it('reads allow and priority as addresses and CIDR blocks, and keeps reserved slots below max_connections', () => {
    expect(mllpSourceConfig.parse({ allow: ['10.20.0.0/16', '192.0.2.7', 'fd00::/8'] }).allow).toHaveLength(
      3,
    );
    const badBlock = mllpSourceConfig.safeParse({ allow: ['10.20.0.0/16', 'lab.example'] }).error?.issues;
    expect(badBlock?.[0]).toMatchObject({
      path: ['allow', 1],
      message: '"lab.example" is not an IP address or a CIDR block (e.g. "10.0.0.5" or "10.20.0.0/16")',
    });
    const badPrefix = mllpSourceConfig.safeParse({ priority: ['::1/129'] }).error?.issues;
    expect(badPrefix?.[0]).toMatchObject({
      path: ['priority', 0],
      message: expect.stringContaining('0 to 128'),
    });
    const tooMany = mllpSourceConfig.safeParse({ priority: ['192.0.2.7'], max_connections: 10 }).error
      ?.issues;
    expect(tooMany?.[0]).toMatchObject({
      path: ['reserved_connections'],
      message: 'reserved_connections (10) must be smaller than max_connections (10)',
    });
    // Without priority nothing is reserved, so a small max_connections is fine.
    expect(mllpSourceConfig.safeParse({ max_connections: 5 }).success).toBe(true);
  });

  it.each([
    ['0.0.0.0:2575', { host: '0.0.0.0', port: 2575 }],
    ['[::1]:2575', { host: '::1', port: 2575 }],
    ['[::]:0', { host: '::', port: 0 }],
    ['lab-gateway.local:6661', { host: 'lab-gateway.local', port: 6661 }],
    ['6661', { host: '127.0.0.1', port: 6661 }],
    [6661, { host: '127.0.0.1', port: 6661 }],
    [0, { host: '127.0.0.1', port: 0 }],
  ])('reads listen %j', (listen, expected) => {
    expect(mllpSourceConfig.parse({ listen }).listen).toEqual(expected);
  });

  it.each([
    ['::1:2575', 'not a "HOST:PORT" address in "::1:2575"; write "HOST:PORT"'],
    ['0.0.0.0', 'not a "HOST:PORT" address in "0.0.0.0"'],
    ['0.0.0.0:70000', 'port 70000 is outside 0–65535 in "0.0.0.0:70000"'],
    ['70000', 'port 70000 is outside 0–65535'],
    ['[lab]:2575', '[lab] is not an IPv6 address'],
    ['mllp://0.0.0.0:2575', 'not a "HOST:PORT" address'],
    [70_000, 'expected a port from 0 to 65535, or "HOST:PORT"'],
    [-1, 'expected a port from 0 to 65535, or "HOST:PORT"'],
    [true, 'expected an address to listen on: write "HOST:PORT" (e.g. "0.0.0.0:2575"; IPv6 in brackets'],
  ])('refuses listen %j with a message naming the expected form', (listen, message) => {
    const issues = mllpSourceConfig.safeParse({ listen }).error?.issues;
    expect(issues).toHaveLength(1);
    expect(issues?.[0]).toMatchObject({ path: ['listen'], message: expect.stringContaining(message) });
  });

  it('names a missing PEM file when it starts', async () => {
    const source = mllpSource.create(
      mllpSourceConfig.parse({
        listen: 0,
        tls: { key: '/nonexistent/server.key', cert: '/nonexistent/server.crt' },
      }),
      { channelId: 'c', ingest: async () => ({ disposition: D.accepted }), logger: recordingLogger() },
    );
    await expect(source.start()).rejects.toThrow(
      'tls.key: cannot read the PEM file /nonexistent/server.key (ENOENT)',
    );
  });
});

function frame(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x0b]), payload, Buffer.from([0x1c, 0x0d])]);
}

describeWithPeer(opensslPeer, 'mllp source over mutual TLS', () => {
  let pki: TestPki;
  beforeAll(() => (pki = createTestPki()));
  afterAll(() => pki.remove());

  it('accepts a client with a certificate from the configured CA (PEM paths) and refuses a stranger', async () => {
    const { port, source, ingest } = await startSource(
      (req) => ({ disposition: D.accepted, reply: ackFor(req.body, 'AA') }),
      {
        tls: { key: pki.server.keyPath, cert: pki.server.certPath, ca: pki.caPath, request_cert: true },
      },
    );
    expect(source.describe()).toBe(`mllps://127.0.0.1:${port}`);
    const trusted = await client(port, {
      tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
    }).send(adt('TLS-1'));
    expect(trusted.code).toBe('AA');
    const stranger = await client(port, {
      tls: { ca: pki.ca, cert: pki.strangerClient.cert, key: pki.strangerClient.key },
      reconnect: { attempts: 1 },
    }).send(adt('TLS-2'));
    expect(stranger.status).toBe('connection_failed');
    expect(ingest.requests.map((r) => Hl7Message.parse(r.body).controlId)).toEqual(['TLS-1']);
  });

  it('takes the key and certificate as PEM text too', async () => {
    const { port } = await startSource(
      (req) => ({ disposition: D.accepted, reply: ackFor(req.body, 'AA') }),
      {
        tls: { key: pki.server.key.toString(), cert: pki.server.cert.toString() },
      },
    );
    expect((await client(port, { tls: { ca: pki.ca } }).send(adt('TLS-3'))).code).toBe('AA');
  });
});
