import { AccessService } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type MessageRecord, type Store } from '@sinew/store';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../test/support/engine-process';
import { withTestSchema } from '../../../../test/support/postgres';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(60_000);

const LEDGERS = [
  {
    name: 'SQLite',
    setUp: async (dataDir: string) => ({
      env: {} as Record<string, string>,
      open: () => openStore({ dataDir }),
      drop: async () => undefined,
    }),
  },
  {
    name: 'PostgreSQL',
    setUp: async () => {
      const schema = await withTestSchema();
      return {
        env: { DATABASE_URL: schema.url, DATABASE_SCHEMA: schema.schema } as Record<string, string>,
        open: () => openStore({ databaseUrl: schema.url, schema: schema.schema }),
        drop: () => schema.drop(),
      };
    },
  },
];

describe.each(LEDGERS)('parent and child messages in the admin API (channel chaining, $name)', (ledger) => {
  let dir: string;
  let running: RunningEngine | undefined;
  let store: Store | undefined;
  let drop: () => Promise<void> = async () => undefined;
  let base: string;
  let parent: MessageRecord;
  let child: MessageRecord;
  let access: AccessService;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-links-'));
    mkdirSync(join(dir, 'channels'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'channels', 'intake.yaml'),
      `id: intake
source: { type: mllp, listen: ${port} }
destinations:
  - name: to-archive
    type: channel
    channel: archive
    payload: raw
`,
    );
    writeFileSync(
      join(dir, 'channels', 'archive.yaml'),
      `id: archive
source: { type: channel, from: [intake] }
destinations:
  - name: files
    type: file
    directory: ${join(dir, 'out')}
`,
    );
    const backend = await ledger.setUp(join(dir, 'data'));
    drop = backend.drop;
    const config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: '0',
      SINEW_PIPELINE_THREADS: '0',
      ...backend.env,
    });
    running = await startEngine(config, createLogger('silent'));
    base = `http://127.0.0.1:${running.httpPort}`;
    store = await backend.open();
    access = new AccessService(store);
    const client = new MllpClient({ host: '127.0.0.1', port });
    const sent = await client.send(
      Hl7Message.parse('MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|LINK-1|P|2.5.1\rPID|1||M-1\r'),
    );
    expect(sent.code).toBe('AA');
    await client.close();
    const s = store;
    child = await waitFor(
      'the child delivered',
      async () => (await s.searchMessages({ channelId: 'archive', status: 'delivered' }))[0],
      20_000,
      50,
    );
    parent = await waitFor(
      'the parent delivered',
      async () => (await s.searchMessages({ channelId: 'intake', status: 'delivered' }))[0],
      20_000,
      50,
    );
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string, token: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { parent?: unknown; children: unknown[] };
  };

  it('shows the parent on the child and the child on the parent', async () => {
    const { secret } = await access.createKey({ name: 'reader', scopes: ['messages:read'] });
    const c = await get(`/api/v1/messages/${child.id}`, secret);
    expect(c.parent).toEqual({ id: parent.id, channel_id: 'intake', destination: 'to-archive' });
    expect(c.children).toEqual([]);
    const p = await get(`/api/v1/messages/${parent.id}`, secret);
    expect(p.parent).toBeUndefined();
    expect(p.children).toEqual([{ id: child.id, channel_id: 'archive', destination: 'to-archive' }]);
  });

  it('leaves out linked messages on channels the key may not see', async () => {
    const { secret } = await access.createKey({
      name: 'intake-only',
      scopes: ['messages:read'],
      channels: ['intake'],
    });
    const p = await get(`/api/v1/messages/${parent.id}`, secret);
    expect(p.children).toEqual([]);
  });
});
