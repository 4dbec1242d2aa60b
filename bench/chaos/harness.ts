// The pieces the chaos scenarios share: the engine as its own process, an HTTP sink that
// records what it receives, the lab sender (the control sender), a throwaway Redis, and the
// counts every scenario reports.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { MllpClient } from '@sinew/mllp';

export const ROOT = resolve(__dirname, '..');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const handedOut = new Set<number>();

/**
 * A loopback port free right now and not handed out before by this process (the kernel may
 * offer a port just released again, and a scenario takes several before it listens on them).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((done, fail) => {
      const s = createTcpServer();
      s.once('error', fail);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => done(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export const pct = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
};

/** Peak resident memory (VmHWM) of a live process, in MiB; 0 once it has exited. */
export function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

// ---- the engine ------------------------------------------------------------------------

export interface EngineOptions {
  /** Folder of this engine's channel files. */
  channelsDir: string;
  dataDir: string;
  /** Where its stdout and stderr go (appended: a restarted engine adds to the same file). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  roles?: string;
}

/** `node bin/sinew.js start`, as a user runs it. */
export class EngineProcess {
  child?: ChildProcess;
  private exited?: Promise<void>;
  /** Highest VmHWM seen of any run of this engine (a restart starts from zero). */
  private peak = 0;

  constructor(readonly options: EngineOptions) {}

  async start(): Promise<void> {
    const httpPort = await freePort();
    const args = [
      'bin/sinew.js',
      'start',
      '--channels',
      this.options.channelsDir,
      '--data',
      this.options.dataDir,
    ];
    args.push('--http-port', String(httpPort));
    if (this.options.roles) args.push('--roles', this.options.roles);
    mkdirSync(this.options.dataDir, { recursive: true, mode: 0o700 });
    const log = openSync(this.options.logFile, 'a');
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, SINEW_LOG_LEVEL: 'warn', SINEW_SWEEP_INTERVAL_MS: '1000', ...this.options.env },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const until = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${httpPort}/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (child.exitCode !== null || Date.now() > until) {
        child.kill('SIGKILL');
        throw new Error(`the engine did not start; see ${this.options.logFile}`);
      }
      await sleep(100);
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Peak RSS so far, in MiB. */
  rssMb(): number {
    this.peak = Math.max(this.peak, peakRssMb(this.child?.pid));
    return this.peak;
  }

  /** SIGKILL: a crash. */
  async kill9(): Promise<void> {
    this.rssMb();
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.rssMb();
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }
}

// ---- the receiving system --------------------------------------------------------------

/** One request the sink received (its body read to the end). */
export interface Received {
  controlId: string;
  patient: string;
}

/** MSH-10 and PID-3.1 of an HL7 v2 message. */
export function idsOf(hl7: string): Received {
  const segments = hl7.split(/\r\n?|\n/);
  const msh = segments.find((s) => s.startsWith('MSH')) ?? '';
  const pid = segments.find((s) => s.startsWith('PID|')) ?? '';
  return {
    controlId: msh.split('|')[9] ?? '',
    patient: (pid.split('|')[3] ?? '').split('^')[0] ?? '',
  };
}

/**
 * An HTTP peer that records every request it receives, in arrival order. It can refuse
 * connections for a while (its port closed) and answer slowly.
 */
export class Sink {
  readonly received: Received[] = [];
  port = 0;
  /** Answer requests this many milliseconds late (0: at once). */
  delayMs = 0;
  /** Slow answers given. */
  slowAnswers = 0;
  private server?: Server;

  async start(port = 0): Promise<void> {
    const server = createHttpServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r, fail) => {
      server.once('error', fail);
      server.listen(port, '127.0.0.1', () => r());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.received.push(idsOf(Buffer.concat(chunks).toString('latin1')));
      const answer = () => {
        if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      };
      if (this.delayMs > 0) {
        this.slowAnswers++;
        setTimeout(answer, this.delayMs);
      } else answer();
    });
  }

  /** Closes the port and every open connection: connections are refused until {@link resume}. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  async resume(): Promise<void> {
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    await this.refuse();
  }
}

// ---- the sending lab (the control sender) --------------------------------------------------

const SAMPLE = readFileSync(join(ROOT, 'channels/samples/oru-r01.hl7'), 'latin1');

/** The demo ORU^R01 with control id `controlId` for patient `patient` (PID-3.1). */
export function oru(controlId: string, patient: string): string {
  return SAMPLE.replace('DEMO-ORU-0001', controlId).replace('MRN-000123', patient);
}

export interface LabOptions {
  port: number;
  /** Control ids are `<tag>-<i>`. */
  tag: string;
  messages: number;
  patients: number;
  /** Connections; each patient always sends on the same one, in order. */
  connections: number;
  /** Messages per second in all (0: as fast as ACKs come). */
  rate: number;
  /** A send not ACKed AA within this is a control-sender failure (and is sent again). */
  ackTimeoutMs: number;
  /** Give up re-sending a message after this long. */
  giveUpMs: number;
  /** Send no further message after this long (default: no limit); the rest stays un-ACKed. */
  deadlineMs?: number;
}

export interface LabResult {
  /** Control ids of the messages ACKed AA (or CA). */
  acked: Set<string>;
  /** Control id → its index in the sending order (per patient, a higher index was sent later). */
  index: Map<string, number>;
  /**
   * Messages whose first send did not end in AA within the ACK timeout (timeout, refused or
   * dropped connection, AE/AR), and messages never sent before the deadline.
   */
  failures: number;
  /** Sends in all that did not end in AA (a message re-sent five times counts five). */
  failedSends: number;
  /** Messages given up after `giveUpMs` of re-sending. */
  abandoned: number;
  /** Messages not sent before the deadline. */
  unsent: number;
  /** How the failed sends ended (`connection_failed`, `timeout`, `error` …), with counts. */
  failedHow: Record<string, number>;
  /** From the first send to the last answer, ms. */
  durationMs: number;
  /** Latency of each accepted send, ms. */
  latencies: number[];
}

/**
 * Sends `messages` ORU^R01 stop-and-wait, patient `i % patients` for message i, re-sending a
 * message until it is ACKed (as a lab's interface does). `onAck` is called after each ACK with
 * how many messages are ACKed so far, so a scenario can inject its fault mid-load.
 */
export async function runLab(
  options: LabOptions,
  onAck: (acked: number) => void = () => undefined,
): Promise<LabResult> {
  const result: LabResult = {
    acked: new Set(),
    index: new Map(),
    failures: 0,
    failedSends: 0,
    abandoned: 0,
    unsent: 0,
    failedHow: {},
    durationMs: 0,
    latencies: [],
  };
  const perConnection: number[][] = Array.from({ length: options.connections }, () => []);
  for (let i = 0; i < options.messages; i++) {
    perConnection[(i % options.patients) % options.connections]!.push(i);
  }
  const started = performance.now();
  const intervalMs = options.rate > 0 ? 1000 / options.rate : 0;
  await Promise.all(
    perConnection.map(async (indexes) => {
      const client = new MllpClient({
        host: '127.0.0.1',
        port: options.port,
        ackTimeoutMs: options.ackTimeoutMs,
        connectTimeoutMs: options.ackTimeoutMs,
        reconnect: { attempts: 1 },
      });
      try {
        for (const [n, i] of indexes.entries()) {
          if (options.deadlineMs !== undefined && performance.now() - started > options.deadlineMs) {
            result.failures += indexes.length - n;
            result.unsent += indexes.length - n;
            break;
          }
          const due = started + i * intervalMs;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          const controlId = `${options.tag}-${i}`;
          result.index.set(controlId, i);
          const body = oru(controlId, `PAT-${i % options.patients}`);
          const giveUp = performance.now() + options.giveUpMs;
          for (let attempt = 1; ; attempt++) {
            const r = await client.send(body);
            if (r.status === 'accepted') {
              result.acked.add(controlId);
              result.latencies.push(r.latencyMs);
              onAck(result.acked.size);
              break;
            }
            result.failedSends++;
            result.failedHow[r.status] = (result.failedHow[r.status] ?? 0) + 1;
            if (attempt === 1) result.failures++;
            if (performance.now() > giveUp) {
              result.abandoned++;
              break;
            }
            await sleep(200);
          }
        }
      } finally {
        await client.close().catch(() => undefined);
      }
    }),
  );
  result.durationMs = performance.now() - started;
  return result;
}

// ---- what reached the receiver -----------------------------------------------------------

export interface Tally {
  delivered: number;
  /** ACKed and never received. */
  lost: number;
  /** Messages received more than once. */
  duplicates: number;
  /**
   * Receptions, duplicates included, of a message of a patient after a later-sent message of
   * the same patient had already been received (the receiver applies an older result last).
   */
  orderViolations: number;
  /** The first few order violations: `PAT-3: #43 after #63` (send indexes). */
  orderExamples: string[];
}

export function tally(lab: LabResult, received: Received[]): Tally {
  const times = new Map<string, number>();
  const newest = new Map<string, number>();
  let orderViolations = 0;
  const orderExamples: string[] = [];
  for (const r of received) {
    const i = lab.index.get(r.controlId);
    if (i === undefined) continue;
    times.set(r.controlId, (times.get(r.controlId) ?? 0) + 1);
    const seen = newest.get(r.patient);
    if (seen !== undefined && i < seen) {
      orderViolations++;
      if (orderExamples.length < 5) orderExamples.push(`${r.patient}: #${i} after #${seen}`);
    }
    if (seen === undefined || i > seen) newest.set(r.patient, i);
  }
  let lost = 0;
  for (const id of lab.acked) if (!times.has(id)) lost++;
  let duplicates = 0;
  for (const n of times.values()) if (n > 1) duplicates++;
  return { delivered: times.size, lost, duplicates, orderViolations, orderExamples };
}

/** Waits until every ACKed message has reached the sink, or `timeoutMs`; then `settleMs` for late duplicates. */
export async function drain(
  lab: LabResult,
  sink: Sink,
  timeoutMs: number,
  settleMs = 2_000,
): Promise<number> {
  const t0 = performance.now();
  const until = t0 + timeoutMs;
  for (;;) {
    const got = new Set(sink.received.map((r) => r.controlId));
    let missing = 0;
    for (const id of lab.acked) if (!got.has(id)) missing++;
    if (missing === 0 || performance.now() > until) break;
    await sleep(200);
  }
  const took = performance.now() - t0;
  await sleep(settleMs);
  return took;
}

// ---- a Redis of the bench's own ----------------------------------------------------------

function ping(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s: Socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => (s.destroy(), done(false)), 1000);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d: Buffer) => {
      clearTimeout(timer);
      s.destroy();
      done(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => {
      clearTimeout(timer);
      done(false);
    });
  });
}

/**
 * `redis-server` on a free loopback port with append-only persistence in `dir` (fsync every
 * second, as production Redis is commonly run), which the bench can crash and start again.
 */
export class ThrowawayRedis {
  port = 0;
  private child?: ChildProcess;

  constructor(private readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    mkdirSync(this.dir, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    const until = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (child.exitCode !== null || Date.now() > until) throw new Error('redis-server did not start');
      await sleep(50);
    }
  }

  /** SIGKILL: a crash (the last second of writes may be lost, as in production). */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}
