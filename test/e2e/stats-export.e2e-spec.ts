import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessService } from '@sinew/auth';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import { freePort, ROOT, startEngineProcess, type EngineProcess } from '../support/engine-process';
import { waitFor } from '../support/wait';

jest.setTimeout(90_000);

function sinew(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      ['bin/sinew.js', ...args],
      {
        cwd: ROOT,
        env: { ...process.env, SINEW_TOKEN: '', ...env },
        timeout: 30_000,
        maxBuffer: 64 * 2 ** 20,
      },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

const oru = (controlId: string, mrn: string) =>
  Hl7Message.parse(
    [
      `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|${controlId}|P|2.5.1`,
      `PID|1||${mrn}^^^NORTH^MR||DOE^JANE||19700101|F`,
      'OBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F',
      '',
    ].join('\r'),
  );

describe('sinew channels stats, sinew messages export, sinew audit list --csv', () => {
  let dir: string;
  let engine: EngineProcess;
  let server: string;
  let store: Store;
  let access: AccessService;
  const data = () => join(dir, 'data');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-stats-e2e-'));
    mkdirSync(join(dir, 'channels'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'channels', 'lab.yaml'),
      `id: lab
source: { type: mllp, listen: ${port} }
keys: { mrn: PID-3.1 }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out')}
    retry: { attempts: 1 }
`,
    );
    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir: data() });
    server = `http://127.0.0.1:${engine.httpPort}`;
    store = await openStore({ dataDir: data() });
    access = new AccessService(store);
    const client = new MllpClient({ host: '127.0.0.1', port });
    for (let i = 1; i <= 5; i++)
      expect((await client.send(oru(`E2E-${i}`, `MRN-E2E-${i % 2}`))).code).toBe('AA');
    await client.close();
    await waitFor(
      'five messages delivered',
      async () => (await store.searchMessages({ channelId: 'lab', status: 'delivered' })).length === 5,
      20_000,
      50,
    );
  });

  afterAll(async () => {
    await engine?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('channels stats: the same figures from the local ledger and through the API', async () => {
    const local = await sinew(['channels', 'stats', 'lab', '--data', data(), '--json']);
    expect(local.stderr).toBe('');
    expect(local.code).toBe(0);
    const stats = JSON.parse(local.stdout) as {
      totals: Record<string, number>;
      ack_latency_ms: { count: number };
      end_to_end_latency_ms: { count: number };
      hours: unknown[];
    };
    expect(stats.totals).toMatchObject({ received: 5, sent: 5, dead_lettered: 0 });
    expect(stats.ack_latency_ms.count).toBe(5);
    expect(stats.end_to_end_latency_ms.count).toBe(5);

    const token = (await access.createKey({ name: 'viewer', scopes: ['channels:read'] })).secret;
    const remote = await sinew(['channels', 'stats', 'lab', '--server', server, '--json'], {
      SINEW_TOKEN: token,
    });
    expect(remote.code).toBe(0);
    const viaApi = JSON.parse(remote.stdout) as typeof stats;
    expect(viaApi.totals).toEqual(stats.totals);
    expect(viaApi.ack_latency_ms).toEqual(stats.ack_latency_ms);

    const text = await sinew(['channels', 'stats', 'lab', '--data', data()]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('received 5, filtered 0, rejected 0, errored 0, sent 5, dead-lettered 0');
    expect(text.stdout).toMatch(/ACK latency: p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms \(5\)/);
    expect(text.stdout).toMatch(/\n\d{4}-\d{2}-\d{2}T\d{2}:00:00\.000Z\t5\t0\t0\t0\t5\t0\n/);

    const bad = await sinew([
      'channels',
      'stats',
      'lab',
      '--data',
      data(),
      '--since',
      '2020-01-01T00:00:00Z',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('at most 31 days');
  });

  it('messages export: NDJSON from the local ledger and through the API, with content on request', async () => {
    const local = await sinew(['messages', 'export', '--channel', 'lab', '--content', '--data', data()]);
    expect(local.code).toBe(0);
    const lines = local.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.control_id)).toEqual(['E2E-5', 'E2E-4', 'E2E-3', 'E2E-2', 'E2E-1']);
    expect(lines[0]).toMatchObject({ keys: { mrn: 'MRN-E2E-1' }, status: 'delivered' });
    expect((lines[0]!.content as { raw: { data: string } }).raw.data).toContain('E2E-5');

    const engineer = (await access.createKey({ name: 'engineer', scopes: ['messages:read', 'phi:read'] }))
      .secret;
    const remote = await sinew(
      ['messages', 'export', '--server', server, '--key', 'mrn:MRN-E2E-0', '--content'],
      { SINEW_TOKEN: engineer },
    );
    expect(remote.code).toBe(0);
    const found = remote.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { control_id: string; content: unknown });
    expect(found.map((l) => l.control_id)).toEqual(['E2E-4', 'E2E-2']);
    expect(found.every((l) => l.content !== undefined)).toBe(true);

    const reader = (await access.createKey({ name: 'reader', scopes: ['messages:read'] })).secret;
    const refused = await sinew(['messages', 'export', '--server', server, '--content'], {
      SINEW_TOKEN: reader,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('403 scope.required');
    expect(refused.stdout).toBe('');
  });

  it('audit list --csv: a header row and one quoted row per event', async () => {
    const out = await sinew(['audit', 'list', '--csv', '--limit', '1000', '--data', data()]);
    expect(out.code).toBe(0);
    const rows = out.stdout.split('\r\n');
    expect(rows[0]).toBe(
      'seq,at,actor,actor_kind,via,action,object_ids,filter,from,outcome,content_read,hash,prev_hash',
    );
    // The export through the API above was audited, its filter (JSON) quoted.
    expect(out.stdout).toContain(
      ',GET /api/v1/messages/export,,"{""content"":""true"",""key"":""mrn""}",127.0.0.1,200,true,',
    );
  });
});
