import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { builtInRegistries, compileChannelDir, type CompiledChannel } from '@sinew/channels';
import {
  ChannelPipeline,
  PipelineThreads,
  type EngineLogger,
  type PipelineThreadsOptions,
} from '@sinew/engine';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import type { PipelineResult } from '@sinew/store';

/**
 * The pipeline threads of `sinew start`, run from the bundle the build writes
 * (dist/pipeline-worker.js), against the same pipeline on the test's own thread.
 */
const ROOT = resolve(__dirname, '..', '..');
const SCRIPT = join(ROOT, 'dist', 'pipeline-worker.js');
const SAMPLES = join(ROOT, 'transformers/fixtures/fhir-converter');

const warnings: string[] = [];
const logger = {
  info: () => undefined,
  warn: (_o: unknown, msg: string) => warnings.push(msg),
  error: (_o: unknown, msg: string) => warnings.push(msg),
  debug: () => undefined,
} as unknown as EngineLogger;

/** Results as plain data with every byte field as text, to compare across threads. */
function plain(r: PipelineResult) {
  return {
    status: r.status,
    issues: r.issues,
    transformed: r.transformed && {
      type: r.transformed.contentType,
      body: r.transformed.body.toString('utf8'),
    },
    ack: r.ack && { code: r.ack.code, bytes: r.ack.bytes.toString('latin1') },
    deliveries: r.deliveries.map((d) => ({ ...d, payload: d.payload.toString('utf8') })),
  };
}

jest.setTimeout(30_000);

describe('pipeline threads (dist/pipeline-worker.js)', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
  const env = { values: {}, strict: true };
  const { channels } = compileChannelDir(join(ROOT, 'channels'), builtInRegistries(library), { env });
  let pool: PipelineThreads | undefined;
  const start = (options: Partial<PipelineThreadsOptions> = {}) =>
    PipelineThreads.start({
      script: SCRIPT,
      threads: 1,
      channels,
      env,
      transformerDirs: library.dirs,
      logger,
      ...options,
    });

  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('gives the results the main thread would, byte for byte, for every outcome', async () => {
    pool = await start({ threads: 2 });
    expect(pool.size).toBe(2);
    const lab = channels.find((c) => c.id === 'lab-results') as CompiledChannel;
    const local = new ChannelPipeline(lab);
    const oru = readFileSync(join(SAMPLES, 'ORU-R01-01.hl7'));
    const inputs: Buffer[] = [
      oru,
      // No patient identifier: rejected by the validate step.
      Buffer.from(oru.toString('latin1').replace(/^(PID\|[^|]*\|[^|]*\|)[^|]*/m, '$1'), 'latin1'),
      // Not a result: filtered.
      Buffer.from(oru.toString('latin1').replace('ORU^R01', 'ADT^A01'), 'latin1'),
      // Not HL7 at all: errored.
      Buffer.from('this is not a message'),
    ];
    const viaThreads = await Promise.all(inputs.map((raw) => pool!.run('lab-results', raw, 'hl7v2')));
    expect(viaThreads.map((r) => r.status)).toEqual(['processed', 'rejected', 'filtered', 'errored']);
    expect(viaThreads.map(plain)).toEqual(inputs.map((raw) => plain(local.run(raw, 'hl7v2'))));
    // What comes back is Buffers, as the ledger and the connectors expect.
    const first = viaThreads[0] as PipelineResult;
    expect(Buffer.isBuffer(first.transformed?.body)).toBe(true);
    expect(first.deliveries.map((d) => [d.destination, Buffer.isBuffer(d.payload), d.orderKey])).toEqual([
      ['ehr', true, expect.any(String)],
      ['pms-notice', true, undefined],
      ['hub', true, expect.any(String)],
    ]);
  });

  it('refuses a channel it was not started with', async () => {
    pool = await start();
    await expect(pool.run('no-such-channel', Buffer.from('MSH|^~\\&|'), 'hl7v2')).rejects.toThrow(
      /no channel no-such-channel/,
    );
  });

  it('once closed, fails what was under way and refuses new work', async () => {
    pool = await start();
    const oru = readFileSync(join(SAMPLES, 'ORU-R01-01.hl7'));
    const underWay = Array.from({ length: 50 }, () => pool!.run('lab-results', oru, 'hl7v2'));
    await pool.close();
    const settled = await Promise.allSettled(underWay);
    // Those the thread finished before it stopped succeeded; the rest failed (their queue jobs retry).
    for (const s of settled) {
      if (s.status === 'rejected') expect(String(s.reason)).toMatch(/pipeline thread exited/);
      else expect(s.value.status).toBe('processed');
    }
    await expect(pool.run('lab-results', oru, 'hl7v2')).rejects.toThrow(/closed/);
  });

  it('does not start when a transformer folder does not compile, and says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-threads-'));
    try {
      mkdirSync(join(dir, 'broken'));
      writeFileSync(join(dir, 'broken', 'bad.yaml'), 'transformer: [\n');
      await expect(start({ transformerDirs: [BUILT_IN_TRANSFORMERS, join(dir, 'broken')] })).rejects.toThrow(
        /pipeline thread did not start: .*bad\.yaml/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops a thread held by a message past its limit (a project function that never returns), and goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-threads-'));
    try {
      mkdirSync(join(dir, 'site'));
      writeFileSync(
        join(dir, 'site', 'spin.fn.js'),
        `module.exports = { name: 'spin', summary: 'Never returns for LOOP.', timeout_ms: 10_000,
  examples: [{ input: 'x', output: 'x' }],
  run: (v) => { if (v === 'LOOP') for (;;) {} return v; } };`,
      );
      writeFileSync(
        join(dir, 'site', 'spin.yaml'),
        `transformer: spin-json
input: hl7v2
output: json
messages: ['ADT^A04']
resources:
  - name: out
    rules:
      - { from: PID-5.1, to: family, fn: spin }
`,
      );
      writeFileSync(
        join(dir, 'spin.yaml'),
        `id: spin
source: { type: http, listen: '127.0.0.1:0' }
pipeline:
  - map: { transformer: spin-json }
destinations:
  - { name: out, type: file, directory: ${JSON.stringify(join(dir, 'out'))} }
`,
      );
      const dirs = [BUILT_IN_TRANSFORMERS, join(dir, 'site')];
      const lib = TransformerLibrary.load(dirs);
      const compiled = compileChannelDir(dir, builtInRegistries(lib), { env });
      expect(compiled.channels.map((c) => c.id)).toEqual(['spin']);
      pool = await start({ channels: compiled.channels, transformerDirs: dirs, jobTimeoutMs: 1_000 });
      const adt = (family: string) =>
        Buffer.from(`MSH|^~\\&|PMS|C|EHR|C|20260101||ADT^A04|1|P|2.5.1\rPID|1||42||${family}^JANE\r`);
      warnings.length = 0;
      const started = Date.now();
      await expect(pool.run('spin', adt('LOOP'), 'hl7v2')).rejects.toThrow(
        'a message ran for more than 1000 ms on its pipeline thread, which was stopped',
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(warnings).toContain(
        'a message ran too long on a pipeline thread; the thread is stopped and restarts',
      );
      // The next message starts a new thread and goes through.
      const ok = await pool.run('spin', adt('DOE'), 'hl7v2');
      expect(ok.status).toBe('processed');
      expect(ok.deliveries[0]?.payload.toString('utf8')).toBe('{"family":"DOE"}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not start without its script', async () => {
    await expect(start({ script: join(ROOT, 'dist', 'missing-worker.js') })).rejects.toThrow(
      /missing-worker\.js|Cannot find module/,
    );
  });
});
