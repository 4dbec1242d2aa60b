import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { Hl7MessageEvent } from '@medplum/hl7';

/**
 * Interop peers: MLLP software nobody on this project wrote. A test that needs a peer uses
 * {@link describeWithPeer}: when the peer is missing, the test fails under CI (CI=true) and is
 * skipped elsewhere, with a message saying what to install.
 */
export interface Peer {
  name: string;
  readonly available: boolean;
  /** How to install it. */
  install: string;
}

/** `describe` when the peer is there; a failing test under CI, a skipped block elsewhere. */
export function describeWithPeer(peer: Peer, title: string, body: () => void): void {
  if (peer.available) {
    describe(title, body);
  } else if (process.env.CI === 'true') {
    describe(title, () => {
      it(`needs ${peer.name}`, () => {
        throw new Error(`${peer.name} is missing on this CI machine: ${peer.install}`);
      });
    });
  } else {
    describe.skip(`${title} (skipped: ${peer.name} is not installed; ${peer.install})`, body);
  }
}

/** `it` when the peer is there; a failing test under CI, a skipped test elsewhere. */
export function itWithPeer(peer: Peer, title: string, body: jest.ProvidesCallback, timeoutMs?: number): void {
  if (peer.available) {
    it(title, body, timeoutMs);
  } else if (process.env.CI === 'true') {
    it(`${title} (needs ${peer.name})`, () => {
      throw new Error(`${peer.name} is missing on this CI machine: ${peer.install}`);
    });
  } else {
    it.skip(`${title} (skipped: ${peer.name} is not installed; ${peer.install})`, body);
  }
}

/** True when `command args` runs and exits 0 within 10 s. */
export function runs(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

/** Debian's python3 (which python3-hl7 installs into) or the first python3 on PATH with `hl7`. */
function pythonWithHl7(): string | undefined {
  return ['/usr/bin/python3', 'python3'].find((py) => runs(py, ['-c', 'import hl7.mllp']));
}

let python: string | null | undefined;
/** Looked for once, on first use. */
function pythonHl7(): string | undefined {
  if (python === undefined) python = pythonWithHl7() ?? null;
  return python ?? undefined;
}

/** `mllp_send`, python-hl7's command-line MLLP client (Debian package python3-hl7). */
export const mllpSendPeer: Peer = {
  name: 'mllp_send (python3-hl7)',
  get available() {
    return runs('mllp_send', ['--version']);
  },
  install: 'apt-get install python3-hl7',
};

/** python-hl7's asyncio MLLP server (Debian package python3-hl7). */
export const pythonHl7Peer: Peer = {
  name: 'python-hl7 asyncio MLLP server (python3-hl7)',
  get available() {
    return pythonHl7() !== undefined;
  },
  install: 'apt-get install python3-hl7',
};

/** GNU `patch`, the witness that the unified diffs Sinew prints apply (Debian package patch). */
export const patchPeer: Peer = {
  name: 'GNU patch',
  get available() {
    return runs('patch', ['--version']);
  },
  install: 'apt-get install patch',
};

/** What `mllp_send` printed and how it exited. */
export interface MllpSendRun {
  status: number | null;
  /** The raw reply bytes it printed, each followed by a newline. */
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs `mllp_send --loose --file FILE --port PORT HOST`: it sends every message of the file
 * (each starting with `MSH|^~\&|`, LF or CR line endings) and prints each raw reply.
 */
export function runMllpSend(file: string, port: number, host = '127.0.0.1'): Promise<MllpSendRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('mllp_send', ['--loose', '--file', file, '--port', String(port), host], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** A running peer listener on 127.0.0.1. */
export interface PeerListener {
  port: number;
  stop(): Promise<void>;
}

/**
 * python-hl7's MLLP server (`hl7.mllp.start_hl7_server`) on 127.0.0.1, answering each message
 * with python-hl7's own `create_ack`: AE when MSH-10 ends with `E`, AA otherwise.
 */
export function startPythonHl7Server(): Promise<PeerListener> {
  const py = pythonHl7();
  if (!py) return Promise.reject(new Error('python-hl7 is not installed'));
  const script = `
import asyncio, sys
import hl7
from hl7.mllp import start_hl7_server

async def process(reader, writer):
    try:
        while not writer.is_closing():
            message = await reader.readmessage()
            control_id = str(message.segment('MSH')[10])
            writer.writemessage(message.create_ack('AE' if control_id.endswith('E') else 'AA'))
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()

async def main():
    server = await start_hl7_server(process, host='127.0.0.1', port=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
`;
  return startChild(spawn(py, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Waits for the child to print its port on its first line. */
function startChild(child: ChildProcess): Promise<PeerListener> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the peer did not start within 10 s: ${err}`));
    }, 10_000);
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the peer exited (${code}) before listening: ${err}`));
    });
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve({
          port: Number(line.trim()),
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    });
  });
}

/**
 * `@medplum/hl7`'s MLLP connection handling (framing, parsing, its `buildAck`) behind a
 * listener on 127.0.0.1. Medplum's `Hl7Server.start` listens on every interface, so the
 * listening socket is made here and each accepted socket is handed to Medplum's
 * `Hl7Connection`, as `Hl7Server` does. Answers AE when MSH-10 ends with `E`, AA otherwise.
 */
export async function startMedplumListener(): Promise<PeerListener> {
  const { Hl7Connection } = await import('@medplum/hl7');
  const connections = new Set<InstanceType<typeof Hl7Connection>>();
  const server: Server = createServer((socket) => {
    const connection = new Hl7Connection(socket);
    connections.add(connection);
    connection.addEventListener('close', () => connections.delete(connection));
    connection.addEventListener('error', () => undefined);
    connection.addEventListener('message', ({ message }: Hl7MessageEvent) => {
      const controlId = message.getSegment('MSH')?.getField(10)?.toString() ?? '';
      connection.send(message.buildAck({ ackCode: controlId.endsWith('E') ? 'AE' : 'AA' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      for (const c of connections) await c.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
