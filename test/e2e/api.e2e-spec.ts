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
      { cwd: ROOT, env: { ...process.env, SINEW_TOKEN: '', ...env }, timeout: 30_000 },
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
      'OBR|1||ORD-1|GLU^Glucose',
      'OBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F',
      '',
    ].join('\r'),
  );

describe('the CLI against a running engine’s admin API (--server, SINEW_TOKEN)', () => {
  let dir: string;
  let engine: EngineProcess;
  let server: string;
  let store: Store;
  let reader: string;
  let replayer: string;
  let messageId: string;
  let mllpPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-api-e2e-'));
    mkdirSync(join(dir, 'channels'));
    const port = await freePort();
    mllpPort = port;
    writeFileSync(
      join(dir, 'channels', 'lab.yaml'),
      `id: lab
source: { type: mllp, listen: ${port} }
keys: { mrn: PID-3.1 }
destinations:
  - name: ehr
    type: http
    url: http://127.0.0.1:9/fhir
    retry: { attempts: 1 }
`,
    );
    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir: join(dir, 'data') });
    server = `http://127.0.0.1:${engine.httpPort}`;
    store = await openStore({ dataDir: join(dir, 'data') });
    const access = new AccessService(store);
    reader = (await access.createKey({ name: 'reader', scopes: ['messages:read', 'channels:read'] })).secret;
    replayer = (await access.createKey({ name: 'replayer', scopes: ['messages:read', 'messages:replay'] }))
      .secret;
    const client = new MllpClient({ host: '127.0.0.1', port });
    for (const [id, mrn] of [
      ['CLI-1', 'MRN-CLI-1'],
      ['CLI-2', 'MRN-CLI-2'],
    ])
      expect((await client.send(oru(id as string, mrn as string))).code).toBe('AA');
    await client.close();
    const failed = await waitFor(
      'both dead-lettered',
      async () => {
        const f = await store.searchMessages({ channelId: 'lab', status: 'failed' });
        return f.length === 2 ? f : undefined;
      },
      20_000,
      50,
    );
    messageId = failed.find((m) => m.controlId === 'CLI-1')!.id;
  });

  afterAll(async () => {
    await engine?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('searches and shows messages through the API, the same as on the local ledger', async () => {
    const remote = await sinew(['messages', 'search', '--server', server, '--control-id', 'CLI-1'], {
      SINEW_TOKEN: reader,
    });
    expect(remote).toMatchObject({ code: 0 });
    const fields = remote.stdout.trim().split('\t');
    expect(fields.slice(1)).toEqual([messageId, 'lab', 'ORU^R01', 'CLI-1', 'failed', 'AA']);
    const local = await sinew(['messages', 'search', '--data', join(dir, 'data'), '--control-id', 'CLI-1']);
    expect(local.stdout).toBe(remote.stdout);

    // Without phi:read the key cannot see business keys, but may search by one.
    const byKey = await sinew(
      ['messages', 'search', '--server', server, '--key', 'mrn:MRN-CLI-2', '--json'],
      {
        SINEW_TOKEN: reader,
      },
    );
    expect(byKey.code).toBe(0);
    const item = JSON.parse(byKey.stdout.trim()) as { control_id: string; keys?: unknown };
    expect(item.control_id).toBe('CLI-2');
    expect(item.keys).toBeUndefined();

    const shown = await sinew(['messages', 'show', messageId, '--server', server], { SINEW_TOKEN: reader });
    expect(shown.code).toBe(0);
    const detail = JSON.parse(shown.stdout) as { deliveries: Array<{ status: string }>; content?: unknown };
    expect(detail.deliveries[0]?.status).toBe('dead_lettered');
    expect(detail.content).toBeUndefined();

    const list = await sinew(['channels', 'list', '--server', server], { SINEW_TOKEN: reader });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^lab\tv1\t.*ehr\(http\)\t.*failed=2/m);
  });

  it('says why the server refused, and needs a token', async () => {
    const noToken = await sinew(['messages', 'search', '--server', server]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('set SINEW_TOKEN');
    const wrong = await sinew(['messages', 'search', '--server', server], {
      SINEW_TOKEN: 'snw_nothing_here',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^sinew messages: 401 auth\.invalid/);
    const scope = await sinew(['replay', '--server', server, '--message', messageId], {
      SINEW_TOKEN: reader,
    });
    expect(scope.code).toBe(1);
    expect(scope.stderr).toContain('403 scope.required: this operation needs the scope messages:replay');
    const bad = await sinew(
      ['messages', 'search', '--server', server, '--limit', '5', '--cursor', 'nonsense'],
      {
        SINEW_TOKEN: reader,
      },
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('query.cursor');
  });

  it('replays dead letters through the API: counts first, then replays', async () => {
    const count = await sinew(['replay', '--server', server, '--channel', 'lab', '--list'], {
      SINEW_TOKEN: replayer,
    });
    expect(count).toMatchObject({ code: 0, stderr: '2 dead-lettered\n' });
    const one = await sinew(['replay', '--server', server, '--message', messageId], {
      SINEW_TOKEN: replayer,
    });
    expect(one.code).toBe(0);
    expect(one.stdout).toBe(`replayed\t${messageId}.ehr\n`);
    // Sent again at once: one more attempt, dead-lettered again (the EHR is still not there).
    await waitFor(
      'the replayed delivery attempted again',
      async () => ((await store.getAttempts(`${messageId}.ehr`)).length === 2 ? true : undefined),
      10_000,
      50,
    );
  });

  it('pauses a channel from the local ledger and resumes it through the API', async () => {
    const paused = await sinew(['channels', 'pause', 'lab', '--data', join(dir, 'data')]);
    expect(paused).toMatchObject({ code: 0, stdout: 'lab paused\n' });
    const client = new MllpClient({ host: '127.0.0.1', port: mllpPort });
    try {
      // The running engine reads the ledger's pauses every sweep interval (500 ms here).
      await waitFor(
        'the engine refusing the paused channel',
        async () => ((await client.send(oru('CLI-P', 'MRN-CLI-9'))).code === 'AR' ? true : undefined),
        10_000,
        200,
      );
      const listed = await sinew([
        'channels',
        'list',
        '--data',
        join(dir, 'data'),
        '--channels',
        join(dir, 'channels'),
      ]);
      expect(listed.stdout).toMatch(/^lab \(paused\)\t/);
      const operator = await new AccessService(store).createKey({
        name: 'operator',
        scopes: ['channels:operate'],
      });
      const denied = await sinew(['channels', 'resume', 'lab', '--server', server], { SINEW_TOKEN: reader });
      expect(denied.code).toBe(1);
      const resumed = await sinew(['channels', 'resume', 'lab', '--server', server], {
        SINEW_TOKEN: operator.secret,
      });
      expect(resumed).toMatchObject({ code: 0, stdout: 'lab resumed\n' });
      expect((await client.send(oru('CLI-R', 'MRN-CLI-9'))).code).toBe('AA');
    } finally {
      await client.close();
    }
  });
});
