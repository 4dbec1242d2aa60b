import { EventEmitter } from 'node:events';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';
import { AddressList, normalizeAddress } from './address-list';
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
  /**
   * Connections open at once (default 100). When they are all open, a new connection takes
   * the place of the longest-idle one that has no frame in progress and no reply pending;
   * when there is none, it is closed as soon as it arrives.
   */
  maxConnections?: number;
  /** Connections open at once from one address (default 0: no limit but `maxConnections`). */
  maxConnectionsPerPeer?: number;
  /**
   * Time from a frame's first byte to its end block (default 30,000 ms; 0 = no limit). Bytes
   * arriving do not extend it: a peer trickling a frame is closed when it runs out.
   */
  frameTimeoutMs?: number;
  /**
   * Addresses and CIDR blocks (`10.20.0.0/16`, `fd00::/8`) that may connect (default: any).
   * A connection from elsewhere is closed at once, before anything is read from it.
   */
  allow?: readonly string[];
  /**
   * Addresses and CIDR blocks of known senders: `reservedConnections` of the `maxConnections`
   * slots are kept for them, and only they may evict one another's idle connections.
   */
  priority?: readonly string[];
  /** Slots only `priority` senders may take (default 10; without `priority`, none is kept). */
  reservedConnections?: number;
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
  /** Closed on arrival because `maxConnections` were open and none could be evicted. */
  connectionsRefused: number;
  /** Closed on arrival because `maxConnectionsPerPeer` from the same address were open. */
  connectionsOverPeerLimit: number;
  /** Closed on arrival, unread, because their address is not on `allow`. */
  connectionsNotAllowed: number;
  /** Idle connections closed to make room for a new one. */
  connectionsEvicted: number;
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
  /** Connections closed because a frame was not complete `frameTimeoutMs` after its first byte. */
  frameTimeouts: number;
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
   * Something went wrong on one connection (oversize frame, idle or frame timeout, partial
   * frame, handler failure, socket or TLS error, connection refused or evicted). The server
   * goes on. `closeReasonOf(error.code)` names the refusals and closes that guard the slots.
   */
  connectionError: [error: MllpError];
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 2575,
  maxConnections: 100,
  maxConnectionsPerPeer: 0,
  frameTimeoutMs: 30_000,
  reservedConnections: 10,
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
  readonly options: Readonly<typeof DEFAULTS> & {
    tls?: MllpServerTlsOptions;
    allow?: readonly string[];
    priority?: readonly string[];
  };
  private server: Server | undefined;
  private readonly connections = new Set<ServerConnection>();
  /**
   * The slots in use: every admitted raw socket, handshaking ones included (so that `stop()`
   * can destroy them), with its peer address and whether it is a priority sender's. Keyed by
   * remote address and port, which a TLS socket shares with the raw socket under it.
   */
  private readonly sockets = new Map<string, { socket: Socket; address: string; priority: boolean }>();
  /** Admitted sockets by peer address. */
  private readonly perPeer = new Map<string, number>();
  private priorityOpen = 0;
  private readonly allow: AddressList | undefined;
  private readonly priority: AddressList | undefined;
  private nextConnectionId = 1;
  private stopping: Promise<void> | undefined;
  private readonly totals: Omit<MllpServerStats, 'connectionsOpen'> = {
    connectionsAccepted: 0,
    connectionsRefused: 0,
    connectionsOverPeerLimit: 0,
    connectionsNotAllowed: 0,
    connectionsEvicted: 0,
    tlsFailures: 0,
    frames: 0,
    repliesSent: 0,
    discardedBytes: 0,
    oversizeFrames: 0,
    partialFrames: 0,
    idleTimeouts: 0,
    frameTimeouts: 0,
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
    const { allow, priority, maxConnections, reservedConnections } = this.options;
    if (allow && allow.length > 0) this.allow = new AddressList(allow);
    if (priority && priority.length > 0) {
      this.priority = new AddressList(priority);
      if (reservedConnections >= maxConnections) {
        throw new RangeError('reservedConnections must be smaller than maxConnections');
      }
    }
  }

  /** Starts listening; resolves once the port is bound. */
  async start(): Promise<void> {
    if (this.server) throw new Error('the MLLP server is already started');
    const { tls } = this.options;
    const server = tls
      ? createTlsServer({ ...serverTlsOptions(tls), handshakeTimeout: this.handshakeTimeoutMs() })
      : createTcpServer();
    // Runs before the TLS layer sees the socket: a refused peer gets no handshake.
    server.prependListener('connection', (socket: Socket) => this.admit(socket));
    if (tls) {
      server.on('secureConnection', (socket: TLSSocket) => this.accept(socket));
      server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
        // A connection refused on arrival fails its handshake too: that is not a TLS failure.
        if (!this.sockets.has(slotKey(socket))) return;
        this.totals.tlsFailures++;
        this.report(
          new MllpError(MllpErrorCode.TlsHandshake, `TLS handshake failed (${err.code ?? err.name})`),
        );
      });
    } else {
      server.on('connection', (socket: Socket) => {
        if (this.sockets.has(slotKey(socket))) this.accept(socket);
      });
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
  /**
   * Replaces the listener's certificate, key and CA (a renewal): new connections get them,
   * open ones keep theirs. Only for a TLS listener that has started.
   */
  reloadTls(options: TlsOptions): void {
    if (!this.options.tls || !this.server) throw new Error('the MLLP server does not listen with TLS');
    (this.server as TlsServer).setSecureContext(options);
  }

  stop(timeoutMs = this.options.stopTimeoutMs): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    this.stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const { socket } of this.sockets.values()) socket.destroy();
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

  /**
   * Decides whether a new connection may take a slot: its address must be on `allow` (when
   * there is one) and have fewer than `maxConnectionsPerPeer` open, and a slot must be free
   * (outside the reserved ones, for a sender not on `priority`) or be freed by evicting the
   * longest-idle connection. A refused socket is destroyed before anything is read from it.
   */
  private admit(socket: Socket): void {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    const refuse = (code: MllpErrorCode, counter: keyof typeof this.totals, text: string) => {
      socket.destroy();
      this.totals[counter]++;
      this.report(new MllpError(code, `connection from ${address} refused: ${text}`, undefined, address));
    };
    // A socket already reset by its peer has no address to count it under.
    if (this.stopping || !socket.remoteAddress) {
      socket.destroy();
      return;
    }
    if (this.allow && !this.allow.has(address)) {
      refuse(MllpErrorCode.NotAllowed, 'connectionsNotAllowed', 'the address is not on the allow list');
      return;
    }
    const { maxConnectionsPerPeer, maxConnections } = this.options;
    if (maxConnectionsPerPeer > 0 && (this.perPeer.get(address) ?? 0) >= maxConnectionsPerPeer) {
      refuse(
        MllpErrorCode.PeerLimit,
        'connectionsOverPeerLimit',
        `${maxConnectionsPerPeer} connections from this address are open`,
      );
      return;
    }
    const priority = this.priority?.has(address) ?? false;
    if (!this.hasRoom(priority) && !this.evictFor(priority)) {
      refuse(
        MllpErrorCode.TooManyConnections,
        'connectionsRefused',
        `${maxConnections} connections are open${priority || !this.priority ? '' : ` (${this.options.reservedConnections} of them kept for priority senders)`} and none is idle`,
      );
      return;
    }
    const key = slotKey(socket);
    this.sockets.set(key, { socket, address, priority });
    this.perPeer.set(address, (this.perPeer.get(address) ?? 0) + 1);
    if (priority) this.priorityOpen++;
    socket.once('close', () => this.release(key, socket));
  }

  /** Frees a socket's slot (once; it may be freed before its close event, by an eviction). */
  private release(key: string, socket: Socket): void {
    const slot = this.sockets.get(key);
    if (slot?.socket !== socket) return;
    this.sockets.delete(key);
    const n = (this.perPeer.get(slot.address) ?? 1) - 1;
    if (n > 0) this.perPeer.set(slot.address, n);
    else this.perPeer.delete(slot.address);
    if (slot.priority) this.priorityOpen--;
  }

  /** True when a free slot may be taken by a new connection (a priority sender's, or not). */
  private hasRoom(priority: boolean): boolean {
    const { maxConnections, reservedConnections } = this.options;
    if (this.sockets.size >= maxConnections) return false;
    if (priority || !this.priority) return true;
    return this.sockets.size - this.priorityOpen < maxConnections - reservedConnections;
  }

  /**
   * Makes room by closing the longest-idle connection with no frame in progress and no reply
   * pending: a priority sender may take the place of anyone's (others' first), other senders
   * only that of a sender not on `priority`. False when there is no such connection.
   */
  private evictFor(priority: boolean): boolean {
    let victim: ServerConnection | undefined;
    let victimPriority = true;
    for (const c of this.connections) {
      if (!c.evictable) continue;
      const isPriority = this.sockets.get(slotKey(c.socket))?.priority ?? false;
      if (isPriority && !priority) continue;
      const better =
        !victim ||
        (victimPriority && !isPriority) ||
        (victimPriority === isPriority && c.lastActivity < victim.lastActivity);
      if (better) {
        victim = c;
        victimPriority = isPriority;
      }
    }
    if (!victim) return false;
    const idleMs = Math.round(performance.now() - victim.lastActivity);
    const address = normalizeAddress(victim.context.remoteAddress);
    this.totals.connectionsEvicted++;
    this.report(
      new MllpError(
        MllpErrorCode.Evicted,
        `idle connection from ${address} (idle ${idleMs} ms) closed to make room for a new one`,
        victim.context.connectionId,
        address,
      ),
    );
    const key = slotKey(victim.socket);
    const slot = this.sockets.get(key);
    victim.evict();
    slot?.socket.destroy();
    if (slot) this.release(key, slot.socket);
    return true;
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
      frameTimeoutMs: this.options.frameTimeoutMs,
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

/** A live connection's slot key: its peer's address and port (the same for TLS and raw sockets). */
function slotKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`;
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
  into.frameTimeouts += k.frameTimeouts;
  into.socketErrors += k.socketErrors;
}
