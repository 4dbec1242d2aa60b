import { Hl7Message, buildAck, readAck } from '@sinew/hl7v2';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { RawConnection, adt } from '../test/raw-connection';
import { ackingHandler } from './acks';
import { MllpClient } from './client';
import type { MllpError } from './errors';
import { encodeFrame } from './framing';
import type { MllpHandler } from './handler';
import { MllpServer, type MllpServerOptions } from './server';

jest.setTimeout(15_000);

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

const servers: MllpServer[] = [];
const connections: RawConnection[] = [];

async function startServer(
  handler: MllpHandler = ackingHandler(),
  options: MllpServerOptions = {},
): Promise<{ server: MllpServer; problems: MllpError[] }> {
  const server = new MllpServer({ port: 0, ...options }, handler);
  const problems: MllpError[] = [];
  server.on('connectionError', (e) => problems.push(e));
  await server.start();
  servers.push(server);
  return { server, problems };
}

async function open(server: MllpServer): Promise<RawConnection> {
  const c = await RawConnection.open(server.port);
  connections.push(c);
  return c;
}

const ackOf = (payload: Buffer) => readAck(Hl7Message.parse(payload));

afterEach(async () => {
  for (const c of connections.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.stop(1_000)));
});

describe('MllpServer', () => {
  it('listens on 127.0.0.1 by default, on an ephemeral port when asked for port 0', async () => {
    const { server } = await startServer();
    expect(server.address().host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
  });

  it('answers a framed message with a framed AA whose MSA-2 is the MSH-10', async () => {
    const { server } = await startServer();
    const c = await open(server);
    c.write(encodeFrame(adt('MSG00001')));
    await c.waitForFrames(1);
    expect(c.received[0]).toBe(VT);
    expect([...c.received.subarray(-2)]).toEqual([FS, CR]);
    const ack = Hl7Message.parse(c.frames[0] as Buffer);
    expect(ack.get('MSH-9')).toBe('ACK^A01^ACK');
    expect(ack.get('MSH-3')).toBe('SINEW');
    expect(ack.get('MSH-5')).toBe('PMS');
    expect(readAck(ack)).toMatchObject({ code: 'AA', controlId: 'MSG00001', accepted: true });
  });

  it('answers bytes that are not HL7 with AE and an ERR segment, never AA', async () => {
    const { server } = await startServer();
    const c = await open(server);
    c.write(encodeFrame('this is not HL7'));
    c.write(encodeFrame('MSH|^~\\&|PMS|NORTH|||20260101||ADT^A01|BAD00001|P|2.5.1\rp!d|1\r'));
    c.write(encodeFrame('MSH|^~\\&|PMS|NORTH|||20260101||ADT^A01||P|2.5.1\r'));
    const [garbage, badSegment, noControlId] = (await c.waitForFrames(3)).map((f) => Hl7Message.parse(f));
    expect(readAck(garbage as Hl7Message)).toMatchObject({ code: 'AE', controlId: '' });
    expect(garbage?.get('ERR-3.1')).toBe('100');
    expect(readAck(badSegment as Hl7Message)).toMatchObject({ code: 'AE', controlId: 'BAD00001' });
    expect(badSegment?.get('ERR-8')).toContain('hl7.segment_name');
    expect(readAck(noControlId as Hl7Message)).toMatchObject({ code: 'AE' });
    expect(noControlId?.get('ERR-3.1')).toBe('101');
    expect(noControlId?.get('ERR-2.1')).toBe('MSH');
    expect(noControlId?.get('ERR-2.3')).toBe('10');
  });

  it('answers many messages sent at once on one connection, in order', async () => {
    const { server } = await startServer();
    const c = await open(server);
    const ids = Array.from({ length: 500 }, (_, i) => `M${String(i).padStart(5, '0')}`);
    c.write(Buffer.concat(ids.map((id) => encodeFrame(adt(id)))));
    const frames = await c.waitForFrames(ids.length, 10_000);
    expect(frames.map((f) => ackOf(f).controlId)).toEqual(ids);
    expect(frames.every((f) => ackOf(f).code === 'AA')).toBe(true);
    expect(server.stats).toMatchObject({ frames: 500, repliesSent: 500, connectionsAccepted: 1 });
  });

  it('writes replies in arrival order even when handlers finish out of order', async () => {
    const finished: string[] = [];
    const { server } = await startServer(async (bytes) => {
      const msg = Hl7Message.parse(bytes);
      await sleep(Number(msg.get('PID-3.1')));
      finished.push(msg.controlId);
      return buildAck(msg, { code: 'AA' });
    });
    const c = await open(server);
    c.write(
      Buffer.concat([adt('SLOW', '300'), adt('MID', '150'), adt('FAST', '0')].map((m) => encodeFrame(m))),
    );
    const frames = await c.waitForFrames(3);
    expect(finished).toEqual(['FAST', 'MID', 'SLOW']);
    expect(frames.map((f) => ackOf(f).controlId)).toEqual(['SLOW', 'MID', 'FAST']);
  });

  it('answers AR (ERR 207) when the handler throws, logs no message content, and goes on', async () => {
    const { server, problems } = await startServer(
      ackingHandler((msg) => {
        if (msg.get('PID-3.1') === 'CRASH') throw new Error(`cannot store patient ${msg.get('PID-5')}`);
      }),
    );
    const c = await open(server);
    c.write(encodeFrame(adt('BOOM0001', 'CRASH')));
    c.write(encodeFrame(adt('FINE0001')));
    const [failed, fine] = await c.waitForFrames(2);
    const nack = Hl7Message.parse(failed as Buffer);
    expect(readAck(nack)).toMatchObject({ code: 'AR', controlId: 'BOOM0001' });
    expect(nack.get('ERR-3.1')).toBe('207');
    expect(ackOf(fine as Buffer)).toMatchObject({ code: 'AA', controlId: 'FINE0001' });
    expect(problems.map((p) => p.code)).toEqual(['mllp.handler_failed']);
    expect(String(problems[0])).not.toMatch(/DOE|JANE|CRASH/);
    expect(server.stats.handlerErrors).toBe(1);
  });

  it('drops and counts bytes sent before a start block, and still answers the frame', async () => {
    const { server } = await startServer();
    const c = await open(server);
    c.write(Buffer.concat([Buffer.from('\r\nnoise'), encodeFrame(adt('AFTER001'))]));
    const [reply] = await c.waitForFrames(1);
    expect(ackOf(reply as Buffer)).toMatchObject({ code: 'AA', controlId: 'AFTER001' });
    expect(server.stats.discardedBytes).toBe(7);
  });

  it('answers an oversize frame with AR built from its MSH and closes, while other connections go on', async () => {
    const calls: string[] = [];
    const { server, problems } = await startServer(
      ackingHandler((m) => void calls.push(m.controlId)),
      { maxMessageBytes: 4096 },
    );
    const big = await open(server);
    const other = await open(server);
    const huge = adt('HUGE0001') + `NTE|1||${'x'.repeat(10_000)}\r`;
    big.write(Buffer.concat([Buffer.from([VT]), Buffer.from(huge)]));
    const [nack] = await big.waitForFrames(1);
    await big.waitForClose();
    const read = ackOf(nack as Buffer);
    expect(read).toMatchObject({ code: 'AR', controlId: 'HUGE0001' });
    expect(read.text).toContain('4096 bytes');
    expect(Hl7Message.parse(nack as Buffer).get('ERR-3.1')).toBe('207');
    expect(problems.map((p) => p.code)).toContain('mllp.frame_too_large');

    other.write(encodeFrame(adt('OTHER001')));
    const [ok] = await other.waitForFrames(1);
    expect(ackOf(ok as Buffer)).toMatchObject({ code: 'AA', controlId: 'OTHER001' });
    expect(other.isOpen).toBe(true);
    expect(calls).toEqual(['OTHER001']);
    expect(server.stats.oversizeFrames).toBe(1);
  });

  it('closes a connection whose frame never ends, after the idle timeout, without calling the handler', async () => {
    const handler = jest.fn(ackingHandler());
    const { server, problems } = await startServer(handler, { idleTimeoutMs: 200 });
    const c = await open(server);
    c.write(Buffer.concat([Buffer.from([VT]), Buffer.from(adt('STALL001'))]));
    const started = Date.now();
    await c.waitForClose(3_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(c.frames).toEqual([]);
    expect(handler).not.toHaveBeenCalled();
    await waitFor('every connection closed', () => server.stats.connectionsOpen === 0);
    expect(problems.map((p) => p.code)).toEqual(['mllp.idle_timeout', 'mllp.partial_frame']);
    expect(server.stats).toMatchObject({ idleTimeouts: 1, partialFrames: 1, frames: 0 });
  });

  it('keeps a connection open past the idle timeout while a reply is pending', async () => {
    const { server } = await startServer(
      async (bytes) => {
        await sleep(400);
        return buildAck(Hl7Message.parse(bytes), { code: 'AA' });
      },
      { idleTimeoutMs: 150 },
    );
    const c = await open(server);
    c.write(encodeFrame(adt('SLOWACK1')));
    const [reply] = await c.waitForFrames(1);
    expect(ackOf(reply as Buffer).controlId).toBe('SLOWACK1');
    await c.waitForClose(2_000);
    expect(server.stats.idleTimeouts).toBe(1);
  });

  it('drops and counts a frame cut by a disconnect, without calling the handler or affecting others', async () => {
    const handler = jest.fn(ackingHandler());
    const { server, problems } = await startServer(handler);
    const quitter = await open(server);
    const stayer = await open(server);
    quitter.write(Buffer.concat([Buffer.from([VT]), Buffer.from(adt('CUT00001')).subarray(0, 40)]));
    await waitFor('two connections', () => server.stats.connectionsOpen === 2);
    await sleep(50);
    quitter.destroy();
    await waitFor('one connection left', () => server.stats.connectionsOpen === 1);
    stayer.write(encodeFrame(adt('STAY0001')));
    const [reply] = await stayer.waitForFrames(1);
    expect(ackOf(reply as Buffer).controlId).toBe('STAY0001');
    expect(handler).toHaveBeenCalledTimes(1);
    expect(problems.map((p) => p.code)).toEqual(['mllp.partial_frame']);
    expect(server.stats.partialFrames).toBe(1);
  });

  it('refuses connections beyond maxConnections when none is idle, and accepts again once one closes', async () => {
    const { server, problems } = await startServer(ackingHandler(), { maxConnections: 2 });
    const a = await open(server);
    const b = await open(server);
    // Both have a frame in progress: neither may be evicted for a newcomer.
    const frame = encodeFrame(adt('STILL001'));
    a.write(frame.subarray(0, 10));
    b.write(frame.subarray(0, 10));
    await waitFor('two connections', () => server.stats.connectionsOpen === 2);
    await sleep(50);
    const c = await open(server);
    await c.waitForClose(2_000);
    expect(c.frames).toEqual([]);
    expect(server.stats.connectionsRefused).toBe(1);
    expect(problems.map((p) => p.code)).toEqual(['mllp.too_many_connections']);

    a.write(frame.subarray(10));
    expect(ackOf((await a.waitForFrames(1))[0] as Buffer).code).toBe('AA');
    b.destroy();
    await waitFor('one connection left', () => server.stats.connectionsOpen === 1);
    const d = await open(server);
    d.write(encodeFrame(adt('AGAIN001')));
    expect(ackOf((await d.waitForFrames(1))[0] as Buffer).controlId).toBe('AGAIN001');
  });

  it('serves several connections in parallel', async () => {
    const { server } = await startServer();
    const clients = Array.from({ length: 8 }, () => new MllpClient({ host: '127.0.0.1', port: server.port }));
    const results = await Promise.all(
      clients.map((client, k) =>
        Promise.all(Array.from({ length: 100 }, (_, i) => client.send(adt(`C${k}N${i}`)))),
      ),
    );
    await Promise.all(clients.map((c) => c.close()));
    expect(results.flat().filter((r) => r.status === 'accepted')).toHaveLength(800);
    expect(results.flat().every((r) => r.code === 'AA')).toBe(true);
    expect(server.stats).toMatchObject({ connectionsAccepted: 8, frames: 800 });
  });

  describe('stop()', () => {
    it('finishes the messages in flight and sends their replies, then closes', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const { server } = await startServer(
        ackingHandler(async () => {
          await gate;
        }),
      );
      const c = await open(server);
      const port = server.port;
      c.write(encodeFrame(adt('INFLIGHT')));
      await waitFor('one frame', () => server.stats.frames === 1);
      const stopped = server.stop(5_000);
      await sleep(50);
      await expect(RawConnection.open(port).then((x) => x.destroy())).rejects.toThrow();
      c.write(encodeFrame(adt('TOOLATE1')));
      await sleep(50);
      release();
      await stopped;
      await c.waitForClose();
      expect(c.frames.map((f) => ackOf(f).controlId)).toEqual(['INFLIGHT']);
    });

    it('destroys connections whose handlers outlast the timeout', async () => {
      const { server } = await startServer(() => new Promise(() => undefined));
      const c = await open(server);
      c.write(encodeFrame(adt('FOREVER1')));
      await waitFor('one frame', () => server.stats.frames === 1);
      const started = Date.now();
      await server.stop(200);
      await c.waitForClose();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(c.frames).toEqual([]);
    });
  });
});
