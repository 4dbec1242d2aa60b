import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { describeWithPeer } from '../../../test/support/peers';
import { createTestPki, opensslPeer, type TestPki } from '../../../test/support/tls';
import { RawConnection, adt } from '../test/raw-connection';
import { ackingHandler } from './acks';
import { MllpClient, type MllpClientOptions } from './client';
import { encodeFrame } from './framing';
import { MllpServer, type MllpServerOptions } from './server';

jest.setTimeout(20_000);

describeWithPeer(opensslPeer, 'MLLP over TLS', () => {
  let pki: TestPki;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(() => {
    pki = createTestPki();
  });
  afterAll(() => pki?.remove());
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function start(tls: MllpServerOptions['tls'], options: MllpServerOptions = {}) {
    const certificates: Array<PeerCertificate | undefined> = [];
    const handler = jest.fn(ackingHandler((_m, ctx) => void certificates.push(ctx.tlsPeerCertificate)));
    const server = new MllpServer({ port: 0, tls, ...options }, handler);
    await server.start();
    closers.push(() => server.stop(1_000));
    return { server, handler, certificates };
  }

  function client(port: number, tls: MllpClientOptions['tls']): MllpClient {
    const c = new MllpClient({
      host: '127.0.0.1',
      port,
      tls,
      reconnect: { attempts: 2, initialDelayMs: 20 },
    });
    closers.push(() => c.close());
    return c;
  }

  const serverTls = () => ({ key: pki.server.key, cert: pki.server.cert });
  const mutualTls = () => ({ ...serverTls(), ca: pki.ca, requestCert: true });

  it('exchanges a message and its ACK over TLS', async () => {
    const { server, certificates } = await start(serverTls());
    const result = await client(server.port, { ca: pki.ca }).send(adt('TLS00001'));
    expect(result).toMatchObject({ status: 'accepted', code: 'AA', controlId: 'TLS00001' });
    expect(certificates).toEqual([undefined]);
  });

  it('refuses to talk to a server whose certificate it does not trust, without retrying', async () => {
    const { server, handler } = await start(serverTls());
    const c = client(server.port, { ca: pki.strangerClient.cert });
    const result = await c.send(adt('TLS00002'));
    expect(result).toMatchObject({ status: 'connection_failed' });
    expect(result.error?.code).toBe('mllp.tls_handshake');
    expect(c.stats.connectFailures).toBe(1);
    expect(handler).not.toHaveBeenCalled();
  });

  it('does not answer a plain TCP client on a TLS port', async () => {
    const { server, handler } = await start(serverTls());
    const raw = await RawConnection.open(server.port);
    raw.write(encodeFrame(adt('PLAIN001')));
    await raw.waitForClose(5_000);
    expect(raw.frames).toEqual([]);
    expect(handler).not.toHaveBeenCalled();
    expect(server.stats.tlsFailures).toBe(1);
  });

  it('applies allow and the per-peer limit before the handshake, counting no TLS failure', async () => {
    const { server, handler } = await start(serverTls(), { allow: ['127.0.0.1'], maxConnectionsPerPeer: 1 });
    const stranger = await new Promise<string>((resolve) => {
      const tcp = netConnect({ host: '127.0.0.1', port: server.port, localAddress: '127.0.0.2' });
      const s = tlsConnect({ socket: tcp, servername: 'localhost', ca: pki.ca });
      s.once('secureConnect', () => resolve('handshake done'));
      s.once('error', () => resolve('refused'));
      s.once('close', () => resolve('refused'));
    });
    expect(stranger).toBe('refused');
    const first = client(server.port, { ca: pki.ca });
    expect((await first.send(adt('TLSLIM01'))).code).toBe('AA');
    const second = await client(server.port, { ca: pki.ca }).send(adt('TLSLIM02'));
    expect(second.status).toBe('connection_failed');
    expect(handler).toHaveBeenCalledTimes(1);
    expect(server.stats).toMatchObject({
      connectionsNotAllowed: 1,
      connectionsOverPeerLimit: 2,
      tlsFailures: 0,
    });
  });

  describe('mutual TLS', () => {
    it('accepts a client certificate signed by the trusted CA and gives it to the handler', async () => {
      const { server, certificates } = await start(mutualTls());
      const tls = { ca: pki.ca, key: pki.client.key, cert: pki.client.cert };
      const result = await client(server.port, tls).send(adt('MTLS0001'));
      expect(result).toMatchObject({ status: 'accepted', controlId: 'MTLS0001' });
      expect(certificates[0]?.subject.CN).toBe('sinew-test-client');
    });

    it('refuses a client without a certificate: the connection fails and the handler is never called', async () => {
      const { server, handler } = await start(mutualTls());
      const result = await client(server.port, { ca: pki.ca }).send(adt('MTLS0002'));
      expect(result.status).toBe('connection_failed');
      expect(result.error?.code).toBe('mllp.tls_handshake');
      expect(handler).not.toHaveBeenCalled();
      expect(server.stats.tlsFailures).toBeGreaterThanOrEqual(1);
      expect(server.stats.frames).toBe(0);
    });

    it('refuses a client whose certificate comes from another CA', async () => {
      const { server, handler } = await start(mutualTls());
      const tls = { ca: pki.ca, key: pki.strangerClient.key, cert: pki.strangerClient.cert };
      const result = await client(server.port, tls).send(adt('MTLS0003'));
      expect(result.status).toBe('connection_failed');
      expect(handler).not.toHaveBeenCalled();
    });
  });
});
