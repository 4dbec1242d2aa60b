import { parseSmartScope, type SmartScope } from '@sinew/auth';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { createHubChangesDouble } from '@sinew/test-support/hub-changes-double';
import { waitFor } from '@sinew/test-support/wait';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { WebhookDispatcher } from './dispatcher';
import { WebhookService } from './service';

jest.setTimeout(60_000);

const DOC = join(__dirname, '..', '..', '..', 'docs', 'open-api', 'webhooks.md');

type Verify = (secret: string, rawBody: string, headers: Record<string, string>) => unknown;

/** The `verifySinewWebhook` of the doc's TypeScript block with this info string, compiled and loaded. */
function example(info: string): Verify {
  const doc = readFileSync(DOC, 'utf8');
  const m = new RegExp('```ts ' + info + '\\n([\\s\\S]*?)```').exec(doc);
  if (!m) throw new Error(`docs/open-api/webhooks.md has no \`\`\`ts ${info} block`);
  const js = ts.transpileModule(m[1] as string, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, strict: true },
  }).outputText;
  const exports: { verifySinewWebhook?: Verify } = {};
  // The block is the docs' own code, compiled and run as a module would be.
  new Function('require', 'exports', js)(require, exports);
  if (!exports.verifySinewWebhook) throw new Error(`${info} does not export verifySinewWebhook`);
  return exports.verifySinewWebhook;
}

describe('the signature verification examples of docs/open-api/webhooks.md, against real deliveries', () => {
  let dir: string;
  let store: TypeOrmStore;
  let server: Server;
  const received: Array<{ body: string; headers: Record<string, string> }> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-webhook-docs-'));
    store = await openStore({ dataDir: dir });
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          body: Buffer.concat(chunks).toString('utf8'),
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await store.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts what Sinew signs and refuses a tampered body, another secret or an old timestamp', async () => {
    const hub = createHubChangesDouble();
    const dispatcher = new WebhookDispatcher({ store: store.webhooks, hub, pollMs: 50 });
    const service = new WebhookService({ store: store.webhooks });
    const { secret } = await service.create(
      {
        appId: 'docs',
        environment: 'production',
        scopes: [parseSmartScope('system/Appointment.rs') as SmartScope],
      },
      {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
        events: ['appointment.booked'],
      },
    );
    const { secret: other } = await service.create(
      { appId: 'docs', environment: 'production', scopes: [] },
      { url: 'https://127.0.0.1:1/unused', events: ['patient.created'] },
    );
    dispatcher.start();
    try {
      hub.commit({
        action: 'created',
        resource: { resourceType: 'Appointment', id: 'a81', status: 'booked' },
        patientId: 'p17',
      });
      const got = await waitFor('the delivery', () => received[0]);
      for (const info of ['verify-standardwebhooks', 'verify-node-crypto']) {
        const verify = example(info);
        expect([info, verify(secret, got.body, got.headers)]).toEqual([
          info,
          expect.objectContaining({
            type: 'appointment.booked',
            data: expect.objectContaining({ id: 'a81' }),
          }),
        ]);
        expect(() => verify(secret, got.body.replace('a81', 'a82'), got.headers)).toThrow();
        expect(() => verify(other, got.body, got.headers)).toThrow();
        const stale = String(Number(got.headers['webhook-timestamp']) - 3600);
        expect(() => verify(secret, got.body, { ...got.headers, 'webhook-timestamp': stale })).toThrow();
      }
    } finally {
      await dispatcher.stop();
    }
  });
});
