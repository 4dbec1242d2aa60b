import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { itWithPeer } from '@sinew/test-support/peers';
import { createTestPki, opensslPeer } from '@sinew/test-support/tls';
import { sleep } from '@sinew/test-support/wait';
import { recordingLogger } from '../test/support';
import type { DeliveryRequest, Destination } from './connector';
import { httpDestination, httpDestinationConfig } from './http.destination';

jest.setTimeout(15_000);

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A local HTTP peer: records each request and answers with `respond`. */
async function peer(respond: (req: Received, res: ServerResponse) => void) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(r);
      respond(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

function destination(config: Record<string, unknown>): Destination {
  return httpDestination.create(httpDestinationConfig.parse(config), {
    channelId: 'c',
    destination: 'pms',
    logger: recordingLogger(),
  });
}

function delivery(body: string, contentType: DeliveryRequest['contentType'] = 'json'): DeliveryRequest {
  return {
    messageId: 'm1',
    deliveryId: 'd1',
    attempt: 1,
    body: Buffer.from(body),
    contentType,
    channelId: 'c',
    destination: 'pms',
  };
}

const reply =
  (status: number, body = '', headers: Record<string, string> = {}) =>
  (_req: Received, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

describe('http destination', () => {
  it('2xx is sent: body, method, headers and content type go out; the response body is kept', async () => {
    const p = await peer(reply(201, '{"id":"appt-9"}'));
    const d = destination({
      url: `${p.url}/api/appointments`,
      method: 'PUT',
      headers: { 'X-Api-Key': 'k-123' },
    });
    const outcome = await d.send(delivery('{"start":"2025-01-01T09:00"}'));
    expect(outcome).toEqual({ status: 'sent', code: 'HTTP 201', response: Buffer.from('{"id":"appt-9"}') });
    expect(p.received[0]).toMatchObject({ method: 'PUT', url: '/api/appointments' });
    expect(p.received[0]?.headers).toMatchObject({
      'x-api-key': 'k-123',
      'content-type': 'application/json',
    });
    expect(p.received[0]?.body.toString()).toBe('{"start":"2025-01-01T09:00"}');
  });

  it('takes the content type from the payload unless one is configured', async () => {
    const p = await peer(reply(200));
    await destination({ url: p.url }).send(delivery('{"resourceType":"Patient"}', 'fhir'));
    await destination({ url: p.url }).send(delivery('MSH|^~\\&|', 'hl7v2'));
    await destination({ url: p.url, content_type: 'application/x-custom' }).send(delivery('{}'));
    await destination({ url: p.url, headers: { 'Content-Type': 'application/vnd.pms+json' } }).send(
      delivery('{}'),
    );
    expect(p.received.map((r) => r.headers['content-type'])).toEqual([
      'application/fhir+json',
      'application/hl7-v2',
      'application/x-custom',
      'application/vnd.pms+json',
    ]);
  });

  it.each([408, 429, 500, 502, 503])('HTTP %i is retried', async (status) => {
    const p = await peer(reply(status, '{"error":"busy"}'));
    const outcome = await destination({ url: p.url }).send(delivery('{}'));
    expect(outcome).toMatchObject({
      status: 'retry',
      code: `HTTP ${status}`,
      response: Buffer.from('{"error":"busy"}'),
    });
    expect(outcome).not.toHaveProperty('retryAfterMs');
  });

  it('Retry-After sets the wait, in seconds or as an HTTP date', async () => {
    const p = await peer(reply(503, '', { 'retry-after': '7' }));
    expect(await destination({ url: p.url }).send(delivery('{}'))).toMatchObject({
      status: 'retry',
      retryAfterMs: 7000,
    });
    const at = new Date(Date.now() + 60_000).toUTCString();
    const q = await peer(reply(429, '', { 'retry-after': at }));
    const outcome = await destination({ url: q.url }).send(delivery('{}'));
    expect(outcome.status).toBe('retry');
    const wait = (outcome as { retryAfterMs?: number }).retryAfterMs as number;
    expect(wait).toBeGreaterThan(55_000);
    expect(wait).toBeLessThanOrEqual(60_000);
  });

  it.each([400, 401, 404, 409, 422])('HTTP %i fails with the response kept', async (status) => {
    const p = await peer(reply(status, '{"error":"no such patient"}'));
    expect(await destination({ url: p.url }).send(delivery('{}'))).toEqual({
      status: 'failed',
      code: `HTTP ${status}`,
      error: `the receiver answered HTTP ${status}`,
      response: Buffer.from('{"error":"no such patient"}'),
    });
  });

  it('does not follow a redirect (a POST must not turn into a GET): it fails, naming the new address', async () => {
    const p = await peer(reply(302, '', { location: 'http://elsewhere.example/api' }));
    const outcome = await destination({ url: p.url }).send(delivery('{}'));
    expect(outcome).toMatchObject({ status: 'failed', code: 'HTTP 302' });
    expect((outcome as { error: string }).error).toContain('http://elsewhere.example/api');
    expect(p.received).toHaveLength(1);
  });

  it('a response slower than timeout_ms is retried with code TIMEOUT', async () => {
    const p = await peer((_req, res) => setTimeout(() => res.end('late'), 1_000));
    const started = Date.now();
    const outcome = await destination({ url: p.url, timeout_ms: 200 }).send(delivery('{}'));
    expect(outcome).toMatchObject({ status: 'retry', code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it('a refused connection is retried with code ECONNREFUSED', async () => {
    const p = await peer(reply(200));
    const url = p.url;
    p.server.close();
    await sleep(50);
    expect(await destination({ url }).send(delivery('{}'))).toMatchObject({
      status: 'retry',
      code: 'ECONNREFUSED',
    });
  });

  it('keeps at most 1 MiB of a response', async () => {
    const p = await peer(reply(200, 'x'.repeat(3 * 1024 * 1024)));
    const outcome = await destination({ url: p.url }).send(delivery('{}'));
    expect(outcome.status).toBe('sent');
    expect((outcome as { response: Buffer }).response.length).toBe(1024 * 1024);
  });
});

describe('http destination over TLS', () => {
  itWithPeer(
    opensslPeer,
    'trusts the CA it is given and presents its client certificate (mutual TLS)',
    async () => {
      const pki = createTestPki();
      try {
        const seen: Array<{ authorized: boolean; issuer: unknown }> = [];
        const server = createHttpsServer(
          {
            key: pki.server.key,
            cert: pki.server.cert,
            ca: pki.ca,
            requestCert: true,
            rejectUnauthorized: true,
          },
          (req, res) => {
            const socket = req.socket as TLSSocket;
            seen.push({ authorized: socket.authorized, issuer: socket.getPeerCertificate().issuer?.CN });
            req.resume();
            req.on('end', () => res.writeHead(201).end('{"ok":true}'));
          },
        );
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        servers.push(server as unknown as Server);
        const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/api`;

        const mutual = destination({
          url,
          tls: { ca: pki.caPath, cert: pki.client.certPath, key: pki.client.keyPath },
        });
        expect(await mutual.send(delivery('{"a":1}'))).toMatchObject({ status: 'sent', code: 'HTTP 201' });
        expect(seen).toEqual([{ authorized: true, issuer: expect.any(String) }]);
        await mutual.close();

        // The server's CA trusted, no client certificate: the server refuses the handshake.
        const noCert = destination({ url, tls: { ca: pki.ca.toString('utf8') } });
        expect(await noCert.send(delivery('{"a":2}'))).toMatchObject({ status: 'retry' });
        // No tls: the system CAs do not know the test CA.
        const systemCas = destination({ url });
        expect(await systemCas.send(delivery('{"a":3}'))).toMatchObject({ status: 'retry' });
        expect(seen).toHaveLength(1);
      } finally {
        pki.remove();
      }
    },
  );
});

describe('http destination config', () => {
  it('takes tls only with an https:// url', () => {
    expect(
      httpDestinationConfig.safeParse({ url: 'http://pms.example/api', tls: { ca: '/etc/ca.pem' } }).error
        ?.issues,
    ).toEqual([expect.objectContaining({ path: ['tls'], message: 'tls applies to https:// URLs only' })]);
    expect(
      httpDestinationConfig.safeParse({ url: 'https://pms.example/api', tls: { cert: '/c.pem' } }).error
        ?.issues,
    ).toEqual([expect.objectContaining({ path: ['tls', 'key'] })]);
  });

  it('needs an http(s) URL; defaults as documented', () => {
    for (const url of ['ftp://x', 'not a url']) {
      expect(httpDestinationConfig.safeParse({ url }).error?.issues).toEqual([
        expect.objectContaining({
          path: ['url'],
          message: 'expected an http:// or https:// URL, e.g. https://pms.example/api/messages',
        }),
      ]);
    }
    expect(httpDestinationConfig.parse({ url: 'https://pms.example/api' })).toEqual({
      url: 'https://pms.example/api',
      method: 'POST',
      headers: {},
      timeout_ms: 10_000,
    });
  });
});
