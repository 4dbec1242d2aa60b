import { createServer, type AddressInfo } from 'node:net';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpServer, type MllpHandler } from '@sinew/mllp';
import { createTestPki, opensslAvailable } from '@sinew/test-support/tls';
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

function destination(config: Record<string, unknown>): Destination {
  const d = mllpDestination.create(mllpDestinationConfig.parse({ host: '127.0.0.1', ...config }), {
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
    const d = destination({ port: server.port });
    expect(d.describe()).toBe(`mllp://127.0.0.1:${server.port}`);
    const aa = await d.send(delivery(adt('AA-1')));
    expect(aa).toMatchObject({ status: 'sent', code: 'AA' });
    const ack = Hl7Message.parse(aa.response as Buffer);
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('AA-1');
    expect(await d.send(delivery(adt('CA-1')))).toMatchObject({ status: 'sent', code: 'CA' });
  });

  it('AE and CE are retried by default, failed with onApplicationError: fail; the ACK text is in the error', async () => {
    const server = await peer(byControlId);
    const retrying = destination({ port: server.port });
    const ae = await retrying.send(delivery(adt('AE-1')));
    expect(ae).toMatchObject({
      status: 'retry',
      code: 'AE',
      error: 'the receiver answered AE: refused by the peer (AE)',
    });
    expect(ae.response).toBeInstanceOf(Buffer);
    expect(await retrying.send(delivery(adt('CE-1')))).toMatchObject({ status: 'retry', code: 'CE' });
    const failing = destination({ port: server.port, onApplicationError: 'fail' });
    expect(await failing.send(delivery(adt('AE-2')))).toMatchObject({ status: 'failed', code: 'AE' });
  });

  it('AR and CR fail at once', async () => {
    const server = await peer(byControlId);
    const d = destination({ port: server.port });
    expect(await d.send(delivery(adt('AR-1')))).toMatchObject({
      status: 'failed',
      code: 'AR',
      error: 'the receiver rejected the message (AR): refused by the peer (AR)',
    });
    expect(await d.send(delivery(adt('CR-1')))).toMatchObject({ status: 'failed', code: 'CR' });
  });

  it('no ACK within ackTimeoutMs is retried with code TIMEOUT', async () => {
    const server = await peer(() => new Promise(() => undefined));
    const d = destination({ port: server.port, ackTimeoutMs: 200 });
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
    const d = destination({ port });
    const started = Date.now();
    expect(await d.send(delivery(adt('AA-1')))).toMatchObject({ status: 'retry', code: 'ECONNREFUSED' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a reply that is not an ACK is retried (INVALID_ACK)', async () => {
    const server = await peer(() => Buffer.from('this is not HL7'));
    const outcome = await destination({ port: server.port }).send(delivery(adt('AA-1')));
    expect(outcome).toMatchObject({ status: 'retry', code: 'INVALID_ACK' });
  });

  it('keeps one connection for many messages and reconnects after the peer restarts', async () => {
    const server = await peer(byControlId);
    const port = server.port;
    let connections = 0;
    server.on('connection', () => connections++);
    const d = destination({ port });
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
    const d = destination({ port: server.port });
    expect(await d.send(delivery(Buffer.from('{"resourceType":"Patient"}'), 'fhir'))).toMatchObject({
      status: 'failed',
      code: 'UNSUPPORTED',
    });
    const noId = Buffer.from('MSH|^~\\&|A|B|C|D|20250101||ADT^A01||P|2.5.1\rPID|1\r');
    expect(await d.send(delivery(noId))).toMatchObject({ status: 'failed', code: 'INVALID_MESSAGE' });
    expect(frames).toBe(0);
  });

  (opensslAvailable() ? it : it.skip)('sends over mutual TLS with PEM files', async () => {
    const pki = createTestPki();
    try {
      const server = await peer(byControlId, {
        tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca, requestCert: true },
      });
      const d = destination({
        port: server.port,
        tls: { ca: pki.caPath, cert: pki.client.certPath, key: pki.client.keyPath },
      });
      expect(d.describe()).toBe(`mllps://127.0.0.1:${server.port}`);
      expect(await d.send(delivery(adt('AA-TLS')))).toMatchObject({ status: 'sent', code: 'AA' });
      const noCert = destination({ port: server.port, tls: { ca: pki.caPath } });
      expect(await noCert.send(delivery(adt('AA-NOCERT')))).toMatchObject({ status: 'retry' });
    } finally {
      pki.remove();
    }
  });
});

describe('mllp destination config', () => {
  it('needs a host; cert and key go together', () => {
    expect(mllpDestinationConfig.safeParse({}).success).toBe(false);
    expect(mllpDestinationConfig.parse({ host: 'ehr' })).toEqual({
      host: 'ehr',
      port: 2575,
      connectTimeoutMs: 10_000,
      ackTimeoutMs: 30_000,
      onApplicationError: 'retry',
    });
    const half = mllpDestinationConfig.safeParse({ host: 'ehr', tls: { cert: '/c.pem' } });
    expect(half.error?.issues[0]?.message).toBe('cert and key go together (mutual TLS needs both)');
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
