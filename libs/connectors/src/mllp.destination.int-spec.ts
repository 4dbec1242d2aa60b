import { createServer, type AddressInfo } from 'node:net';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpServer, type MllpHandler } from '@sinew/mllp';
import { itWithPeer } from '@sinew/test-support/peers';
import { createTestPki, opensslPeer } from '@sinew/test-support/tls';
import { ackFor, adt, recordingLogger } from '../test/support';
import type { DeliveryRequest, Destination } from './connector';
import { mllpDestination, mllpDestinationConfig } from './mllp.destination';

jest.setTimeout(15_000);

const servers: MllpServer[] = [];
const destinations: Destination[] = [];

async function peer(handler: MllpHandler, options: ConstructorParameters<typeof MllpServer>[0] = {}) {
  const server = new MllpServer({ port: 0, ...options }, handler);
  await server.start();
  servers.push(server);
  return server;
}

/** The url of a peer on this machine. */
const at = (port: number, scheme = 'mllp') => `${scheme}://127.0.0.1:${port}`;

function destination(config: Record<string, unknown>): Destination {
  const d = mllpDestination.create(mllpDestinationConfig.parse(config), {
    channelId: 'adt-out',
    destination: 'ehr',
    logger: recordingLogger(),
  });
  destinations.push(d);
  return d;
}

let seq = 0;
function delivery(body: Buffer, contentType: DeliveryRequest['contentType'] = 'hl7v2'): DeliveryRequest {
  seq++;
  return {
    messageId: `m${seq}`,
    deliveryId: `d${seq}`,
    attempt: 1,
    body,
    contentType,
    channelId: 'adt-out',
    destination: 'ehr',
  };
}

/** A peer that answers each message with the ACK code named by its MSH-10's prefix (`AE-1` → AE). */
const byControlId: MllpHandler = (bytes) => {
  const id = Hl7Message.parse(bytes).controlId;
  const code = id.slice(0, 2) as 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';
  return ackFor(bytes, code, code === 'AA' || code === 'CA' ? undefined : `refused by the peer (${code})`);
};

afterEach(async () => {
  await Promise.all(destinations.splice(0).map((d) => d.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop(1_000)));
});

describe('mllp destination', () => {
  it('AA and CA are sent, with the ACK kept as the response', async () => {
    const server = await peer(byControlId);
    const d = destination({ url: at(server.port) });
    expect(d.describe()).toBe(`mllp://127.0.0.1:${server.port}`);
    const aa = await d.send(delivery(adt('AA-1')));
    expect(aa).toMatchObject({ status: 'sent', code: 'AA' });
    const ack = Hl7Message.parse(aa.response as Buffer);
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('AA-1');
    expect(await d.send(delivery(adt('CA-1')))).toMatchObject({ status: 'sent', code: 'CA' });
  });

  it('AE and CE are retried by default, failed with on_application_error: fail; the ACK text is in the error', async () => {
    const server = await peer(byControlId);
    const retrying = destination({ url: at(server.port) });
    const ae = await retrying.send(delivery(adt('AE-1')));
    expect(ae).toMatchObject({
      status: 'retry',
      code: 'AE',
      error: 'the receiver answered AE: refused by the peer (AE)',
    });
    expect(ae.response).toBeInstanceOf(Buffer);
    expect(await retrying.send(delivery(adt('CE-1')))).toMatchObject({ status: 'retry', code: 'CE' });
    const failing = destination({ url: at(server.port), on_application_error: 'fail' });
    expect(await failing.send(delivery(adt('AE-2')))).toMatchObject({ status: 'failed', code: 'AE' });
  });

  it('AR and CR fail at once', async () => {
    const server = await peer(byControlId);
    const d = destination({ url: at(server.port) });
    expect(await d.send(delivery(adt('AR-1')))).toMatchObject({
      status: 'failed',
      code: 'AR',
      error: 'the receiver rejected the message (AR): refused by the peer (AR)',
    });
    expect(await d.send(delivery(adt('CR-1')))).toMatchObject({ status: 'failed', code: 'CR' });
  });

  it('no ACK within ack_timeout_ms is retried with code TIMEOUT', async () => {
    const server = await peer(() => new Promise(() => undefined));
    const d = destination({ url: at(server.port), ack_timeout_ms: 200 });
    const started = Date.now();
    const outcome = await d.send(delivery(adt('AA-SILENT')));
    expect(outcome).toMatchObject({
      status: 'retry',
      code: 'TIMEOUT',
      error: 'mllp.ack_timeout: no acknowledgement within 200 ms',
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a refused connection is retried with code ECONNREFUSED, at once', async () => {
    const port = await freePort();
    const d = destination({ url: at(port) });
    const started = Date.now();
    expect(await d.send(delivery(adt('AA-1')))).toMatchObject({ status: 'retry', code: 'ECONNREFUSED' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a reply that is not an ACK is retried (INVALID_ACK)', async () => {
    const server = await peer(() => Buffer.from('this is not HL7'));
    const outcome = await destination({ url: at(server.port) }).send(delivery(adt('AA-1')));
    expect(outcome).toMatchObject({ status: 'retry', code: 'INVALID_ACK' });
  });

  it('keeps one connection for many messages and reconnects after the peer restarts', async () => {
    const server = await peer(byControlId);
    const port = server.port;
    let connections = 0;
    server.on('connection', () => connections++);
    const d = destination({ url: at(port) });
    for (let i = 0; i < 5; i++) expect((await d.send(delivery(adt(`AA-${i}`)))).status).toBe('sent');
    expect(connections).toBe(1);
    await server.stop(1_000);
    const down = await d.send(delivery(adt('AA-DOWN')));
    expect(down.status).toBe('retry');
    const again = await peer(byControlId, { port });
    expect(again.port).toBe(port);
    expect(await d.send(delivery(adt('AA-BACK')))).toMatchObject({ status: 'sent', code: 'AA' });
  });

  it('fails a payload that is not HL7 v2, or an HL7 message without MSH-10, without sending it', async () => {
    let frames = 0;
    const server = await peer((bytes) => {
      frames++;
      return ackFor(bytes, 'AA');
    });
    const d = destination({ url: at(server.port) });
    expect(await d.send(delivery(Buffer.from('{"resourceType":"Patient"}'), 'fhir'))).toMatchObject({
      status: 'failed',
      code: 'UNSUPPORTED',
    });
    const noId = Buffer.from('MSH|^~\\&|A|B|C|D|20250101||ADT^A01||P|2.5.1\rPID|1\r');
    expect(await d.send(delivery(noId))).toMatchObject({ status: 'failed', code: 'INVALID_MESSAGE' });
    expect(frames).toBe(0);
  });

  itWithPeer(opensslPeer, 'sends over mutual TLS with PEM files', async () => {
    const pki = createTestPki();
    try {
      const server = await peer(byControlId, {
        tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca, requestCert: true },
      });
      const d = destination({
        url: at(server.port, 'mllps'),
        tls: { ca: pki.caPath, cert: pki.client.certPath, key: pki.client.keyPath },
      });
      expect(d.describe()).toBe(`mllps://127.0.0.1:${server.port}`);
      expect(await d.send(delivery(adt('AA-TLS')))).toMatchObject({ status: 'sent', code: 'AA' });
      const noCert = destination({ url: at(server.port, 'mllps'), tls: { ca: pki.caPath } });
      expect(await noCert.send(delivery(adt('AA-NOCERT')))).toMatchObject({ status: 'retry' });
    } finally {
      pki.remove();
    }
  });

  itWithPeer(opensslPeer, 'mllps:// alone connects with TLS trusting the system CAs', async () => {
    const pki = createTestPki();
    try {
      let frames = 0;
      const server = await peer(
        (bytes) => {
          frames++;
          return ackFor(bytes, 'AA');
        },
        { tls: { key: pki.server.key, cert: pki.server.cert } },
      );
      const d = destination({ url: `MLLPS://127.0.0.1:${server.port}/` });
      expect(d.describe()).toBe(`mllps://127.0.0.1:${server.port}`);
      // The test CA is not a system CA: the handshake fails on the certificate, nothing is sent.
      expect(await d.send(delivery(adt('AA-SYSCA')))).toMatchObject({ status: 'retry', code: 'TLS' });
      expect(frames).toBe(0);
    } finally {
      pki.remove();
    }
  });
});

describe('mllp destination config', () => {
  it('needs a url; has the documented defaults; cert and key go together', () => {
    expect(mllpDestinationConfig.safeParse({}).error?.issues[0]).toMatchObject({ path: ['url'] });
    expect(mllpDestinationConfig.parse({ url: 'mllp://ehr:2575' })).toEqual({
      url: { host: 'ehr', port: 2575, secure: false },
      connect_timeout_ms: 10_000,
      ack_timeout_ms: 30_000,
      on_application_error: 'retry',
    });
    expect(mllpDestinationConfig.safeParse({ url: 'mllp://ehr:2575', host: 'ehr' }).success).toBe(false);
    const half = mllpDestinationConfig.safeParse({ url: 'mllps://ehr:2575', tls: { cert: '/c.pem' } });
    expect(half.error?.issues[0]?.message).toBe('cert and key go together (mutual TLS needs both)');
    const plainWithTls = mllpDestinationConfig.safeParse({ url: 'mllp://ehr:2575', tls: { ca: '/ca.pem' } });
    expect(plainWithTls.error?.issues).toEqual([
      expect.objectContaining({
        path: ['tls'],
        message: 'tls applies to TLS connections only: write the url as mllps://HOST:PORT',
      }),
    ]);
  });

  it.each([
    ['mllp://ehr.clinic.example:6661', { host: 'ehr.clinic.example', port: 6661, secure: false }],
    ['mllps://10.0.0.7:2575', { host: '10.0.0.7', port: 2575, secure: true }],
    ['mllp://[::1]:2575', { host: '::1', port: 2575, secure: false }],
    ['MLLP://ehr:2575/', { host: 'ehr', port: 2575, secure: false }],
  ])('reads url %s', (url, expected) => {
    expect(mllpDestinationConfig.parse({ url }).url).toEqual(expected);
  });

  it.each([
    ['ehr:2575', '"ehr:2575" is not an MLLP URL; write mllp://HOST:PORT, or mllps://HOST:PORT for TLS'],
    ['tcp://ehr:2575', '"tcp://ehr:2575" is not an MLLP URL; write mllp://HOST:PORT'],
    ['mllp://ehr', 'not a "HOST:PORT" address in "mllp://ehr"; write mllp://HOST:PORT'],
    ['mllp://ehr:0', 'port 0 is outside 1–65535 in "mllp://ehr:0"'],
    ['mllp://::1:2575', 'not a "HOST:PORT" address in "mllp://::1:2575"; write mllp://HOST:PORT'],
    ['mllp://ehr:2575/path', 'not a "HOST:PORT" address'],
    [2575, "expected the receiving system's address as a text: write mllp://HOST:PORT"],
  ])('refuses url %j with a message naming the expected form', (url, message) => {
    const issues = mllpDestinationConfig.safeParse({ url }).error?.issues;
    expect(issues).toHaveLength(1);
    expect(issues?.[0]).toMatchObject({ path: ['url'], message: expect.stringContaining(message) });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
