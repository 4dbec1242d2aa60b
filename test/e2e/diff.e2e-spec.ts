import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { ChannelPipeline } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { openStore } from '@sinew/store';

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
