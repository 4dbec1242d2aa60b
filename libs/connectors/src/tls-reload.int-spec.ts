import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { describeWithPeer } from '@sinew/test-support/peers';
import { createTestPki, opensslPeer, type TestPki } from '@sinew/test-support/tls';
import { waitFor } from '@sinew/test-support/wait';
import { ackFor, recordingIngest, recordingLogger } from '../test/support';
import type { Source } from './connector';
import { httpSource, httpSourceConfig } from './http.source';
import { mllpSource, mllpSourceConfig } from './mllp.source';

jest.setTimeout(30_000);

/** The SHA-256 fingerprint of the certificate a listener presents to a new connection. */
function httpsFingerprint(port: number, ca: Buffer[]): Promise<string> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', ca, agent: false }, (res) => {
      res.resume();
      done((res.socket as TLSSocket).getPeerCertificate().fingerprint256);
    });
    req.on('error', fail);
    req.end();
  });
}

function tlsFingerprint(port: number, ca: Buffer[]): Promise<string> {
  return new Promise((done, fail) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      done(fp);
    });
    socket.on('error', fail);
  });
}

describeWithPeer(opensslPeer, 'TLS sources load a renewed certificate without a restart', () => {
  let first: TestPki;
  let renewed: TestPki;
  let dir: string;
  const sources: Source[] = [];

  beforeAll(() => {
    first = createTestPki();
    renewed = createTestPki();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-tls-reload-'));
    copyFileSync(first.server.certPath, join(dir, 'cert.pem'));
    copyFileSync(first.server.keyPath, join(dir, 'key.pem'));
  });
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.stop(1_000)));
    rmSync(dir, { recursive: true, force: true });
  });
  afterAll(() => {
    first.remove();
    renewed.remove();
  });

  const tls = () => ({ cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') });
  const renew = () => {
    copyFileSync(renewed.server.keyPath, join(dir, 'key.pem'));
    copyFileSync(renewed.server.certPath, join(dir, 'cert.pem'));
  };

  it.each([
    [
      'http',
      (logger: ReturnType<typeof recordingLogger>) =>
        httpSource.create(httpSourceConfig.parse({ listen: 0, tls: tls() }), {
          channelId: 'web-in',
          ingest: recordingIngest(() => ({ disposition: { kind: 'accepted' } })),
          logger,
        }),
      httpsFingerprint,
    ],
    [
      'mllp',
      (logger: ReturnType<typeof recordingLogger>) =>
        mllpSource.create(mllpSourceConfig.parse({ listen: 0, tls: tls() }), {
          channelId: 'lab',
          ingest: recordingIngest((req) => ({
            disposition: { kind: 'accepted' },
            reply: ackFor(req.body, 'AA'),
          })),
          logger,
        }),
      tlsFingerprint,
    ],
  ] as const)(
    '%s: new connections get the renewed certificate; a broken pair keeps the current one',
    async (_kind, make, fingerprint) => {
      const logger = recordingLogger();
      const source = make(logger);
      await source.start();
      sources.push(source);
      const port = source.port?.() as number;
      const ca = [first.ca, renewed.ca];
      const before = await fingerprint(port, ca);
      renew();
      const after = await waitFor(
        'the renewed certificate served',
        async () => {
          const fp = await fingerprint(port, ca);
          return fp !== before ? fp : undefined;
        },
        10_000,
        100,
      );
      // Half a pair (a key that does not match the certificate): refused, the renewed one stays.
      expect(logger.entries.some((e) => e.level === 'info' && e.msg === 'TLS certificate reloaded')).toBe(
        true,
      );
      writeFileSync(join(dir, 'key.pem'), first.server.key);
      await waitFor(
        'the refused pair logged',
        () =>
          logger.entries.some((e) => e.level === 'warn' && /cannot be used/.test(e.msg ?? '')) || undefined,
        10_000,
        50,
      );
      expect(await fingerprint(port, ca)).toBe(after);
    },
  );
});
