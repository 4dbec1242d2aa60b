import { AccessService } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { openStore, type Store } from '@sinew/store';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { freePort } from '../../../test/support/engine-process';
import { describeWithPeer } from '../../../test/support/peers';
import { createTestPki, opensslPeer, type TestPki } from '../../../test/support/tls';
import { waitFor } from '../../../test/support/wait';
import { loadConfig } from './config';
import { startEngine, type RunningEngine } from './run';

jest.setTimeout(60_000);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  fingerprint: string;
}

function get(
  port: number,
  path: string,
  options: { ca: Buffer[]; cert?: Buffer; key?: Buffer; token?: string },
): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: options.ca,
        ...(options.cert ? { cert: options.cert, key: options.key } : {}),
        ...(options.token ? { headers: { authorization: `Bearer ${options.token}` } } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          done({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            fingerprint: (res.socket as TLSSocket).getPeerCertificate().fingerprint256,
          }),
        );
      },
    );
    req.on('error', fail);
    req.end();
  });
}

describeWithPeer(opensslPeer, 'the engine’s HTTP port over TLS', () => {
  let dir: string;
  let pki: TestPki;
  let renewed: TestPki;
  let running: RunningEngine | undefined;
  let store: Store;
  const logs: string[] = [];

  const start = async (env: Record<string, string>) => {
    const config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: '0',
      SINEW_PIPELINE_THREADS: '0',
      SINEW_HTTP_TLS_CERT: join(dir, 'tls', 'cert.pem'),
      SINEW_HTTP_TLS_KEY: join(dir, 'tls', 'key.pem'),
      ...env,
    });
    running = await startEngine(config, createLogger('info', { write: (l: string) => logs.push(l) }));
    return running.httpPort;
  };

  beforeAll(async () => {
    pki = createTestPki();
    renewed = createTestPki();
    dir = mkdtempSync(join(tmpdir(), 'sinew-tls-'));
    mkdirSync(join(dir, 'channels'));
    mkdirSync(join(dir, 'tls'));
    writeFileSync(
      join(dir, 'channels', 'lab.yaml'),
      `id: lab\nsource: { type: mllp, listen: ${await freePort()} }\ndestinations:\n  - name: out\n    type: file\n    directory: ${join(dir, 'out')}\n`,
    );
    copyFileSync(pki.server.certPath, join(dir, 'tls', 'cert.pem'));
    copyFileSync(pki.server.keyPath, join(dir, 'tls', 'key.pem'));
    copyFileSync(pki.caPath, join(dir, 'tls', 'ca.pem'));
    store = await openStore({ dataDir: join(dir, 'data') });
  });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });
  afterAll(async () => {
    await store.close();
    pki.remove();
    renewed.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with HSTS, exposes the certificate’s expiry, and loads a renewed certificate without a restart', async () => {
    const port = await start({});
    const ca = [pki.ca, renewed.ca];
    const first = await get(port, '/health', { ca });
    expect(first.status).toBe(200);
    expect(first.headers['strict-transport-security']).toBe('max-age=31536000');
    const metrics = await get(port, '/metrics', { ca });
    expect(metrics.body).toMatch(/sinew_tls_certificate_expiry_timestamp_seconds\{listener="http"\} \d+/);

    copyFileSync(renewed.server.keyPath, join(dir, 'tls', 'key.pem'));
    copyFileSync(renewed.server.certPath, join(dir, 'tls', 'cert.pem'));
    const after = await waitFor(
      'the renewed certificate served',
      async () => {
        const a = await get(port, '/health', { ca });
        return a.fingerprint !== first.fingerprint ? a : undefined;
      },
      10_000,
      100,
    );
    expect(after.status).toBe(200);
    expect(logs.join('')).toContain('HTTP listener certificate reloaded');

    // A half-written pair (a key without its certificate) leaves the served certificate as it is.
    writeFileSync(join(dir, 'tls', 'key.pem'), pki.server.key);
    await waitFor(
      'the refused pair logged',
      async () =>
        logs.join('').includes('cannot be used; the current certificate stays') ? true : undefined,
      10_000,
      100,
    );
    expect((await get(port, '/health', { ca })).fingerprint).toBe(after.fingerprint);
    copyFileSync(pki.server.keyPath, join(dir, 'tls', 'key.pem'));
    copyFileSync(pki.server.certPath, join(dir, 'tls', 'cert.pem'));
  });

  it('refuses a client without a certificate under mutual TLS', async () => {
    const port = await start({
      SINEW_HTTP_TLS_CA: join(dir, 'tls', 'ca.pem'),
      SINEW_HTTP_TLS_CLIENT_CERT: 'require',
    });
    await expect(get(port, '/health', { ca: [pki.ca] })).rejects.toThrow();
    await expect(
      get(port, '/health', { ca: [pki.ca], cert: pki.strangerClient.cert, key: pki.strangerClient.key }),
    ).rejects.toThrow();
    const ok = await get(port, '/health', { ca: [pki.ca], cert: pki.client.cert, key: pki.client.key });
    expect(ok.status).toBe(200);
  });

  it('asks /ready and /metrics for a metrics:read key when configured; /health stays open', async () => {
    const port = await start({ SINEW_OPS_KEY_REQUIRED: 'true' });
    const access = new AccessService(store);
    const metricsKey = (await access.createKey({ name: 'prometheus', scopes: ['metrics:read'] })).secret;
    const other = (await access.createKey({ name: 'reader', scopes: ['messages:read'] })).secret;
    const ca = [pki.ca];
    expect((await get(port, '/health', { ca })).status).toBe(200);
    expect((await get(port, '/metrics', { ca })).status).toBe(401);
    expect((await get(port, '/ready', { ca, token: other })).status).toBe(403);
    expect((await get(port, '/ready', { ca, token: metricsKey })).status).toBe(200);
    const metrics = await get(port, '/metrics', { ca, token: metricsKey });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('sinew_messages_received_total');
  });
});
