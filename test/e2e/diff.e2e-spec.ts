import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AccessService } from '@sinew/auth';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { ChannelPipeline } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { openStore, type Store } from '@sinew/store';
import { freePort, startEngineProcess, type EngineProcess } from '../support/engine-process';

const ROOT = resolve(__dirname, '..', '..');
const SAMPLE = readFileSync(join(ROOT, 'channels/samples/oru-r01.hl7'), 'latin1');
const CHANNEL = readFileSync(join(ROOT, 'channels/lab-results.yaml'), 'utf8');

let dir: string;

/** Runs the built command as a user does: `node bin/sinew.js diff …`. */
function diff(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['bin/sinew.js', 'diff', 'lab-results', '--data', join(dir, 'data'), ...args],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, SINEW_ENV: '' }, maxBuffer: 16 * 1024 * 1024 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

jest.setTimeout(120_000);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sinew-diff-e2e-'));
  mkdirSync(join(dir, 'transformers'));
  writeFileSync(
    join(dir, 'transformers', 'notice-v2.yaml'),
    readFileSync(join(ROOT, 'transformers/json/oru-to-pms-results-ready.yaml'), 'utf8')
      .replace('transformer: oru-to-pms-results-ready', 'transformer: oru-to-pms-results-ready-v2')
      .replace('{ const: results-ready, to: event }', '{ const: results-available, to: event }'),
  );
  writeFileSync(join(dir, 'same.yaml'), CHANNEL);
  writeFileSync(
    join(dir, 'changed.yaml'),
    CHANNEL.replace('transformer: oru-to-pms-results-ready', 'transformer: oru-to-pms-results-ready-v2'),
  );
  writeFileSync(join(dir, 'broken.yaml'), CHANNEL.replace('type: fhir', 'type: fhirr'));
  const channel = compileChannelOrThrow(CHANNEL, 'lab-results.yaml', builtInRegistries());
  const pipeline = new ChannelPipeline(channel);
  const store = await openStore({ dataDir: join(dir, 'data') });
  try {
    for (let i = 0; i < 3; i++) {
      const raw = Hl7Message.parse(SAMPLE.replace('DEMO-ORU-0001', `E-${i}`)).toBuffer();
      const id = `e2e-${i}`;
      await store.insertMessages([
        {
          id,
          channelId: 'lab-results',
          receivedAt: new Date(Date.now() - 3_600_000 + i * 1000),
          source: 'mllp',
          sender: 'SINEWLAB|GOODHEALTH LAB',
          messageType: 'ORU^R01',
          controlId: `E-${i}`,
          contentType: 'hl7v2',
          raw,
          keys: {},
        },
      ]);
      await store.completePipeline(id, pipeline.run(raw, 'hl7v2'));
    }
  } finally {
    await store.close();
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sinew diff (built command)', () => {
  it('exits 0 when the candidate changes nothing', () => {
    const r = diff(['--candidate', join(dir, 'same.yaml'), '--threads', '0']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      '3 messages: 3 unchanged, 0 changed, 0 now filtered, 0 now rejected, 0 now errored; destinations: 0 added, 0 removed\n',
    );
    expect(r.status).toBe(0);
  });

  it('exits 1 with a block per changed message, newest first, on pipeline threads too', () => {
    for (const threads of ['0', '1']) {
      const r = diff([
        '--candidate',
        join(dir, 'changed.yaml'),
        '--transformers',
        join(dir, 'transformers'),
        '--threads',
        threads,
      ]);
      expect(r.status).toBe(1);
      const blocks = r.stdout.split('\n\n');
      expect(blocks).toHaveLength(4);
      expect(blocks[0]).toMatch(/^e2e-2 {2}\S+Z {2}ORU\^R01 {2}changed\n {2}pms-notice:\n/);
      expect(blocks[0]).toContain('\n    /event: "results-ready" \u2192 "results-available"');
      expect(blocks[2]).toMatch(/^e2e-0 /);
      expect(blocks[3]).toBe(
        '3 messages: 0 unchanged, 3 changed, 0 now filtered, 0 now rejected, 0 now errored; destinations: 0 added, 0 removed\n',
      );
    }
  });

  it('writes one JSON document with --format json', () => {
    const r = diff([
      '--candidate',
      join(dir, 'changed.yaml'),
      '--transformers',
      join(dir, 'transformers'),
      '--format',
      'json',
      '--limit',
      '2',
    ]);
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.stdout) as {
      changes: Array<{ id: string; destinations: Array<{ fields: unknown[] }> }>;
      totals: { messages: number; changed: number };
    };
    expect(doc.changes.map((c) => c.id)).toEqual(['e2e-2', 'e2e-1']);
    expect(doc.changes[0]?.destinations[0]?.fields).toEqual([
      { path: '/event', before: '"results-ready"', after: '"results-available"' },
    ]);
    expect(doc.totals).toMatchObject({ messages: 2, changed: 2 });
  });

  it('exits 2 with the lint lines when the candidate does not compile', () => {
    const r = diff(['--candidate', join(dir, 'broken.yaml')]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /broken\.yaml:\d+:\d+ error \S+ destinations\.0\.type: unknown destination type fhirr/,
    );
  });

  it('exits 2 when there is no ledger', () => {
    const r = spawnSync(
      process.execPath,
      ['bin/sinew.js', 'diff', 'x', '--candidate', join(dir, 'same.yaml'), '--data', join(dir, 'none')],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no ledger in');
  });
});

describe('sinew diff --server (built command, against sinew start)', () => {
  let engine: EngineProcess;
  let store: Store;
  let server: string;
  let engineer: string;
  let writer: string;
  let reader: string;

  /** `sinew diff lab-results …` as a user runs it, without blocking the test's event loop. */
  const run = (
    args: string[],
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ status: number; stdout: string; stderr: string }> =>
    new Promise((done) =>
      execFile(
        process.execPath,
        ['bin/sinew.js', 'diff', 'lab-results', ...args],
        {
          cwd: ROOT,
          env: { ...process.env, SINEW_ENV: '', SINEW_TOKEN: '', ...env },
          timeout: 60_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (err, stdout, stderr) =>
          done({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      ),
    );
  const local = (args: string[]) =>
    run([
      ...args,
      '--data',
      join(dir, 'data'),
      '--transformers',
      join(dir, 'transformers'),
      '--threads',
      '0',
    ]);
  const remote = (args: string[], token: string) =>
    run([...args, '--server', server], { SINEW_TOKEN: token });

  beforeAll(async () => {
    mkdirSync(join(dir, 'channels'));
    writeFileSync(join(dir, 'channels', 'lab-results.yaml'), CHANNEL);
    engine = await startEngineProcess({
      channelsDir: join(dir, 'channels'),
      dataDir: join(dir, 'data'),
      env: {
        SINEW_ENV: '',
        LAB_MLLP_PORT: String(await freePort()),
        SINEW_TRANSFORMERS_DIRS: join(dir, 'transformers'),
      },
    });
    server = `http://127.0.0.1:${engine.httpPort}`;
    store = await openStore({ dataDir: join(dir, 'data') });
    const access = new AccessService(store);
    engineer = (await access.createKey({ name: 'engineer', scopes: ['channels:write', 'phi:read'] })).secret;
    writer = (await access.createKey({ name: 'writer', scopes: ['channels:write'] })).secret;
    reader = (await access.createKey({ name: 'reader', scopes: ['channels:read', 'phi:read'] })).secret;
  });

  afterAll(async () => {
    await engine?.stop();
    await store?.close();
  });

  it('prints the same report, text and JSON, with the same exit status as the local run', async () => {
    for (const candidate of ['same.yaml', 'changed.yaml'])
      for (const format of ['text', 'json']) {
        const args = ['--candidate', join(dir, candidate), '--format', format];
        const here = await local(args);
        const there = await remote(args, engineer);
        expect({ candidate, format, ...there }).toEqual({ candidate, format, ...here });
        expect(there.status).toBe(candidate === 'same.yaml' ? 0 : 1);
        if (format === 'json') expect(JSON.parse(there.stdout)).toEqual(JSON.parse(here.stdout));
      }
    const changed = await remote(['--candidate', join(dir, 'changed.yaml'), '--limit', '1'], engineer);
    expect(changed.stdout).toMatch(
      /^e2e-2 {2}\S+Z {2}ORU\^R01 {2}changed\n {2}pms-notice:\n {4}\/event: "results-ready" \u2192 "results-available"\n\n1 messages: 0 unchanged, 1 changed, /,
    );
  });

  it('gives the lint lines of a candidate that does not compile, naming the file, exit 2', async () => {
    const args = ['--candidate', join(dir, 'broken.yaml')];
    const there = await remote(args, engineer);
    expect(there).toEqual(await local(args));
    expect(there.status).toBe(2);
    expect(there.stderr).toMatch(
      /^sinew diff: the candidate does not compile:\n\S*broken\.yaml:\d+:\d+ error \S+ destinations\.0\.type: unknown destination type fhirr/,
    );
  });

  it('shows the changed paths but not their values to a key without phi:read', async () => {
    const r = await remote(['--candidate', join(dir, 'changed.yaml'), '--limit', '1'], writer);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('  pms-notice:\n    /event: (values need phi:read)\n');
    expect(r.stdout).not.toContain('results-ready');
  });

  it('refuses a key without channels:write with the server’s problem, exit 2', async () => {
    const r = await remote(['--candidate', join(dir, 'changed.yaml')], reader);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^sinew diff: 403 scope\.required: .*channels:write/);
    expect(r.status).toBe(2);
    const none = await run(['--candidate', join(dir, 'changed.yaml'), '--server', server]);
    expect(none).toMatchObject({ status: 2, stdout: '' });
    expect(none.stderr).toContain('set SINEW_TOKEN');
    const both = await run(['--candidate', join(dir, 'same.yaml'), '--server', server, '--data', dir], {
      SINEW_TOKEN: engineer,
    });
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--server.*cannot be used with.*--data/);
  });
});
