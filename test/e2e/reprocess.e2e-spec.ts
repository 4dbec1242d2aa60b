import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@sinew/store';
import {
  freePort,
  mllpExchange,
  ROOT,
  startEngineProcess,
  type EngineProcess,
} from '@sinew/test-support/engine-process';
import { waitFor } from '@sinew/test-support/wait';

jest.setTimeout(120_000);

function sinew(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/sinew.js', ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
        }),
    );
  });
}

const noMrn = (id: string) =>
  Buffer.from(
    `MSH|^~\\&|LAB|NORTH|SINEW|CLINIC|20260101120000||ORU^R01^ORU_R01|${id}|P|2.5.1\rPID|1||^^^CLINIC^MR||Test^Patient\rOBR|1|||1^Test\r`,
  );

describe('sinew reprocess, sinew deploy and sinew config show against a running engine', () => {
  let dir: string;
  let engine: EngineProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-reprocess-'));
    mkdirSync(join(dir, 'channels'));
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const channel = (port: number, validate: boolean) => `id: lab
source: { type: mllp, listen: ${port} }
pipeline:
${validate ? '  - validate: { policy: reject, rules: [{ code: lab.mrn, path: PID-3.1, required: true }] }\n' : ''}  - filter: { path: MSH-9.1, equals: ORU }
destinations:
  - name: out
    type: file
    directory: ${join(dir, 'out')}
    retry: { attempts: 3 }
`;

  it('a message rejected by a rule is processed again after the rule is fixed, its first outcome kept', async () => {
    const port = await freePort();
    const data = join(dir, 'data');
    writeFileSync(join(dir, 'channels', 'lab.yaml'), channel(port, true));
    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir: data });
    await mllpExchange(port, noMrn('R-1'));

    const list = async () =>
      sinew(['reprocess', '--channel', 'lab', '--status', 'rejected', '--list', '--data', data]);
    const listed = await waitFor(
      'the rejected message',
      async () => {
        const r = await list();
        return r.code === 0 ? r : undefined;
      },
      30_000,
    );
    expect(listed.stdout).toMatch(/\tlab\t.*\tORU\^R01\trejected\tlab\.mrn\n$/);

    // The fixed channel goes into the running engine; then the message is reprocessed.
    writeFileSync(join(dir, 'channels', 'lab.yaml'), channel(port, false));
    const deployed = await sinew(['deploy', '--channels', join(dir, 'channels'), '--data', data]);
    expect(deployed.stderr).toContain('sent SIGHUP');
    expect(deployed.stdout).toMatch(/^lab\tversion 2\tsignal\t[0-9a-f]{12}\n$/);
    expect(deployed.code).toBe(0);

    const r = await sinew(['reprocess', '--channel', 'lab', '--status', 'rejected', '--data', data]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('1 set back to received');
    // The file destination creates its folder with the first delivery.
    const out = join(dir, 'out');
    await waitFor(
      'the delivery',
      () => (existsSync(out) && readdirSync(out).length === 1) || undefined,
      30_000,
    );
    expect(await engine.stop()).toBe(0);
    engine = undefined;
    const store = await openStore({ dataDir: data });
    try {
      const [m] = await store.searchMessages({ channelId: 'lab' });
      expect(m?.status).toBe('delivered');
      const outcomes = await store.getOutcomes(m!.id);
      expect(outcomes.map((o) => [o.status, o.issues[0]?.code, o.channelVersion])).toEqual([
        ['rejected', 'lab.mrn', 1],
      ]);
    } finally {
      await store.close();
    }
    expect((await sinew(['reprocess', '--channel', 'lab', '--data', data])).code).toBe(1);
  });

  it('config show resolves ${…} and masks secrets; a lint error never quotes one', async () => {
    writeFileSync(join(dir, 'token.txt'), 'tok-3141592653\n');
    writeFileSync(
      join(dir, 'channels', 'hook.yaml'),
      `id: hook
source: { type: http, listen: 0, auth_token: '\${file:${join(dir, 'token.txt')}}' }
destinations:
  - { name: out, type: file, directory: '\${OUT_DIR:-/tmp/out}', retry: { attempts: 1 } }
`,
    );
    const shown = await sinew(['config', 'show', '--channels', join(dir, 'channels')]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('auth_token: ******');
    expect(shown.stdout).toContain('directory: /tmp/out');
    expect(shown.stdout + shown.stderr).not.toContain('tok-3141592653');
    writeFileSync(
      join(dir, 'channels', 'hook.yaml'),
      `id: hook
source: { type: http, listen: 0, path: '\${file:${join(dir, 'token.txt')}}' }
destinations:
  - { name: out, type: file, directory: /tmp/out, retry: { attempts: 1 } }
`,
    );
    const lint = await sinew(['lint', join(dir, 'channels')]);
    expect(lint.code).toBe(1);
    expect(lint.stdout).toContain('source.path');
    expect(lint.stdout + lint.stderr).not.toContain('tok-3141592653');
  });
});
