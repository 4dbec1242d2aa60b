import { connect as connectTcp, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as connectTls } from 'node:tls';
import { Hl7Message, Hl7ParseError, readAck, type AckResult } from '@sinew/hl7v2';
import { DEFAULT_RECONNECT, reconnectDelay, type ReconnectOptions } from './backoff';
import { MllpError, MllpErrorCode } from './errors';
import { DEFAULT_MAX_MESSAGE_BYTES, MllpDecoder, encodeFrame } from './framing';
import { clientTlsOptions, type MllpClientTlsOptions } from './tls-options';

export interface MllpClientOptions {
  host: string;
  port: number;
  /** TLS settings (`ca`, and `cert` + `key` for mutual TLS); `true` for the system's CAs. Plain TCP when absent. */
  tls?: MllpClientTlsOptions;
  /** Longest wait for the TCP connection and TLS handshake, per attempt (default 10,000 ms). */
  connectTimeoutMs?: number;
  /** Longest wait for a message's acknowledgement, from when it is written (default 30,000 ms). */
  ackTimeoutMs?: number;
  /** Retries of a failed connection, with exponential backoff. */
  reconnect?: ReconnectOptions;
  /** Largest reply accepted, in bytes (default 1 MiB). */
  maxMessageBytes?: number;
}

/**
 * How a send ended: `accepted` (AA/CA), `error` (AE/CE), `rejected` (AR/CR), `timeout` (no
 * ACK within `ackTimeoutMs`), `connection_failed` (no connection could be made, or it closed
 * before the ACK came), `invalid_reply` (the reply was not a readable ACK, or its MSA-1 is
 * not an acknowledgement code).
 */
export type MllpSendStatus =
  'accepted' | 'error' | 'rejected' | 'timeout' | 'connection_failed' | 'invalid_reply';

/** The outcome of {@link MllpClient.send}. */
export interface MllpSendResult {
  status: MllpSendStatus;
  /** MSA-1 of the ACK (`''` when none was read). */
  code: string;
  /** MSH-10 of the message sent, which its ACK's MSA-2 echoes. */
  controlId: string;
  /** MSA-3 of the ACK. */
  text: string;
  /** Texts of the ACK's ERR segments. */
  errors: string[];
  /** The acknowledgement itself, when one was read. */
  ack?: Hl7Message;
  /** Milliseconds from the call to `send` to this result. */
  latencyMs: number;
  /** Why no acknowledgement was read (timeout, connection and reply failures). */
  error?: MllpError;
}

/** Counters since the client was created. */
export interface MllpClientStats {
  /** Connections made. */
  connects: number;
  /** Connection attempts that failed. */
  connectFailures: number;
  /** Messages written. */
  sent: number;
  /** Acknowledgements matched to a message. */
  acks: number;
  /** Acknowledgements whose MSA-2 matched no message in flight, ignored. */
  unmatchedAcks: number;
  /** Replies that could not be read as an acknowledgement. */
  invalidReplies: number;
  timeouts: number;
}

interface Pending {
  controlId: string;
  started: number;
  socket: Socket;
  timer: NodeJS.Timeout;
  settle(result: MllpSendResult): void;
  done: Promise<MllpSendResult>;
}

const STATUS_OF_CODE: Record<string, MllpSendStatus> = {
  AA: 'accepted',
  CA: 'accepted',
  AE: 'error',
  CE: 'error',
  AR: 'rejected',
  CR: 'rejected',
};

const TLS_ERROR = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_)/;

/** Turns a socket error into an MllpError without quoting anything received. */
function socketFailure(err: Error & { code?: string }, connected: boolean): MllpError {
  const code = err.code ?? err.name;
  if (TLS_ERROR.test(code)) return new MllpError(MllpErrorCode.TlsHandshake, `TLS failure (${code})`);
  return connected
    ? new MllpError(MllpErrorCode.ConnectionClosed, `the connection failed (${code})`)
    : new MllpError(MllpErrorCode.ConnectFailed, `could not connect (${code})`);
}

/**
 * An MLLP sender on one connection. Messages may be sent concurrently (pipelined); each ACK
 * is matched to its message by MSA-2 = MSH-10. The connection is opened on the first send
 * and opened again, with backoff, after it closes.
 *
 * ```ts
 * const client = new MllpClient({ host: 'lab.example', port: 2575, tls: { ca } });
 * const result = await client.send(message); // result.status === 'accepted'
 * await client.close();
 * ```
 */
export class MllpClient {
  readonly stats: MllpClientStats = {
    connects: 0,
    connectFailures: 0,
    sent: 0,
    acks: 0,
    unmatchedAcks: 0,
    invalidReplies: 0,
    timeouts: 0,
  };
  private readonly connectTimeoutMs: number;
  private readonly ackTimeoutMs: number;
  private readonly reconnect: Required<ReconnectOptions>;
  private readonly maxMessageBytes: number;
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  constructor(private readonly options: MllpClientOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
    this.reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Opens the connection now rather than on the first send. Throws an {@link MllpError}. */
  async connect(): Promise<void> {
    await this.connection();
  }

  /**
   * Sends one message and waits for its acknowledgement. Resolves (never rejects) for every
   * outcome on the wire; rejects with `mllp.invalid_message` or `mllp.no_control_id` when the
   * message cannot be parsed or has no MSH-10. A Buffer is sent byte for byte; a string or
   * message is written in the character set its MSH-18 names.
   */
  async send(message: Hl7Message | Buffer | string): Promise<MllpSendResult> {
    const started = performance.now();
    const { payload, controlId } = prepare(message);
    const frame = encodeFrame(payload);
    let socket: Socket;
    for (;;) {
      const earlier = this.pending.get(controlId);
      if (earlier) {
        // One message per control id in flight, so that its ACK cannot be taken for another's.
        await earlier.done;
        continue;
      }
      try {
        socket = await this.connection();
      } catch (err) {
        const error = err instanceof MllpError ? err : socketFailure(err as Error, false);
        return failed('connection_failed', controlId, started, error);
      }
      if (socket.destroyed || socket.writableEnded) {
        // Closed while this send waited: take a new connection.
        if (this.socket === socket) this.socket = undefined;
        continue;
      }
      if (!this.pending.has(controlId)) break;
    }
    let settle!: (result: MllpSendResult) => void;
    const done = new Promise<MllpSendResult>((resolve) => (settle = resolve));
    const entry: Pending = {
      controlId,
      started,
      socket,
      done,
      settle: (result) => {
        clearTimeout(entry.timer);
        if (this.pending.get(controlId) === entry) this.pending.delete(controlId);
        settle(result);
      },
      timer: setTimeout(() => {
        this.stats.timeouts++;
        entry.settle(
          failed(
            'timeout',
            controlId,
            started,
            new MllpError(MllpErrorCode.AckTimeout, `no acknowledgement within ${this.ackTimeoutMs} ms`),
          ),
        );
      }, this.ackTimeoutMs),
    };
    this.pending.set(controlId, entry);
    socket.write(frame);
    this.stats.sent++;
    return done;
  }

  /** Closes the connection. Messages still awaiting an ACK end as `connection_failed` (`mllp.closed`). */
  async close(): Promise<void> {
    this.closed = true;
    const socket = this.socket;
    this.socket = undefined;
    this.failPending(undefined, new MllpError(MllpErrorCode.Closed, 'the client was closed'));
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), 1_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  /** The open connection, or a new one (retried with backoff). */
  private connection(): Promise<Socket> {
    if (this.closed) return Promise.reject(new MllpError(MllpErrorCode.Closed, 'the client was closed'));
    if (this.socket) return Promise.resolve(this.socket);
    this.connecting ??= this.connectWithRetries().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connectWithRetries(): Promise<Socket> {
    let last: MllpError | undefined;
    for (let attempt = 1; attempt <= Math.max(1, this.reconnect.attempts); attempt++) {
      if (attempt > 1) await sleep(reconnectDelay(attempt, this.reconnect));
      if (this.closed) throw new MllpError(MllpErrorCode.Closed, 'the client was closed');
      try {
        const socket = await this.connectOnce();
        this.attach(socket);
        return socket;
      } catch (err) {
        this.stats.connectFailures++;
        last = err as MllpError;
        // A certificate that was refused once will be refused again.
        if (last.code === MllpErrorCode.TlsHandshake) break;
      }
    }
    throw last ?? new MllpError(MllpErrorCode.ConnectFailed, 'could not connect');
  }

  private connectOnce(): Promise<Socket> {
    const { host, port, tls } = this.options;
    return new Promise<Socket>((resolve, reject) => {
      const socket: Socket = tls
        ? connectTls({ host, port, ...clientTlsOptions(host, tls) })
        : connectTcp({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new MllpError(
            MllpErrorCode.ConnectTimeout,
            `no connection to ${host}:${port} within ${this.connectTimeoutMs} ms`,
          ),
        );
      }, this.connectTimeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(socketFailure(err, false));
      };
      socket.once('error', onError);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(socket);
      });
    });
  }

  private attach(socket: Socket): void {
    this.stats.connects++;
    this.socket = socket;
    const decoder = new MllpDecoder({ maxMessageBytes: this.maxMessageBytes });
    let failure: MllpError | undefined;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => {
      for (const item of decoder.push(chunk)) {
        if (item.type === 'frame') this.onReply(item.payload);
        else this.stats.invalidReplies++;
      }
    });
    socket.on('error', (err) => (failure = socketFailure(err, true)));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.failPending(
        socket,
        failure ??
          new MllpError(
            MllpErrorCode.ConnectionClosed,
            'the connection closed before the acknowledgement came',
          ),
      );
    });
  }

  private onReply(payload: Buffer): void {
    let ack: Hl7Message;
    let read: AckResult;
    try {
      ack = Hl7Message.parse(payload);
      read = readAck(ack);
    } catch (err) {
      this.stats.invalidReplies++;
      const why = err instanceof Hl7ParseError ? err.code : 'unreadable';
      // With one message in flight there is no doubt about which message the reply answers.
      const only = this.pending.size === 1 ? [...this.pending.values()][0] : undefined;
      only?.settle(
        failed(
          'invalid_reply',
          only.controlId,
          only.started,
          new MllpError(MllpErrorCode.InvalidAck, `the reply is not an acknowledgement (${why})`),
        ),
      );
      return;
    }
    const entry =
      read.controlId !== ''
        ? this.pending.get(read.controlId)
        : this.pending.size === 1
          ? [...this.pending.values()][0]
          : undefined;
    if (!entry) {
      this.stats.unmatchedAcks++;
      return;
    }
    this.stats.acks++;
    const status = STATUS_OF_CODE[read.code] ?? 'invalid_reply';
    entry.settle({
      status,
      code: read.code,
      controlId: entry.controlId,
      text: read.text,
      errors: read.errors,
      ack,
      latencyMs: performance.now() - entry.started,
      ...(status === 'invalid_reply'
        ? { error: new MllpError(MllpErrorCode.InvalidAck, 'MSA-1 is not an acknowledgement code') }
        : {}),
    });
  }

  /** Ends every message in flight on `socket` (all of them when undefined) with `connection_failed`. */
  private failPending(socket: Socket | undefined, error: MllpError): void {
    for (const entry of [...this.pending.values()]) {
      if (socket === undefined || entry.socket === socket) {
        entry.settle(failed('connection_failed', entry.controlId, entry.started, error));
      }
    }
  }
}

function failed(
  status: MllpSendStatus,
  controlId: string,
  started: number,
  error: MllpError,
): MllpSendResult {
  return { status, code: '', controlId, text: '', errors: [], latencyMs: performance.now() - started, error };
}

/** The bytes to send and the control id to match the ACK with. */
function prepare(message: Hl7Message | Buffer | string): { payload: Buffer; controlId: string } {
  let parsed: Hl7Message;
  if (message instanceof Hl7Message) parsed = message;
  else {
    try {
      parsed = Hl7Message.parse(message);
    } catch (err) {
      if (err instanceof Hl7ParseError) {
        throw new MllpError(MllpErrorCode.InvalidMessage, `the message cannot be parsed (${err.code})`);
      }
      throw err;
    }
  }
  const controlId = parsed.controlId;
  if (controlId === '') {
    throw new MllpError(
      MllpErrorCode.NoControlId,
      'the message has no MSH-10 to match its acknowledgement with',
    );
  }
  return { payload: Buffer.isBuffer(message) ? message : parsed.toBuffer(), controlId };
}
