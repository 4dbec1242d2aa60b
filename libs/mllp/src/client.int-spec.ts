import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Hl7Message, buildAck } from '@sinew/hl7v2';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { adt } from '../test/raw-connection';
import { ackingHandler } from './acks';
import { MllpClient, type MllpClientOptions } from './client';
import { MllpDecoder, encodeFrame } from './framing';
import { MllpServer, type MllpServerOptions } from './server';

jest.setTimeout(15_000);

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** An MLLP server answering MSA-1 = the last two letters of MSH-10 (`…AA`, `…AE`, `…CR`). */
async function codeEchoServer(options: MllpServerOptions = {}): Promise<MllpServer> {
  const server = new MllpServer({ port: 0, ...options }, (bytes) => {
    const msg = Hl7Message.parse(bytes);
    const code = msg.controlId.slice(-2) as 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';
    return buildAck(msg, { code, text: `answered ${code}` });
  });
  await server.start();
  closers.push(() => server.stop(1_000));
  return server;
}

/** A plain TCP listener whose behaviour the test scripts: for replies the server never would send. */
async function scriptedListener(onFrame: (payload: Buffer, socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new MllpDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const item of decoder.push(chunk)) if (item.type === 'frame') onFrame(item.payload, socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

function client(port: number, options: Partial<MllpClientOptions> = {}): MllpClient {
  const c = new MllpClient({ host: '127.0.0.1', port, ...options });
  closers.push(() => c.close());
  return c;
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('MllpClient', () => {
  it('tells apart AA, AE, AR, CA, CE and CR, with MSA-3 and ERR texts', async () => {
    const server = await codeEchoServer();
    const c = client(server.port);
    const results = await Promise.all(
      ['AA', 'AE', 'AR', 'CA', 'CE', 'CR'].map((code) => c.send(adt(`MSG1${code}`))),
    );
    expect(results.map((r) => [r.controlId, r.code, r.status])).toEqual([
      ['MSG1AA', 'AA', 'accepted'],
      ['MSG1AE', 'AE', 'error'],
      ['MSG1AR', 'AR', 'rejected'],
      ['MSG1CA', 'CA', 'accepted'],
      ['MSG1CE', 'CE', 'error'],
      ['MSG1CR', 'CR', 'rejected'],
    ]);
    expect(results[1]).toMatchObject({ text: 'answered AE', errors: ['answered AE'] });
    expect(results[0]?.ack?.get('MSA-2')).toBe('MSG1AA');
    expect(results[0]?.latencyMs).toBeGreaterThan(0);
  });

  it('pipelines many messages on one connection and matches each ACK by MSA-2', async () => {
    // The server answers in reverse order of arrival within each burst of 10.
    const port = await scriptedListener(
      (() => {
        const held: Array<[Buffer, Socket]> = [];
        return (payload: Buffer, socket: Socket) => {
          held.push([payload, socket]);
          if (held.length < 10) return;
          for (const [p, s] of held.splice(0).reverse()) {
            s.write(encodeFrame(buildAck(Hl7Message.parse(p), { code: 'AA' }).toBuffer()));
          }
        };
      })(),
    );
    const c = client(port);
    const ids = Array.from({ length: 200 }, (_, i) => `PIPE${i}`);
    const results = await Promise.all(ids.map((id) => c.send(Hl7Message.parse(adt(id)))));
    expect(results.map((r) => r.controlId)).toEqual(ids);
    expect(results.every((r) => r.status === 'accepted' && r.ack?.get('MSA-2') === r.controlId)).toBe(true);
    expect(c.stats).toMatchObject({ connects: 1, sent: 200, acks: 200, unmatchedAcks: 0 });
  });

  it('counts and ignores an ACK whose MSA-2 matches no message in flight', async () => {
    const port = await scriptedListener((payload, socket) => {
      const msg = Hl7Message.parse(payload);
      const stray = Hl7Message.parse(adt('SOMEONE-ELSE'));
      socket.write(encodeFrame(buildAck(stray, { code: 'AR' }).toBuffer()));
      socket.write(encodeFrame(buildAck(msg, { code: 'AA' }).toBuffer()));
    });
    const c = client(port);
    const result = await c.send(adt('MINE0001'));
    expect(result).toMatchObject({ status: 'accepted', code: 'AA', controlId: 'MINE0001' });
    expect(c.stats.unmatchedAcks).toBe(1);
  });

  it('ends with timeout when no ACK comes within ackTimeoutMs', async () => {
    const server = new MllpServer({ port: 0 }, () => undefined);
    await server.start();
    closers.push(() => server.stop(1_000));
    const c = client(server.port, { ackTimeoutMs: 150 });
    const started = Date.now();
    const result = await c.send(adt('NOANSWER'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(result).toMatchObject({ status: 'timeout', code: '', controlId: 'NOANSWER' });
    expect(result.error?.code).toBe('mllp.ack_timeout');
    expect(c.stats.timeouts).toBe(1);
  });

  it('reports a reply that is not an acknowledgement as invalid_reply', async () => {
    const port = await scriptedListener((_payload, socket) => socket.write(encodeFrame('not an ack')));
    const result = await client(port).send(adt('GARBLED1'));
    expect(result).toMatchObject({ status: 'invalid_reply', controlId: 'GARBLED1' });
    expect(result.error?.code).toBe('mllp.invalid_ack');
  });

  it('gives up with connection_failed after the configured attempts, backing off between them', async () => {
    const port = await deadPort();
    const c = client(port, { reconnect: { attempts: 3, initialDelayMs: 60, factor: 2, jitter: 0 } });
    const started = Date.now();
    const result = await c.send(adt('NOBODY01'));
    const elapsed = Date.now() - started;
    expect(result).toMatchObject({ status: 'connection_failed', controlId: 'NOBODY01' });
    expect(result.error?.code).toBe('mllp.connect_failed');
    expect(result.error?.message).toContain('ECONNREFUSED');
    expect(c.stats.connectFailures).toBe(3);
    expect(elapsed).toBeGreaterThanOrEqual(60 + 120 - 10);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('connects once the listener comes up during the backoff', async () => {
    const port = await deadPort();
    const c = client(port, { reconnect: { attempts: 6, initialDelayMs: 100, jitter: 0 } });
    const sending = c.send(adt('LATE0001'));
    await sleep(150);
    const server = new MllpServer({ port }, ackingHandler());
    await server.start();
    closers.push(() => server.stop(1_000));
    expect(await sending).toMatchObject({ status: 'accepted', code: 'AA' });
    expect(c.stats.connectFailures).toBeGreaterThanOrEqual(1);
  });

  it('ends with connect_timeout when the TLS handshake never completes', async () => {
    const port = await scriptedListener(() => undefined);
    const c = client(port, { tls: true, connectTimeoutMs: 150, reconnect: { attempts: 1 } });
    const result = await c.send(adt('SILENT01'));
    expect(result).toMatchObject({ status: 'connection_failed' });
    expect(result.error?.code).toBe('mllp.connect_timeout');
  });

  it('reports connection_failed when the connection closes before the ACK', async () => {
    const port = await scriptedListener((_payload, socket) => socket.destroy());
    const result = await client(port).send(adt('DROPPED1'));
    expect(result).toMatchObject({ status: 'connection_failed', controlId: 'DROPPED1' });
    expect(result.error?.code).toBe('mllp.connection_closed');
  });

  it('opens a new connection after the server closed an idle one', async () => {
    const server = await codeEchoServer({ idleTimeoutMs: 100 });
    const c = client(server.port);
    expect((await c.send(adt('FIRST0AA'))).status).toBe('accepted');
    await waitFor(
      'the idle connection closed',
      () => server.stats.idleTimeouts === 1 && server.stats.connectionsOpen === 0,
    );
    expect((await c.send(adt('AGAIN0AA'))).status).toBe('accepted');
    expect(c.stats.connects).toBe(2);
  });

  it('sends two messages with the same control id one after the other', async () => {
    const server = await codeEchoServer();
    const c = client(server.port);
    const [a, b] = await Promise.all([c.send(adt('TWICE0AA')), c.send(adt('TWICE0AA'))]);
    expect([a?.status, b?.status]).toEqual(['accepted', 'accepted']);
    expect(server.stats.frames).toBe(2);
  });

  it('refuses to send a message it cannot correlate', async () => {
    const c = client(1);
    await expect(c.send('not HL7')).rejects.toMatchObject({ code: 'mllp.invalid_message' });
    await expect(c.send('MSH|^~\\&|A|B|C|D|20260101||ADT^A01||P|2.5.1\r')).rejects.toMatchObject({
      code: 'mllp.no_control_id',
    });
  });

  it('ends messages in flight when closed, and sends nothing afterwards', async () => {
    const server = new MllpServer({ port: 0 }, () => undefined);
    await server.start();
    closers.push(() => server.stop(1_000));
    const c = client(server.port);
    const inFlight = c.send(adt('CLOSING1'));
    await waitFor('one frame', () => server.stats.frames === 1);
    await c.close();
    expect(await inFlight).toMatchObject({ status: 'connection_failed', error: { code: 'mllp.closed' } });
    expect(await c.send(adt('AFTER001'))).toMatchObject({
      status: 'connection_failed',
      error: { code: 'mllp.closed' },
    });
    expect(server.stats.frames).toBe(1);
  });
});
