// MLLP throughput and ACK latency on loopback: `node bench/run.mjs mllp [--messages N] [--runs N]`.
// The server (MllpServer + ackingHandler: each message parsed, an AA built) runs in a child
// process so that client and server each have a core; the clients run here.
import { fork, type ChildProcess } from 'node:child_process';
import { cpus, platform, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient, MllpServer, ackingHandler } from '@sinew/mllp';

interface Scenario {
  name: string;
  connections: number;
  /** Messages in flight per connection. */
  window: number;
}

const SCENARIOS: Scenario[] = [
  { name: '1 connection, 1 in flight', connections: 1, window: 1 },
  { name: '1 connection, 32 in flight', connections: 1, window: 32 },
  { name: '8 connections, 1 in flight each', connections: 8, window: 1 },
  { name: '8 connections, 32 in flight each', connections: 8, window: 32 },
];

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

function message(i: number): Hl7Message {
  return Hl7Message.parse(
    `MSH|^~\\&|PMS|NORTH|SINEW|CLINIC|20260101120000||ADT^A01^ADT_A01|B${i}|P|2.5.1\r` +
      `EVN|A01|20260101120000\r` +
      `PID|1||${100000 + i}^^^NORTH^MR||DOE^JANE^Q||19800101|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||555-0100\r` +
      `PV1|1|O|CLINIC^101^1||||1234^SMITH^ANNA|||||||||||V${i}\r`,
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function runOnce(
  port: number,
  s: Scenario,
  total: number,
): Promise<{ rate: number; p50: number; p99: number }> {
  const messages = Array.from({ length: total }, (_, i) => message(i));
  const clients = Array.from({ length: s.connections }, () => new MllpClient({ host: '127.0.0.1', port }));
  await Promise.all(clients.map((c) => c.connect()));
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const lane = async (client: MllpClient) => {
    while (next < messages.length) {
      const m = messages[next++] as Hl7Message;
      const r = await client.send(m);
      if (r.status !== 'accepted') failures++;
      latencies.push(r.latencyMs);
    }
  };
  const started = performance.now();
  await Promise.all(clients.flatMap((c) => Array.from({ length: s.window }, () => lane(c))));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.close()));
  if (failures > 0) throw new Error(`${failures} messages were not accepted`);
  latencies.sort((a, b) => a - b);
  return { rate: total / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

function startServerProcess(): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(process.argv[1] as string, ['--serve'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (m) => resolve({ child, port: (m as { port: number }).port }));
    child.once('exit', (code) => reject(new Error(`the server process exited (${code})`)));
  });
}

async function serve(): Promise<void> {
  const server = new MllpServer({ port: 0, maxConnections: 64 }, ackingHandler());
  await server.start();
  process.send?.({ port: server.port });
  process.on('disconnect', () => void server.stop(1_000).then(() => process.exit(0)));
}

async function main(): Promise<void> {
  const total = arg('messages', 20_000);
  const runs = arg('runs', 5);
  const cpu = cpus();
  console.log(`MLLP bench: ${total} messages per run, ${runs} runs per scenario, medians`);
  console.log(
    `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}, ${platform()} ${release()}`,
  );
  console.log('server: MllpServer + ackingHandler in a child process; clients: MllpClient in this process');
  const { child, port } = await startServerProcess();
  try {
    await runOnce(port, SCENARIOS[0] as Scenario, Math.min(total, 2_000));
    console.log(
      `${'scenario'.padEnd(34)}${'msg/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`,
    );
    for (const s of SCENARIOS) {
      const results = [];
      for (let r = 0; r < runs; r++) results.push(await runOnce(port, s, total));
      const row = [
        median(results.map((x) => x.rate)),
        median(results.map((x) => x.p50)),
        median(results.map((x) => x.p99)),
      ];
      console.log(
        `${s.name.padEnd(34)}${row[0]?.toFixed(0).padStart(9)}${row[1]?.toFixed(3).padStart(9)}${row[2]?.toFixed(3).padStart(9)}`,
      );
    }
  } finally {
    child.removeAllListeners('exit');
    child.disconnect();
  }
}

(process.argv.includes('--serve') ? serve() : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
