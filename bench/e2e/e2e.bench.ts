// `node bench/run.mjs e2e [--messages N] [--mode embedded|scaled|both] [--runs R] [--loads 1,8]`
//
// The engine as a user runs it (`node bin/sinew.js start`, its own process) on one channel:
// MLLP source → map (ORU^R01 with 10 OBX → FHIR transaction Bundle) → HTTP destination (a
// local sink in this process), ACK after commit. For each mode it measures, over N messages
// sent stop-and-wait on 1 and on 8 connections:
//   - ACKed msg/s, and delivered msg/s (until the sink holds all N);
//   - ACK latency p50/p99 as the sender sees it;
//   - CPU ms per message of the engine process (utime + stime from /proc, from the first
//     message sent to the last one delivered);
//   - peak RSS of the engine process (VmHWM);
// and the ACK p50/p99 at a paced 100 msg/s on one connection.
// `--loads` picks the connection counts measured (default 1,8; e.g. `--loads 8` to profile one).
// ENGINE_NODE_ARGS passes node flags to the engine process (e.g. `--cpu-prof`).
// Modes: embedded (SQLite + in-process queue) and scaled (PostgreSQL + BullMQ on Redis:
// DATABASE_URL / REDIS_URL, else the local services).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { Client } from 'pg';
import { flushPrefix } from '../../test/support/redis';

const ROOT = resolve(__dirname, '..');
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const N = Number(arg('messages', '20000'));
const MODE = arg('mode', 'both');
const RUNS = Number(arg('runs', '1'));
const LOADS = arg('loads', '1,8')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);

/** The demo ORU^R01 grown to 10 OBX with a comment each (≈2.7 KB), with its own control id and patient. */
const BASE = readFileSync(join(ROOT, 'channels/samples/oru-r01.hl7'), 'latin1').split('\r').filter(Boolean);
const header = BASE.filter((s) => !/^(OBX|NTE)/.test(s));
const obx = BASE.filter((s) => s.startsWith('OBX|')).slice(0, 4);
const tenObx = Array.from({ length: 10 }, (_, i) => [
  (obx[i % obx.length] as string).replace(/^OBX\|\d+\|/, `OBX|${i + 1}|`),
  `NTE|1|L|Result ${i + 1} reviewed by the laboratory; reference range from the method's package insert, adult population.`,
]).flat();
const TEMPLATE = [...header, ...tenObx].join('\r') + '\r';
const message = (i: number) =>
  Hl7Message.parse(
    TEMPLATE.replace('DEMO-ORU-0001', `B-${process.pid}-${i}`).replace('MRN-000123', `MRN-${i % 500}`),
  );

class Sink {
  count = 0;
  private server?: Server;
  port = 0;
  waiters: Array<{ n: number; done: () => void }> = [];
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.count++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        this.waiters = this.waiters.filter((w) => (this.count >= w.n ? (w.done(), false) : true));
      });
    });
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }
  until(n: number): Promise<void> {
    return this.count >= n ? Promise.resolve() : new Promise((done) => this.waiters.push({ n, done }));
  }
  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => this.server?.close(() => r()));
  }
}

function procStat(pid: number): { cpuMs: number; hwmKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuMs: (ticks * 1000) / 100, hwmKb: hwm };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;

async function startEngine(
  env: NodeJS.ProcessEnv,
  sinkPort: number,
  mllpPort: number,
  dir: string,
): Promise<ChildProcess> {
  mkdirSync(join(dir, 'channels'), { recursive: true });
  writeFileSync(
    join(dir, 'channels', 'bench.yaml'),
    `id: bench
source: { type: mllp, listen: "127.0.0.1:${mllpPort}", max_connections: 64 }
pipeline:
  - map: { transformer: oru-to-fhir }
destinations:
  - name: sink
    type: http
    url: http://127.0.0.1:${sinkPort}/fhir
    concurrency: 16
`,
  );
  const httpPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.ENGINE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      'bin/sinew.js',
      'start',
      '--channels',
      join(dir, 'channels'),
      '--data',
      join(dir, 'data'),
      '--http-port',
      String(httpPort),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, SINEW_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const until = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${httpPort}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    if (child.exitCode !== null || Date.now() > until) throw new Error('the engine did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

interface LoadResult {
  connections: number;
  ackedPerSec: number;
  deliveredPerSec: number;
  ackP50: number;
  ackP99: number;
  cpuMsPerMsg: number;
}

async function load(
  pid: number,
  port: number,
  sink: Sink,
  connections: number,
  count: number,
  offset: number,
): Promise<LoadResult> {
  const clients = Array.from(
    { length: connections },
    () => new MllpClient({ host: '127.0.0.1', port, ackTimeoutMs: 30_000 }),
  );
  await Promise.all(clients.map((c) => c.connect()));
  const base = sink.count;
  const latencies: number[] = [];
  const cpu0 = procStat(pid).cpuMs;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    clients.map(async (c) => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        const r = await c.send(message(offset + i));
        if (r.code !== 'AA') throw new Error(`ACK ${r.code}: ${r.text}`);
        latencies.push(r.latencyMs);
      }
    }),
  );
  const tAck = performance.now();
  await sink.until(base + count);
  const tDone = performance.now();
  const cpu1 = procStat(pid).cpuMs;
  await Promise.all(clients.map((c) => c.close()));
  latencies.sort((a, b) => a - b);
  return {
    connections,
    ackedPerSec: Math.round(count / ((tAck - t0) / 1000)),
    deliveredPerSec: Math.round(count / ((tDone - t0) / 1000)),
    ackP50: pct(latencies, 50),
    ackP99: pct(latencies, 99),
    cpuMsPerMsg: (cpu1 - cpu0) / count,
  };
}

async function paced(
  port: number,
  rate: number,
  count: number,
  offset: number,
): Promise<{ p50: number; p99: number }> {
  const client = new MllpClient({ host: '127.0.0.1', port });
  await client.connect();
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const r = await client.send(message(offset + i));
    lat.push(r.latencyMs);
  }
  await client.close();
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function runMode(name: string, env: NodeJS.ProcessEnv): Promise<void> {
  for (let run = 1; run <= RUNS; run++) {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-bench-'));
    const sink = new Sink();
    await sink.start();
    const mllpPort = await freePort();
    const engine = await startEngine(env, sink.port, mllpPort, dir);
    try {
      // Warm-up: JIT and caches, not measured.
      await load(engine.pid as number, mllpPort, sink, 4, 1_000, 10_000_000);
      const results: LoadResult[] = [];
      for (const [i, connections] of LOADS.entries())
        results.push(await load(engine.pid as number, mllpPort, sink, connections, N, i * N));
      const slow = await paced(mllpPort, 100, 2_000, LOADS.length * N);
      const { hwmKb } = procStat(engine.pid as number);
      for (const r of results) {
        console.log(
          `${name} run ${run}: ${r.connections} conn: ${r.ackedPerSec} msg/s ACKed, ${r.deliveredPerSec} msg/s delivered, ` +
            `ACK p50 ${r.ackP50.toFixed(2)} ms p99 ${r.ackP99.toFixed(2)} ms, ${r.cpuMsPerMsg.toFixed(3)} ms CPU/msg`,
        );
      }
      console.log(
        `${name} run ${run}: at 100 msg/s: ACK p50 ${slow.p50.toFixed(2)} ms p99 ${slow.p99.toFixed(2)} ms; peak RSS ${(hwmKb / 1024).toFixed(0)} MB`,
      );
    } finally {
      engine.kill('SIGTERM');
      await new Promise((r) => engine.once('exit', r));
      await sink.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function main(): Promise<void> {
  console.log(
    `bench e2e: ${N} messages per load, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, node ${process.version}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `message: ORU^R01, ${tenObx.length / 2} OBX with an NTE each, ${Buffer.byteLength(TEMPLATE)} bytes`,
  );
  if (MODE === 'embedded' || MODE === 'both') await runMode('embedded', {});
  if (MODE === 'scaled' || MODE === 'both') {
    const schema = `bench_${process.pid}`;
    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = `bench-${process.pid}`;
    const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    await runMode('postgres+redis', {
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: schema,
      REDIS_URL: redisUrl,
      SINEW_REDIS_PREFIX: prefix,
    });
    await flushPrefix(redisUrl, prefix);
    const c = new Client({ connectionString: databaseUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
