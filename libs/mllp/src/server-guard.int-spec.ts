import { connect, type Socket } from 'node:net';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { adt } from '../test/raw-connection';
import { ackingHandler } from './acks';
import type { MllpError } from './errors';
import { MllpDecoder, encodeFrame } from './framing';
import type { MllpHandler } from './handler';
import { MllpServer, type MllpServerOptions } from './server';

jest.setTimeout(20_000);

const servers: MllpServer[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.stop(500)));
});

async function startServer(options: MllpServerOptions = {}, handler: MllpHandler = ackingHandler()) {
  const server = new MllpServer({ port: 0, ...options }, handler);
  const problems: MllpError[] = [];
  server.on('connectionError', (e) => problems.push(e));
  await server.start();
  servers.push(server);
  return { server, problems };
}

/**
 * A connection from `from` (any address of 127/8: Linux routes them all to loopback), with
 * the frames it receives and whether the server closed it.
 */
class Peer {
  readonly replies: Buffer[] = [];
  closed = false;
  closedAt = 0;
  private readonly decoder = new MllpDecoder();

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.decoder.push(chunk)) if (item.type === 'frame') this.replies.push(item.payload);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = performance.now();
    });
  }

  static open(port: number, from = '127.0.0.1'): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: from });
      sockets.push(socket);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new Peer(socket));
      });
    });
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Sends one message and resolves with its ACK code (or `closed`). */
  async send(controlId: string): Promise<string> {
    const before = this.replies.length;
    this.write(encodeFrame(adt(controlId)));
    await waitFor('a reply or the close', () => this.replies.length > before || this.closed, 5_000);
    const reply = this.replies[before];
    return reply ? readAck(Hl7Message.parse(reply)).code : 'closed';
  }
}

const codes = (problems: MllpError[]) => problems.map((p) => p.code);

describe('MllpServer connection limits', () => {
  it('refuses the 11th connection from one address with maxConnectionsPerPeer 10, and no other address', async () => {
    const { server, problems } = await startServer({ maxConnectionsPerPeer: 10 });
    const ten = await Promise.all(Array.from({ length: 10 }, () => Peer.open(server.port, '127.0.0.2')));
    await waitFor('ten connections', () => server.stats.connectionsOpen === 10);
    const eleventh = await Peer.open(server.port, '127.0.0.2');
    await waitFor('the 11th closed', () => eleventh.closed, 2_000);
    expect(await eleventh.send('REFUSED-1')).toBe('closed');
    // The ten, and another address, are served.
    expect(await (ten[9] as Peer).send('TEN-1')).toBe('AA');
    expect(await (await Peer.open(server.port, '127.0.0.3')).send('OTHER-1')).toBe('AA');
    expect(server.stats).toMatchObject({ connectionsOverPeerLimit: 1, connectionsRefused: 0, frames: 2 });
    expect(codes(problems)).toEqual(['mllp.peer_limit']);
    expect(problems[0]?.remoteAddress).toBe('127.0.0.2');
    expect(problems[0]?.message).toBe(
      'connection from 127.0.0.2 refused: 10 connections from this address are open',
    );
    // A slot freed is a slot the address may take again.
    (ten[0] as Peer).socket.destroy();
    await waitFor('a slot freed', () => server.stats.connectionsOpen === 10);
    expect(await (await Peer.open(server.port, '127.0.0.2')).send('AGAIN-1')).toBe('AA');
  });

  it('closes a connection whose frame is not complete frameTimeoutMs after its first byte, though bytes keep coming', async () => {
    const { server, problems } = await startServer({ frameTimeoutMs: 600, idleTimeoutMs: 10_000 });
    const drip = await Peer.open(server.port, '127.0.0.4');
    const frame = encodeFrame(adt('DRIP-1'));
    const started = performance.now();
    let sent = 0;
    // One byte every 100 ms: each one would have reset the idle timeout.
    while (!drip.closed && sent < frame.length - 1 && performance.now() - started < 3_000) {
      drip.write(frame.subarray(sent, sent + 1));
      sent++;
      await sleep(100);
    }
    expect(drip.closed).toBe(true);
    const after = drip.closedAt - started;
    expect(after).toBeGreaterThanOrEqual(550);
    expect(after).toBeLessThan(1_500);
    expect(drip.replies).toEqual([]);
    expect(server.stats).toMatchObject({ frameTimeouts: 1, frames: 0 });
    expect(codes(problems)).toContain('mllp.frame_timeout');
    // A whole frame, even sent in pieces well within the deadline, is fine; so is a second frame.
    const ok = await Peer.open(server.port, '127.0.0.4');
    ok.write(frame.subarray(0, 20));
    await sleep(300);
    ok.write(frame.subarray(20));
    await waitFor('the ACK', () => ok.replies.length === 1);
    await sleep(400);
    expect(await ok.send('DRIP-2')).toBe('AA');
    expect(ok.closed).toBe(false);
  });

  it('does not count bytes outside any frame as activity: a junk trickle is closed by the idle timeout', async () => {
    const { server } = await startServer({ idleTimeoutMs: 500 });
    const junk = await Peer.open(server.port);
    const started = performance.now();
    while (!junk.closed && performance.now() - started < 3_000) {
      junk.write(Buffer.from('x'));
      await sleep(100);
    }
    expect(junk.closedAt - started).toBeLessThan(1_500);
    expect(server.stats).toMatchObject({ idleTimeouts: 1, discardedBytes: expect.any(Number) });
  });

  it('closes connections from addresses not on allow at once, without reading them', async () => {
    const seen: string[] = [];
    const { server, problems } = await startServer(
      { allow: ['127.0.0.1', '127.0.0.8/30'] },
      ackingHandler((_m, ctx) => {
        seen.push(ctx.remoteAddress);
      }),
    );
    const stranger = await Peer.open(server.port, '127.0.0.2');
    stranger.write(encodeFrame(adt('STRANGER-1')));
    await waitFor('the stranger closed', () => stranger.closed, 2_000);
    expect(stranger.replies).toEqual([]);
    expect(await (await Peer.open(server.port, '127.0.0.1')).send('LISTED-1')).toBe('AA');
    expect(await (await Peer.open(server.port, '127.0.0.10')).send('BLOCK-1')).toBe('AA');
    const outside = await Peer.open(server.port, '127.0.0.12');
    await waitFor('127.0.0.12 closed', () => outside.closed, 2_000);
    expect(seen).toEqual(['127.0.0.1', '127.0.0.10']);
    expect(server.stats).toMatchObject({ connectionsNotAllowed: 2, connectionsAccepted: 2, frames: 2 });
    expect(codes(problems)).toEqual(['mllp.not_allowed', 'mllp.not_allowed']);
    expect(() => new MllpServer({ allow: ['10.0.0.0/33'] }, ackingHandler())).toThrow(
      '"10.0.0.0/33": the prefix length must be a number from 0 to 32',
    );
  });

  it('when full, evicts the longest-idle connection for a newcomer, never one with a frame in progress', async () => {
    const { server, problems } = await startServer({ maxConnections: 3 });
    const busy = await Peer.open(server.port, '127.0.0.2');
    busy.write(encodeFrame(adt('BUSY-1')).subarray(0, 30));
    const oldest = await Peer.open(server.port, '127.0.0.3');
    await sleep(30);
    const recent = await Peer.open(server.port, '127.0.0.4');
    expect(await oldest.send('OLD-1')).toBe('AA');
    await sleep(30);
    expect(await recent.send('RECENT-1')).toBe('AA');
    // `oldest` spoke last before `recent`: it is now the longest idle; `busy` is mid-frame.
    const newcomer = await Peer.open(server.port, '127.0.0.5');
    expect(await newcomer.send('NEW-1')).toBe('AA');
    await waitFor('the oldest idle closed', () => oldest.closed, 2_000);
    expect(busy.closed).toBe(false);
    expect(recent.closed).toBe(false);
    expect(server.stats).toMatchObject({ connectionsEvicted: 1, connectionsRefused: 0, connectionsOpen: 3 });
    expect(codes(problems)).toEqual(['mllp.evicted']);
    expect(problems[0]?.remoteAddress).toBe('127.0.0.3');
    // With every connection mid-frame, a newcomer is refused.
    recent.write(Buffer.from([0x0b]));
    newcomer.write(Buffer.from([0x0b]));
    await sleep(50);
    const late = await Peer.open(server.port, '127.0.0.6');
    await waitFor('the late one closed', () => late.closed, 2_000);
    expect(server.stats.connectionsRefused).toBe(1);
  });

  it('keeps reservedConnections slots for priority senders: others can never take the last ones', async () => {
    const { server, problems } = await startServer({
      maxConnections: 5,
      reservedConnections: 2,
      priority: ['127.0.0.1'],
    });
    // Three strangers, each mid-frame (so that none may be evicted), fill the unreserved slots.
    const strangers = await Promise.all(
      ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((a) => Peer.open(server.port, a)),
    );
    for (const s of strangers) s.write(Buffer.from([0x0b]));
    await waitFor('three open', () => server.stats.connectionsOpen === 3);
    const fourth = await Peer.open(server.port, '127.0.0.5');
    await waitFor('the fourth stranger closed', () => fourth.closed, 2_000);
    const known = await Promise.all([Peer.open(server.port), Peer.open(server.port)]);
    expect(await (known[0] as Peer).send('KNOWN-1')).toBe('AA');
    expect(await (known[1] as Peer).send('KNOWN-2')).toBe('AA');
    expect(server.stats).toMatchObject({ connectionsOpen: 5, connectionsRefused: 1 });
    // Full: a third priority connection takes the place of the longest-idle priority one.
    const third = await Peer.open(server.port);
    expect(await third.send('KNOWN-3')).toBe('AA');
    await waitFor('KNOWN-1 evicted', () => (known[0] as Peer).closed, 2_000);
    expect(codes(problems)).toEqual(['mllp.too_many_connections', 'mllp.evicted']);
    expect(
      () => new MllpServer({ maxConnections: 5, reservedConnections: 5, priority: ['::1'] }, ackingHandler()),
    ).toThrow('reservedConnections must be smaller than maxConnections');
  });
});
