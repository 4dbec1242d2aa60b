import { EventEmitter } from 'node:events';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { MllpError, MllpErrorCode } from './errors';
import { DEFAULT_MAX_MESSAGE_BYTES } from './framing';
import type { MllpConnectionContext, MllpHandler } from './handler';
import { ServerConnection, type ConnectionCounters } from './server-connection';
import { serverTlsOptions, type MllpServerTlsOptions } from './tls-options';

export interface MllpServerOptions {
  /** Address to listen on (default `127.0.0.1`: give `0.0.0.0` or `::` to accept from other machines). */
  host?: string;
  /** Port to listen on (default 2575); 0 picks a free port, read back from `port`. */
  port?: number;
  /** TLS settings; plain TCP when absent. With `requestCert: true` clients must present a certificate. */
  tls?: MllpServerTlsOptions;
  /** Connections open at once (default 100); further ones are closed as soon as they arrive. */
  maxConnections?: number;
  /** Largest message accepted, in bytes (default 1 MiB); a larger one gets AR and its connection is closed. */
  maxMessageBytes?: number;
  /** A connection silent this long with no reply pending is closed (default 60,000 ms; 0 = never). */
  idleTimeoutMs?: number;
  /** Replies awaited on one connection before the server stops reading from it (default 64). */
  maxPendingReplies?: number;
  /** How long `stop()` waits for in-flight messages before it destroys connections (default 10,000 ms). */
  stopTimeoutMs?: number;
}

/** Counters since the server started. */
export interface MllpServerStats {
  connectionsAccepted: number;
  connectionsOpen: number;
  /** Closed on arrival because `maxConnections` were open. */
  connectionsRefused: number;
  /** TLS handshakes that failed (untrusted or missing client certificate, protocol errors…). */
  tlsFailures: number;
  /** Complete frames received (each handed to the handler). */
  frames: number;
  repliesSent: number;
  /** Bytes received outside any frame, dropped. */
  discardedBytes: number;
  oversizeFrames: number;
  /** Frames dropped unfinished (connection closed mid-frame, or a new start block). */
  partialFrames: number;
  idleTimeouts: number;
  handlerErrors: number;
  socketErrors: number;
}

/** Events of an {@link MllpServer}. None carries message content. */
export interface MllpServerEvents {
  /** A connection was accepted (after the TLS handshake, on TLS). */
  connection: [context: MllpConnectionContext];
  /** A connection closed. */
  disconnect: [context: MllpConnectionContext];
  /** A complete frame arrived and was handed to the handler. */
  frame: [info: { connectionId: number; bytes: number }];
  /**
   * Something went wrong on one connection (oversize frame, idle timeout, partial frame,
   * handler failure, socket or TLS error, connection refused). The server goes on.
   */
  connectionError: [error: MllpError];
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 2575,
  maxConnections: 100,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  idleTimeoutMs: 60_000,
  maxPendingReplies: 64,
  stopTimeoutMs: 10_000,
};

/**
 * An MLLP listener. Every complete frame is handed to the handler as bytes, and whatever the
 * handler returns is framed and sent back, in the order the messages arrived on their
 * connection. One bad frame or connection never affects the others.
 *
 * ```ts
 * const server = new MllpServer({ port: 2575 }, ackingHandler());
 * await server.start();
 * ```
 */
export class MllpServer extends EventEmitter<MllpServerEvents> {
  readonly options: Readonly<typeof DEFAULTS> & { tls?: MllpServerTlsOptions };
  private server: Server | undefined;
  private readonly connections = new Set<ServerConnection>();
  /** Every raw socket, handshaking ones included, so that `stop()` can destroy them. */
  private readonly sockets = new Set<Socket>();
  private nextConnectionId = 1;
  private stopping: Promise<void> | undefined;
  private readonly totals: Omit<MllpServerStats, 'connectionsOpen'> = {
    connectionsAccepted: 0,
    connectionsRefused: 0,
    tlsFailures: 0,
    frames: 0,
    repliesSent: 0,
    discardedBytes: 0,
    oversizeFrames: 0,
    partialFrames: 0,
    idleTimeouts: 0,
    handlerErrors: 0,
    socketErrors: 0,
  };

  constructor(
    options: MllpServerOptions,
    private readonly handler: MllpHandler,
  ) {
    super();
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = { ...DEFAULTS, ...defined };
  }

  /** Starts listening; resolves once the port is bound. */
  async start(): Promise<void> {
    if (this.server) throw new Error('the MLLP server is already started');
    const { tls } = this.options;
    const server = tls
      ? createTlsServer({ ...serverTlsOptions(tls), handshakeTimeout: this.handshakeTimeoutMs() })
      : createTcpServer();
    server.maxConnections = this.options.maxConnections;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('drop', () => {
      this.totals.connectionsRefused++;
      this.report(
        new MllpError(
          MllpErrorCode.TooManyConnections,
          `connection refused: ${this.options.maxConnections} connections are open`,
        ),
      );
    });
    if (tls) {
      server.on('secureConnection', (socket: TLSSocket) => this.accept(socket));
      server.on('tlsClientError', (err: Error & { code?: string }) => {
        this.totals.tlsFailures++;
        this.report(
          new MllpError(MllpErrorCode.TlsHandshake, `TLS handshake failed (${err.code ?? err.name})`),
        );
      });
    } else {
      server.on('connection', (socket: Socket) => this.accept(socket));
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err: Error & { code?: string }) =>
      this.report(new MllpError(MllpErrorCode.SocketError, `listener error (${err.code ?? err.name})`)),
    );
    this.server = server;
  }

  /** The bound port (useful with `port: 0`). */
  get port(): number {
    return this.address().port;
  }

  /** The bound address and port. */
  address(): { host: string; port: number } {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error('the MLLP server is not listening');
    return { host: addr.address, port: addr.port };
  }

  /** Counters since start. */
  get stats(): MllpServerStats {
    const s = { ...this.totals, connectionsOpen: this.connections.size };
    for (const c of this.connections) addCounters(s, c);
    return s;
  }

  /**
   * Stops gracefully: accepts no new connection and no new message, lets the handlers in
   * flight finish and sends their replies, then closes every connection. Connections still
   * open after `timeoutMs` (default `stopTimeoutMs`) are destroyed.
   */
  stop(timeoutMs = this.options.stopTimeoutMs): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    this.stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, timeoutMs);
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const c of this.connections) c.drain();
    });
    return this.stopping;
  }

  private handshakeTimeoutMs(): number {
    const idle = this.options.idleTimeoutMs;
    return idle > 0 ? Math.min(idle, 120_000) : 120_000;
  }

  private accept(socket: Socket | TLSSocket): void {
    const connectionId = this.nextConnectionId++;
    const context: MllpConnectionContext = {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      connectionId,
    };
    if ('getPeerCertificate' in socket) {
      const cert = socket.getPeerCertificate();
      if (cert && Object.keys(cert).length > 0) context.tlsPeerCertificate = cert;
    }
    this.totals.connectionsAccepted++;
    const connection = new ServerConnection(socket, context, {
      handler: this.handler,
      maxMessageBytes: this.options.maxMessageBytes,
      idleTimeoutMs: this.options.idleTimeoutMs,
      maxPendingReplies: this.options.maxPendingReplies,
      onFrame: (_c, bytes) => {
        if (this.listenerCount('frame') > 0) this.emit('frame', { connectionId, bytes });
      },
      onProblem: (err) => this.report(err),
      onClose: (c) => {
        this.connections.delete(c);
        addCounters(this.totals, c);
        this.emit('disconnect', context);
      },
    });
    this.connections.add(connection);
    this.emit('connection', context);
    if (this.stopping) connection.drain();
  }

  private report(error: MllpError): void {
    this.emit('connectionError', error);
  }
}

function addCounters(into: Omit<MllpServerStats, 'connectionsOpen'>, c: ServerConnection): void {
  const d = c.decoder.stats;
  const k: ConnectionCounters = c.counters;
  into.frames += d.frames;
  into.discardedBytes += d.discardedBytes;
  into.oversizeFrames += d.oversizeFrames;
  into.partialFrames += d.partialFrames;
  into.repliesSent += k.repliesSent;
  into.handlerErrors += k.handlerErrors;
  into.idleTimeouts += k.idleTimeouts;
  into.socketErrors += k.socketErrors;
}
