/**
 * Lint benchmark: `node bench/run.mjs lint [--runs 5]` from the project root (after `npm run build`).
 *
 * - `sinew lint channels transformers`: the whole built command, as a user runs it (process start,
 *   module loading, reading and compiling every transformer and channel), `--runs` times; wall
 *   time and the child's CPU time (user + system, from /proc where there is one). Its parse
 *   cache (SINEW_CACHE_DIR) is a fresh folder: one first run fills it, then `--runs` runs read it,
 *   then `--runs` runs with `--no-cache`.
 * - In this process: loading the built-in transformer library (the first load, cold, then warm)
 *   and compiling the shipped channels against it (`compileChannelDir`); wall and CPU time.
 *
 * Each figure is the median of the runs. The exit status is 1 when the command's median wall
 * time (parse cache filled) misses the target (1 s).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileChannelDir, loadEnvironment } from '@sinew/channels';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';

const TARGET_MS = 1000;

function options(argv: string[]): { runs: number } {
  const out = { runs: 5 };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--runs' && value) out.runs = Math.max(1, Number.parseInt(value, 10));
    else {
      console.error(`unknown argument ${String(argv[i])}\nusage: node bench/run.mjs lint [--runs 5]`);
      process.exit(2);
    }
    i++;
  }
  return out;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** CPU milliseconds of the children this process has waited for (Linux), else undefined. */
function childrenCpuMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    // After "pid (comm) ": state is field 3, cutime 16 and cstime 17 (1-based), in clock ticks.
    const ticks = Number(fields[13]) + Number(fields[14]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

const fmt = (ms: number | undefined) => (ms === undefined ? '-' : `${ms.toFixed(0)} ms`);

function main(): void {
  const { runs } = options(process.argv.slice(2));
  const root = process.cwd();
  const bin = join(root, 'bin', 'sinew.js');

  // The command's own parse cache, in a fresh folder: the first run fills it (cold), the
  // measured runs read it (warm, as every run after the first does for a user); then the same
  // runs with --no-cache.
  const cacheDir = mkdtempSync(join(tmpdir(), 'sinew-lint-bench-'));
  const env = { ...process.env, SINEW_CACHE_DIR: cacheDir };
  let summary = '';
  const command = (extra: string[]): { wall: number; cpu: number | undefined } => {
    const before = childrenCpuMs();
    const start = performance.now();
    const r = spawnSync(process.execPath, [bin, 'lint', ...extra, 'channels', 'transformers'], {
      cwd: root,
      encoding: 'utf8',
      env,
    });
    const wall = performance.now() - start;
    const after = childrenCpuMs();
    if (r.status !== 0 && r.status !== 1) {
      console.error(`sinew lint exited ${String(r.status)}: ${r.stderr}`);
      process.exit(1);
    }
    summary = r.stderr.trim();
    return { wall, cpu: before !== undefined && after !== undefined ? after - before : undefined };
  };
  const series = (extra: string[]) => {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = command(extra);
      wall.push(r.wall);
      if (r.cpu !== undefined) cpu.push(r.cpu);
    }
    return { wall: median(wall), cpu: cpu.length ? median(cpu) : undefined };
  };
  const first = command([]);
  const warm = series([]);
  const uncached = series(['--no-cache']);
  rmSync(cacheDir, { recursive: true, force: true });

  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const coldStart = performance.now();
  const coldCpuStart = cpuNow();
  let transformers = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
  const cold = performance.now() - coldStart;
  const coldCpu = cpuNow() - coldCpuStart;
  const load: number[] = [];
  const loadCpu: number[] = [];
  const compile: number[] = [];
  const compileCpu: number[] = [];
  const registries = () => ({ sources: SOURCES, destinations: DESTINATIONS, transformers });
  const channelEnv = loadEnvironment(process.env, { strict: false });
  let channels = 0;
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    const aCpu = cpuNow();
    transformers = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
    load.push(performance.now() - a);
    loadCpu.push(cpuNow() - aCpu);
    const b = performance.now();
    const bCpu = cpuNow();
    const set = compileChannelDir(join(root, 'channels'), registries(), { env: channelEnv });
    compile.push(performance.now() - b);
    compileCpu.push(cpuNow() - bCpu);
    channels = set.channels.length + set.disabled.length;
  }

  const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`machine: ${cpus().length} CPUs (${cpuModel}), node ${process.version}, ${runs} runs, medians`);
  console.log(`sinew lint channels transformers: ${summary}`);
  console.log('| what | wall | CPU |');
  console.log('| --- | --- | --- |');
  console.log(
    `| \`sinew lint channels transformers\` (whole command, parse cache filled) | ${fmt(warm.wall)} | ${fmt(warm.cpu)} |`,
  );
  console.log(
    `| the same, first run (empty parse cache; one run) | ${fmt(first.wall)} | ${fmt(first.cpu)} |`,
  );
  console.log(`| the same, \`--no-cache\` | ${fmt(uncached.wall)} | ${fmt(uncached.cpu)} |`);
  console.log(`| transformer library, first load in the process | ${fmt(cold)} | ${fmt(coldCpu)} |`);
  console.log(`| transformer library, loaded again | ${fmt(median(load))} | ${fmt(median(loadCpu))} |`);
  console.log(
    `| compile the shipped channels (${channels} compiled) | ${fmt(median(compile))} | ${fmt(median(compileCpu))} |`,
  );
  const met = warm.wall < TARGET_MS;
  console.log(`target: the whole command under ${TARGET_MS} ms: ${met ? 'met' : 'missed'}`);
  process.exitCode = met ? 0 : 1;
}

main();
