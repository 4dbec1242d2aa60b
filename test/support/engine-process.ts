import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { sleep } from './wait';

/** The project's root: the nearest folder up from here holding bin/sinew.js (also from a bench bundle). */
function projectRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'bin', 'sinew.js'))) return d;
    if (dirname(d) === d) return resolve(from, '..', '..');
  }
}

export const ROOT = projectRoot(__dirname);

/** A port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => done(port));
    });
  });
}

export interface EngineProcess {
  child: ChildProcess;
  httpPort: number;
  /** Everything the process wrote so far. */
  readonly stdout: string;
  readonly stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, and the exit status. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

export interface EngineProcessOptions {
  channelsDir: string;
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  roles?: string;
  /** Wait for /ready (default true); a process without the sources role is ready too. */
  waitReady?: boolean;
}

/** Starts `node bin/sinew.js start` as a user does, and waits until /ready answers 200. */
export async function startEngineProcess(options: EngineProcessOptions): Promise<EngineProcess> {
  const httpPort = await freePort();
  const args = [
    'bin/sinew.js',
    'start',
    '--channels',
    options.channelsDir,
    '--data',
    options.dataDir,
    '--http-port',
    String(httpPort),
  ];
  if (options.roles) args.push('--roles', options.roles);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, SINEW_LOG_LEVEL: 'info', SINEW_SWEEP_INTERVAL_MS: '500', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal })),
  );
  const proc: EngineProcess = {
    child,
    httpPort,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exit,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return (await exit).code;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    },
  };
  if (options.waitReady !== false) {
    const until = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`sinew start exited ${child.exitCode}\n${stderr}\n${stdout}`);
      const ok = await fetch(`http://127.0.0.1:${httpPort}/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > until) {
        await proc.kill();
        throw new Error(`sinew start was not ready within 30 s\n${stderr}\n${stdout}`);
      }
      await sleep(50);
    }
  }
  return proc;
}

/** Sends one MLLP frame as raw bytes (even unparsable ones) and resolves with the reply's payload. */
export function mllpExchange(port: number, payload: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(Buffer.concat([Buffer.from([0x0b]), payload, Buffer.from([0x1c, 0x0d])])),
    );
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no reply'));
    }, timeoutMs);
    let got = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf(0x1c);
      if (end > 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got.subarray(1, end));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
