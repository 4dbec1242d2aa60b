import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { MllpDecoder } from '../src/framing';

/**
 * A bare socket for tests: writes exactly the bytes it is given and collects the frames that
 * come back, so that tests can check what is on the wire.
 */
export class RawConnection {
  readonly frames: Buffer[] = [];
  /** Every byte received, framing included. */
  received = Buffer.alloc(0);
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];
  private isClosed = false;

  private constructor(readonly socket: Socket) {
    const decoder = new MllpDecoder({ maxMessageBytes: 64 * 1024 * 1024 });
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      for (const item of decoder.push(chunk)) if (item.type === 'frame') this.frames.push(item.payload);
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  /** Connects to 127.0.0.1:port (with TLS when options are given). */
  static open(port: number, tls?: ConnectionOptions): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = tls
        ? connectTls({ host: '127.0.0.1', port, ...tls })
        : connectTcp({ host: '127.0.0.1', port });
      socket.once('error', reject);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Waits until `n` frames have arrived (or the connection closed, or the time is up). */
  async waitForFrames(n: number, timeoutMs = 5_000): Promise<Buffer[]> {
    await this.waitFor(() => this.frames.length >= n, timeoutMs);
    return this.frames.slice(0, n);
  }

  /** Waits for the peer to close the connection. */
  async waitForClose(timeoutMs = 5_000): Promise<void> {
    await this.waitFor(() => this.isClosed, timeoutMs);
    if (!this.isClosed) throw new Error(`the connection is still open after ${timeoutMs} ms`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      const check = () => {
        if (done() || this.isClosed) finish();
        else this.waiters.push(check);
      };
      function finish() {
        clearTimeout(timer);
        resolve();
      }
      check();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** A small ADT^A01 with the given control id, CR-terminated segments. */
export function adt(controlId: string, patientId = '12345'): string {
  return (
    `MSH|^~\\&|PMS|NORTH|SINEW|CLINIC|20260101120000||ADT^A01^ADT_A01|${controlId}|P|2.5.1\r` +
    `EVN|A01|20260101120000\r` +
    `PID|1||${patientId}^^^NORTH^MR||DOE^JANE||19800101|F\r`
  );
}
