import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessService } from '@sinew/auth';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import { freePort, ROOT, startEngineProcess, type EngineProcess } from '../support/engine-process';
import { waitFor } from '../support/wait';

jest.setTimeout(120_000);

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

const oru = (controlId: string) =>
  Hl7Message.parse(
    [
      `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|${controlId}|P|2.5.1`,
      'PID|1||MRN-E2E-1^^^NORTH^MR||DOE^JANE||19700101|F',
      'OBR|1||ORD-1|GLU^Glucose',
      'OBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F',
      '',
    ].join('\r'),
  );

describe('sinew deploy|history|rollback|lint --server against sinew start', () => {
  let dir: string;
  let engine: EngineProcess;
  let server: string;
  let store: Store;
  let port: number;
  let reader: string;
  let deployer: string;

  const channel = (out: string) => `id: lab
source: { type: mllp, listen: ${port} }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, out)}
    retry: { attempts: 3 }
`;
  const labFile = () => join(dir, 'channels', 'lab.yaml');
  const send = async (controlId: string) => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      expect((await client.send(oru(controlId))).code).toBe('AA');
    } finally {
      await client.close();
    }
  };
  const archived = (out: string, controlId: string) =>
    waitFor(
      `${controlId} archived in ${out}`,
      () =>
        existsSync(join(dir, out)) &&
        readdirSync(join(dir, out)).some((f) =>
          readFileSync(join(dir, out, f), 'utf8').includes(`|${controlId}|`),
        ),
      20_000,
      50,
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-channel-ops-e2e-'));
    mkdirSync(join(dir, 'channels'));
    port = await freePort();
    writeFileSync(labFile(), channel('out-1'));
    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir: join(dir, 'data') });
    server = `http://127.0.0.1:${engine.httpPort}`;
    store = await openStore({ dataDir: join(dir, 'data') });
    const access = new AccessService(store);
    reader = (await access.createKey({ name: 'reader', scopes: ['channels:read'] })).secret;
    deployer = (await access.createKey({ name: 'deployer', scopes: ['channels:write'] })).secret;
    await send('E2E-1');
    await archived('out-1', 'E2E-1');
  });

  afterAll(async () => {
    await engine?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lints files on the server with the same lines and exit status as sinew lint', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(
      broken,
      `id: broken
source: { type: mllp, listen: 2575 }
pipeline:
  - validat: { rules: [] }
destinations:
  - name: out
    type: file
    directory: /tmp/out
    retry: { attempts: 3 }
`,
    );
    const remote = await sinew(['lint', '--server', server, broken], { SINEW_TOKEN: reader });
    const local = await sinew(['lint', broken]);
    expect(remote).toEqual(local);
    expect(remote.code).toBe(1);
    expect(remote.stdout).toBe(
      `${broken}:4:5 error pipeline.unknown_step pipeline.0.validat: unknown step validat; did you mean validate?\n`,
    );
    const clean = await sinew(['lint', '--server', server, labFile()], { SINEW_TOKEN: reader });
    expect(clean).toMatchObject({ code: 0, stdout: '', stderr: '0 errors, 0 warnings in 1 file\n' });
  });

  it('deploys the engine’s folder, shows the history and rolls back, as without --server', async () => {
    writeFileSync(labFile(), channel('out-2'));
    const denied = await sinew(['deploy', '--server', server], { SINEW_TOKEN: reader });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^sinew deploy: 403 scope\.required/);

    const deployed = await sinew(['deploy', '--server', server], { SINEW_TOKEN: deployer });
    expect(deployed.stderr).toBe('deployed: 0 added, 1 changed, 0 removed, 0 unchanged\n');
    expect(deployed.code).toBe(0);
    const latest = await store.latestDeployment('lab');
    expect(deployed.stdout).toBe(`lab\tversion 2\tkey:deployer\t${latest?.contentHash.slice(0, 12)}\n`);
    await send('E2E-2');
    await archived('out-2', 'E2E-2');

    // A broken folder: the findings, exit 1, the running version stays.
    writeFileSync(labFile(), `${channel('out-3')}    polcy: reject\n`);
    const refused = await sinew(['deploy', '--server', server], { SINEW_TOKEN: deployer });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/lab\.yaml:8:5 error schema\.unknown_key destinations\.0\.polcy: /);
    expect(refused.stderr).toBe('sinew deploy: the channels have errors; nothing was deployed\n');
    await send('E2E-3');
    await archived('out-2', 'E2E-3');
    writeFileSync(labFile(), channel('out-2'));

    // The history and a diff: the same text as sinew history on the ledger.
    for (const args of [
      ['history', 'lab'],
      ['history', 'lab', '--diff', '1', '2'],
      ['history', 'lab', '--diff', '1'],
    ]) {
      const remote = await sinew([...args, '--server', server], { SINEW_TOKEN: reader });
      const local = await sinew([...args, '--data', join(dir, 'data')]);
      expect({ args, ...remote }).toEqual({ args, ...local });
      expect(remote.code).toBe(0);
    }
    const diff = await sinew(['history', 'lab', '--diff', '1', '2', '--server', server], {
      SINEW_TOKEN: reader,
    });
    expect(diff.stdout).toContain(
      `-    directory: ${join(dir, 'out-1')}\n+    directory: ${join(dir, 'out-2')}\n`,
    );
    const listing = await sinew(['history', 'lab', '--server', server], { SINEW_TOKEN: reader });
    expect(listing.stdout).toMatch(
      /\n3 +\S+ +key:deployer +refused .*\n {4}8:5 error schema\.unknown_key destinations\.0\.polcy: /,
    );

    // Roll back to version 1: its text in the file, the engine runs it.
    const back = await sinew(['rollback', 'lab', '1', '--server', server], { SINEW_TOKEN: deployer });
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(
      /^lab: wrote the text of version 1 to the engine's channel file\nlab\tversion \d+\tkey:deployer\t/,
    );
    expect(readFileSync(labFile(), 'utf8')).toBe(channel('out-1'));
    await send('E2E-4');
    await archived('out-1', 'E2E-4');
    const unknown = await sinew(['rollback', 'lab', '--to', '99', '--server', server], {
      SINEW_TOKEN: deployer,
    });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('sinew rollback: 404 deployment.not_found: channel lab has no version 99\n');
  });
});
