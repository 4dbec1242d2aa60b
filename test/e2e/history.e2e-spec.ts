import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { contentHash, openStore, type Store } from '@sinew/store';
import { withTestSchema, type TestSchema } from '../support/postgres';

const ROOT = resolve(__dirname, '..', '..');

// Each test runs the built command several times; a busy machine takes seconds per start.
jest.setTimeout(90_000);

function runSinew(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      ['bin/sinew.js', ...args],
      { cwd: ROOT, env, timeout: 30_000 },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

const V1 = [
  'id: lab',
  "source: { type: mllp, listen: '127.0.0.1:2575' }",
  'pipeline:',
  '  - filter: { path: MSH-9.1, equals: ORU }',
  'destinations:',
  "  - { name: ehr, type: fhir, base_url: '${EHR_URL}' }",
  '',
].join('\n');
const V2 = V1.replace('2575', '2576');
const V3 = `${V2}destinatons: []\n`;

interface Backend {
  name: string;
  /** Opens the ledger the command will read, and the environment that points it there. */
  open(dataDir: string): Promise<{ store: Store; env: NodeJS.ProcessEnv; drop: () => Promise<void> }>;
}

/** The test runner's environment without any ledger or engine setting of its own. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('SINEW_') || name.startsWith('DATABASE_')) delete env[name];
  }
  return env;
}

const embedded: Backend = {
  name: 'embedded (SQLite)',
  open: async (dataDir) => ({
    store: await openStore({ dataDir }),
    env: cleanEnv(),
    drop: async () => undefined,
  }),
};

const postgres: Backend = {
  name: 'PostgreSQL',
  open: async () => {
    const schema: TestSchema = await withTestSchema();
    return {
      store: await openStore({ databaseUrl: schema.url, schema: schema.schema }),
      env: { ...cleanEnv(), DATABASE_URL: schema.url, DATABASE_SCHEMA: schema.schema },
      drop: () => schema.drop(),
    };
  },
};

describe.each([embedded, postgres])('sinew history and rollback, $name', (backend) => {
  let dir: string;
  let dataDir: string;
  let store: Store;
  let env: NodeJS.ProcessEnv;
  let drop: () => Promise<void>;
  let n = 0;
  const engines: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-history-'));
    dataDir = join(dir, 'data');
    mkdirSync(join(dir, 'channels'));
    ({ store, env, drop } = await backend.open(dataDir));
  });

  afterAll(async () => {
    for (const engine of engines) engine.kill('SIGKILL');
    await store.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    rmSync(join(dataDir, 'sinew.pid'), { force: true });
  });

  /**
   * A channel deployed at start-up (1), changed by alice (2), then a change refused by the
   * watcher (3); its file holds the text of version 2 (the refused change was taken back).
   */
  async function seed(): Promise<{ channel: string; file: string }> {
    const channel = `lab-${++n}`;
    const file = join(dir, 'channels', `${channel}.yaml`);
    writeFileSync(file, V2);
    await store.recordDeployment({
      channelId: channel,
      content: V1,
      filePath: file,
      gitCommit: '9f2c4e1a7b3d5c6e8f9a',
      deployedBy: 'startup',
      deployedAt: new Date('2025-05-01T09:00:00.400Z'),
      outcome: 'deployed',
    });
    await store.recordDeployment({
      channelId: channel,
      content: V2,
      filePath: file,
      deployedBy: 'user:alice',
      deployedAt: new Date('2025-05-02T10:30:00Z'),
      outcome: 'deployed',
    });
    await store.recordDeployment({
      channelId: channel,
      content: V3,
      filePath: file,
      deployedBy: 'watcher',
      deployedAt: new Date('2025-05-03T08:15:00Z'),
      outcome: 'refused',
      problems: [
        {
          level: 'error',
          code: 'channel.unknown_field',
          line: 7,
          column: 1,
          message: 'unknown field destinatons',
        },
      ],
    });
    return { channel, file };
  }

  const sinew = (args: string[]) => runSinew([...args, '--data', dataDir], env);
  const hash = (text: string) => contentHash(text).slice(0, 12);

  describe('sinew history', () => {
    it('lists every version newest first: when, who, outcome, hash, commit, and why one was refused', async () => {
      const { channel } = await seed();
      const r = await sinew(['history', channel]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(
        [
          'VERSION  DEPLOYED AT           BY          OUTCOME   HASH          COMMIT        NOTE',
          `3        2025-05-03T08:15:00Z  watcher     refused   ${hash(V3)}  -`,
          '    7:1 error channel.unknown_field unknown field destinatons',
          `2        2025-05-02T10:30:00Z  user:alice  deployed  ${hash(V2)}  -`,
          `1        2025-05-01T09:00:00Z  startup     deployed  ${hash(V1)}  9f2c4e1a7b3d`,
          '',
        ].join('\n'),
      );
      const limited = await sinew(['history', channel, '--limit', '1']);
      expect(limited.stdout.split('\n').filter((l) => /^\d/.test(l))).toHaveLength(1);
    });

    it('--diff A B prints a unified diff with the changed line, which patch applies', async () => {
      const { channel } = await seed();
      const r = await sinew(['history', channel, '--diff', '1', '2']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines[0]).toMatch(/^--- .*lab-\d+\.yaml \(version 1, 2025-05-01T09:00:00Z\)$/);
      expect(lines[1]).toMatch(/^\+\+\+ .*lab-\d+\.yaml \(version 2, 2025-05-02T10:30:00Z\)$/);
      expect(lines).toContain("-source: { type: mllp, listen: '127.0.0.1:2575' }");
      expect(lines).toContain("+source: { type: mllp, listen: '127.0.0.1:2576' }");
      expect(lines.filter((l) => /^[-+][^-+]/.test(l))).toHaveLength(2);

      const copy = join(dir, `${channel}.patched.yaml`);
      writeFileSync(copy, V1);
      const patch = spawnSync('patch', ['--quiet', copy], { input: r.stdout, encoding: 'utf8' });
      if (patch.error === undefined) {
        expect(patch.status).toBe(0);
        expect(readFileSync(copy, 'utf8')).toBe(V2);
      }
    });

    it('--diff A alone compares A with the deployed version (a refused one is not deployed)', async () => {
      const { channel } = await seed();
      const alone = await sinew(['history', channel, '--diff', '1']);
      expect(alone.code).toBe(0);
      expect(alone.stdout).toBe((await sinew(['history', channel, '--diff', '1', '2'])).stdout);
      const refused = await sinew(['history', channel, '--diff', '2', '3']);
      expect(refused.stdout).toContain('+destinatons: []\n');
      const same = await sinew(['history', channel, '--diff', '2']);
      expect(same).toMatchObject({
        code: 0,
        stdout: '',
        stderr: 'sinew history: versions 2 and 2 have the same text\n',
      });
    });

    it('exits 1 for an unknown version or channel, 2 for a usage error', async () => {
      const { channel } = await seed();
      expect(await sinew(['history', channel, '--diff', '1', '9'])).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `sinew history: channel ${channel} has no version 9\n`,
      });
      expect(await sinew(['history', 'no-such-channel'])).toMatchObject({
        code: 1,
        stderr: 'sinew history: channel no-such-channel has no recorded deployment\n',
      });
      expect(await sinew(['history', channel, '--diff', 'two'])).toMatchObject({
        code: 2,
        stderr: 'sinew history: --diff takes one or two version numbers\n',
      });
      expect((await sinew(['history', channel, '--diff', '1', '2', '3'])).code).toBe(2);
    });
  });

  describe('sinew rollback', () => {
    /** A process standing in for a running engine: reports the SIGHUP it gets, then exits. */
    async function runningEngine(): Promise<{ pid: number; signalled: Promise<string> }> {
      const child = spawn(
        process.execPath,
        [
          '-e',
          "process.on('SIGHUP', () => { process.stdout.write('SIGHUP\\n'); process.exit(0); });" +
            "setInterval(() => undefined, 1000); process.stdout.write('ready\\n');",
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      engines.push(child);
      let out = '';
      const ready = new Promise<void>((ok) =>
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('ready')) ok();
        }),
      );
      const signalled = new Promise<string>((ok) => child.on('exit', () => ok(out)));
      await ready;
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(join(dataDir, 'sinew.pid'), `${child.pid}\n`);
      return { pid: child.pid as number, signalled };
    }

    it('writes the version back to the channel file, records it, and sends the engine SIGHUP', async () => {
      const { channel, file } = await seed();
      const engine = await runningEngine();
      const r = await sinew(['rollback', channel, '--to', '1']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(
        [
          `${channel}: wrote the text of version 1 to ${file} (version 2 was deployed)`,
          'recorded as version 4 (by rollback)',
          `sent SIGHUP to the engine (pid ${engine.pid}): it redeploys ${channel}`,
          '',
        ].join('\n'),
      );
      expect(readFileSync(file, 'utf8')).toBe(V1);
      expect(await engine.signalled).toBe('ready\nSIGHUP\n');
      expect(await store.latestDeployment(channel)).toMatchObject({
        version: 4,
        deployedBy: 'rollback',
        outcome: 'deployed',
        contentHash: contentHash(V1),
        filePath: file,
      });
      // The engine redeploying the same text keeps version 4.
      const redeployed = await store.recordDeployment({
        channelId: channel,
        content: readFileSync(file, 'utf8'),
        filePath: file,
        deployedBy: 'watcher',
        deployedAt: new Date(),
        outcome: 'deployed',
      });
      expect(redeployed.version).toBe(4);
      const history = await sinew(['history', channel]);
      expect(history.stdout.split('\n')[1]).toMatch(/^4 .* rollback +deployed .* -\s+same text as 1$/);
    });

    it('without a running engine: writes the file and says the engine deploys it when it starts', async () => {
      const { channel, file } = await seed();
      const r = await sinew(['rollback', channel, '--to', '1']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`no running engine found (no ${join(dataDir, 'sinew.pid')})`);
      expect(readFileSync(file, 'utf8')).toBe(V1);

      // Back to the version deployed now: the file already holds it after a second rollback.
      const again = await sinew(['rollback', channel, '--to', '4']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(`${file} already holds the text of version 4`);
      expect(again.stdout).toContain('version 4 is already the deployed one');
    });

    it('exits 1 for a version that does not exist or was refused, leaving the file alone', async () => {
      const { channel, file } = await seed();
      expect(await sinew(['rollback', channel, '--to', '9'])).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `sinew rollback: channel ${channel} has no version 9\n`,
      });
      expect(await sinew(['rollback', channel, '--to', '3'])).toMatchObject({
        code: 1,
        stderr: `sinew rollback: version 3 of ${channel} was refused; go back to a deployed version\n`,
      });
      expect(readFileSync(file, 'utf8')).toBe(V2);
      expect((await store.listDeployments(channel)).map((d) => d.version)).toEqual([3, 2, 1]);
    });

    it('refuses to write a file that is no longer there, unless told where with --file', async () => {
      const { channel, file } = await seed();
      rmSync(file);
      expect(await sinew(['rollback', channel, '--to', '1'])).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `sinew rollback: the channel's file ${file} does not exist (moved?); give --file PATH\n`,
      });
      const moved = join(dir, 'channels', `${channel}-moved.yaml`);
      const r = await sinew(['rollback', channel, '--to', '1', '--file', moved]);
      expect(r.code).toBe(0);
      expect(readFileSync(moved, 'utf8')).toBe(V1);
      expect(await store.latestDeployment(channel)).toMatchObject({ version: 4, filePath: moved });
    });

    it('exits 2 without --to or with a version that is not a number', async () => {
      const { channel } = await seed();
      expect(await sinew(['rollback', channel])).toMatchObject({
        code: 2,
        stderr: 'sinew rollback: give --to VERSION\n',
      });
      expect((await sinew(['rollback', channel, '--to', 'latest'])).code).toBe(2);
    });
  });
});

describe('sinew history without a ledger', () => {
  it('exits 1 instead of creating an empty one', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'sinew-history-')), 'data');
    const env = cleanEnv();
    const r = await runSinew(['history', 'lab', '--data', dataDir], env);
    expect(r).toMatchObject({
      code: 1,
      stderr: `sinew history: no ledger at ${join(dataDir, 'sinew.db')} (give --data, or DATABASE_URL)\n`,
    });
    expect(existsSync(dataDir)).toBe(false);
  });
});
