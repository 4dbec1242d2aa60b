/**
 * Shadow-run benchmark: `node bench/run.mjs shadow [--messages 100000] [--runs 3] [--data DIR]
 * [--only filter|transformer] [--threads N]`.
 *
 * Fills an SQLite ledger (in a temporary folder, or `--data DIR`, kept and reused when it
 * already holds the messages) with N stored ORU^R01 messages of a lab-results channel (each its
 * own control id and patient): inserted with store.insertMessages in batches, each completed
 * with the payloads the channel's pipeline produced (FHIR transaction Bundle to `ehr`, JSON
 * notice to `pms-notice`). Then runs `sinew diff` (bin/sinew.js, its own process, as a user
 * runs it) over all of them, `--runs` times per candidate:
 *   - filter: the same channel with one more filter (one patient in ten now filtered); the
 *     common case: most payloads identical byte for byte;
 *   - transformer: the notice transformer changed (every message's pms-notice payload differs,
 *     each diffed field by field).
 * Reports the median wall time, messages per second and the peak RSS (VmHWM) of the `sinew
 * diff` process. Exit status 1 when the filter case's median misses 60 s at 100,000 messages.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { ChannelPipeline } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { openStore, type NewMessage } from '@sinew/store';

const ROOT = resolve(__dirname, '..');
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const N = Number(arg('messages', '100000'));
const RUNS = Math.max(1, Number(arg('runs', '3')));
const ONLY = arg('only', '');
const KEEP = arg('data', '');
/** Passed to `sinew diff --threads` when given (its default: CPUs - 1, at most 4). */
const THREADS = arg('threads', '');

const CHANNEL = `id: bench
source: { type: mllp, listen: "127.0.0.1:2575" }
keys:
  mrn: PID-3.1
pipeline:
  - filter: { path: MSH-9.1, equals: ORU }
  - validate:
      policy: reject
      rules:
        - { code: lab.mrn, path: PID-3.1, required: true }
  - map: { transformer: oru-to-fhir }
destinations:
  - name: ehr
    type: fhir
    base_url: http://127.0.0.1:8090/fhir
    mode: transaction
    ordering: PID-3.1
    retry: { attempts: 20 }
  - name: pms-notice
    type: http
    url: http://127.0.0.1:8091/api/notices
    transformer: oru-to-pms-results-ready
    retry: { attempts: 10 }
`;
// A function replacer: in a replacement string, $' would mean the text after the match.
const FILTERED = CHANNEL.replace(
  '  - filter: { path: MSH-9.1, equals: ORU }',
  () => "  - filter: { path: MSH-9.1, equals: ORU }\n  - filter: { not: { path: PID-3.1, matches: '7$' } }",
);
const TRANSFORMED = CHANNEL.replace(
  'transformer: oru-to-pms-results-ready',
  'transformer: oru-to-pms-results-ready-v2',
);

const SAMPLE = readFileSync(join(ROOT, 'channels/samples/oru-r01.hl7'), 'latin1');
const message = (i: number) =>
  Buffer.from(
    SAMPLE.replace('DEMO-ORU-0001', `S-${i}`)
      .replace('MRN-000123', `MRN-${i % 5000}`)
      .replace('TESTPATIENT^ALICE', `TESTPATIENT${i % 997}^ALICE`),
    'latin1',
  );

async function fill(dataDir: string): Promise<void> {
  const store = await openStore({ dataDir });
  try {
    const have = await store.searchMessages({ channelId: 'bench', limit: 1 });
    if (have.length) {
      process.stdout.write(`ledger ${dataDir}: reused\n`);
      return;
    }
    const channel = compileChannelOrThrow(CHANNEL, 'bench.yaml', builtInRegistries());
    const pipeline = new ChannelPipeline(channel);
    const start = Date.now() - 2 * 3_600_000;
    const t0 = process.hrtime.bigint();
    const BATCH = 500;
    for (let b = 0; b < N; b += BATCH) {
      const batch: NewMessage[] = [];
      for (let i = b; i < Math.min(N, b + BATCH); i++) {
        const raw = message(i);
        batch.push({
          id: `bench-${String(i).padStart(7, '0')}`,
          channelId: 'bench',
          receivedAt: new Date(start + i * 50),
          source: 'mllp',
          sender: 'SINEWLAB|GOODHEALTH LAB',
          messageType: 'ORU^R01',
          controlId: `S-${i}`,
          contentType: 'hl7v2',
          raw,
          keys: { mrn: `MRN-${i % 5000}` },
        });
      }
      await store.insertMessages(batch);
      for (const m of batch)
        await store.completePipeline(m.id, pipeline.run(m.raw, 'hl7v2', Hl7Message.parse(m.raw)));
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(`ledger ${dataDir}: ${N} messages filled in ${s.toFixed(1)} s\n`);
  } finally {
    await store.close();
  }
}

interface Run {
  seconds: number;
  hwmKb: number;
  /** CPU seconds of the process (user + system, every thread), to the last poll. */
  cpuSeconds: number;
  totals: Record<string, number>;
}

function hwm(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function diffOnce(dataDir: string, candidate: string, transformers: string): Promise<Run> {
  return new Promise((done, fail) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(
      process.execPath,
      [
        ...(process.env.DIFF_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        join(ROOT, 'bin/sinew.js'),
        'diff',
        'bench',
        '--candidate',
        candidate,
        '--data',
        dataDir,
        '--since',
        '1d',
        '--transformers',
        transformers,
        '--format',
        'json',
        ...(THREADS ? ['--threads', THREADS] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let peak = 0;
    let cpu = 0;
    // VmHWM and CPU time only grow: the last reading before the exit is the figure (to 50 ms).
    const poll = setInterval(() => {
      peak = Math.max(peak, hwm(child.pid ?? 0));
      cpu = Math.max(cpu, cpuSeconds(child.pid ?? 0));
    }, 50);
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-4096);
    });
    child.on('error', fail);
    child.on('exit', (code) => {
      clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const m = /"totals":(\{[^}]*\})\}\s*$/.exec(tail);
      if (code === 2 || !m) return fail(new Error(`sinew diff exited ${code}: ${tail.slice(-300)}`));
      done({
        seconds,
        hwmKb: peak,
        cpuSeconds: cpu,
        totals: JSON.parse(m[1] as string) as Record<string, number>,
      });
    });
  });
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist/sinew.js'))) throw new Error('run `npm run build` first');
  const work = mkdtempSync(join(tmpdir(), 'sinew-bench-shadow-'));
  const dataDir = KEEP ? resolve(KEEP) : join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  const transformers = join(work, 'transformers');
  mkdirSync(transformers);
  writeFileSync(
    join(transformers, 'notice-v2.yaml'),
    readFileSync(join(ROOT, 'transformers/json/oru-to-pms-results-ready.yaml'), 'utf8')
      .replace('transformer: oru-to-pms-results-ready', 'transformer: oru-to-pms-results-ready-v2')
      .replace('{ const: results-ready, to: event }', '{ const: results-available, to: event }')
      .replace(
        '{ from: PID-3.1, to: patient.mrn, required: true }',
        '{ from: PID-3.1, to: patient.mrn, required: true }\n      - { from: PID-5.1, to: patient.family }',
      ),
  );
  const candidates = { filter: FILTERED, transformer: TRANSFORMED };
  for (const [name, text] of Object.entries(candidates)) writeFileSync(join(work, `${name}.yaml`), text);
  try {
    process.stdout.write(
      `machine: ${cpus()[0]?.model ?? '?'} ×${cpus().length}, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}, node ${process.version}\n`,
    );
    await fill(dataDir);
    let failed = false;
    for (const name of Object.keys(candidates)) {
      if (ONLY && ONLY !== name) continue;
      const runs: Run[] = [];
      for (let r = 0; r < RUNS; r++) {
        const run = await diffOnce(dataDir, join(work, `${name}.yaml`), transformers);
        runs.push(run);
        process.stdout.write(
          `  ${name} run ${r + 1}: ${run.seconds.toFixed(1)} s, CPU ${run.cpuSeconds.toFixed(1)} s, load ${loadavg()[0]?.toFixed(1)}, peak RSS ${(run.hwmKb / 1024).toFixed(0)} MiB, ${JSON.stringify(run.totals)}\n`,
        );
      }
      const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
      const median = sorted[Math.floor(sorted.length / 2)] as Run;
      const peak = Math.max(...runs.map((r) => r.hwmKb));
      const cpu = [...runs].sort((a, b) => a.cpuSeconds - b.cpuSeconds)[Math.floor(runs.length / 2)] as Run;
      const messages = median.totals.messages ?? 0;
      process.stdout.write(
        `${name}: ${messages} messages, median ${median.seconds.toFixed(1)} s (${Math.round(messages / median.seconds)} msg/s), median CPU ${cpu.cpuSeconds.toFixed(1)} s, peak RSS ${(peak / 1024).toFixed(0)} MiB\n`,
      );
      if (name === 'filter' && N >= 100_000 && median.seconds > 60) failed = true;
    }
    process.exitCode = failed ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench shadow: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
