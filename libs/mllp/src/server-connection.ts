import type { Socket } from 'node:net';
import { handlerFailureNack, oversizeNack } from './acks';
import { MllpError, MllpErrorCode } from './errors';
import { MllpDecoder, encodeFrame } from './framing';
import { replyBytes, type MllpConnectionContext, type MllpHandler, type MllpReply } from './handler';

/** How long a connection the server ends may take to close before it is destroyed. */
const CLOSE_GRACE_MS = 2_000;

/** What a connection needs from its server. */
export interface ConnectionSettings {
  handler: MllpHandler;
  maxMessageBytes: number;
  /** 0 disables the idle timeout. */
  idleTimeoutMs: number;
  /** Time allowed from a frame's first byte to its end block; 0 disables it. */
  frameTimeoutMs: number;
  maxPendingReplies: number;
  onFrame(connection: ServerConnection, bytes: number): void;
  onProblem(error: MllpError): void;
  onClose(connection: ServerConnection): void;
}

/** A reply slot: one per message received, written in arrival order once `done`. */
interface Slot {
  done: boolean;
  frame?: Buffer;
  /** End the connection once this slot is written (used after an oversize frame). */
  closeAfter?: boolean;
}

/** Counters of one connection, added to the server's when it closes. */
export interface ConnectionCounters {
  repliesSent: number;
  handlerErrors: number;
  idleTimeouts: number;
  frameTimeouts: number;
  socketErrors: number;
}

/** Name of an error without its message (which might quote message content). */
function errorName(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.name} ${code}` : err.name;
  }
  return typeof err;
}

/**
 * One accepted connection: decodes frames, runs the handler for each, and writes the replies
 * in the order the messages arrived. An oversize frame is answered with AR and ends the
 * connection; silence for `idleTimeoutMs` with nothing pending ends it too, and so does a
 * frame not complete `frameTimeoutMs` after its first byte (bytes trickling in do not extend
 * that deadline, and bytes outside any frame do not count as activity).
 */
export class ServerConnection {
  readonly decoder: MllpDecoder;
  readonly counters: ConnectionCounters = {
    repliesSent: 0,
    handlerErrors: 0,
    idleTimeouts: 0,
    frameTimeouts: 0,
    socketErrors: 0,
  };
  /** When a frame last completed or a reply was written (or the connection opened), in ms. */
  lastActivity = performance.now();
  private readonly queue: Slot[] = [];
  /** False once no further frame is taken (after an oversize frame, or while stopping). */
  private accepting = true;
  private paused = false;
  private ending = false;
  private closed = false;
  private readonly idleTimer: NodeJS.Timeout | undefined;
  private frameTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    readonly context: MllpConnectionContext,
    private readonly settings: ConnectionSettings,
  ) {
    this.decoder = new MllpDecoder({ maxMessageBytes: settings.maxMessageBytes });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    if (settings.idleTimeoutMs > 0) {
      this.idleTimer = setTimeout(() => this.onIdle(), settings.idleTimeoutMs);
      this.idleTimer.unref();
    }
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.counters.socketErrors++;
      this.problem(MllpErrorCode.SocketError, `socket error (${errorName(err)})`);
    });
    socket.on('close', () => this.onClose());
  }

  /**
   * True when closing it loses nothing: no frame in progress, no reply pending, not closing.
   * Such a connection may be evicted to make room for a new one.
   */
  get evictable(): boolean {
    return this.accepting && !this.ending && !this.closed && this.queue.length === 0 && !this.decoder.inFrame;
  }

  /** Closes an idle connection at once to make room for another (see `evictable`). */
  evict(): void {
    if (this.closed || this.ending) return;
    this.accepting = false;
    this.ending = true;
    this.socket.destroy();
  }

  /** Takes no further message; ends the connection once every pending reply is written. */
  drain(): void {
    this.accepting = false;
    this.flush();
  }

  private problem(code: MllpErrorCode, text: string): void {
    this.settings.onProblem(new MllpError(code, text, this.context.connectionId, this.context.remoteAddress));
  }

  private onData(chunk: Buffer): void {
    // After an oversize frame or while stopping, bytes are read and dropped: leaving them
    // unread could make the close reset the connection before the peer reads its reply.
    if (!this.accepting) {
      this.idleTimer?.refresh();
      return;
    }
    const { frames, discardedBytes } = this.decoder.stats;
    try {
      for (const item of this.decoder.push(chunk)) {
        if (item.type === 'frame') {
          this.dispatch(item.payload);
        } else {
          this.stopFrameTimer();
          this.refuseOversize(item.head, item.bytes);
          return;
        }
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    // Only bytes of a frame are activity: junk between frames does not keep a connection.
    if (this.decoder.stats.discardedBytes - discardedBytes < chunk.length) this.idleTimer?.refresh();
    if (!this.decoder.inFrame) this.stopFrameTimer();
    else if (!this.frameTimer || this.decoder.stats.frames > frames) this.startFrameTimer();
  }

  /** The deadline of the frame that just started (a frame completing restarts it for the next). */
  private startFrameTimer(): void {
    const ms = this.settings.frameTimeoutMs;
    if (ms <= 0) return;
    if (this.frameTimer) this.frameTimer.refresh();
    else {
      this.frameTimer = setTimeout(() => this.onFrameTimeout(), ms);
      this.frameTimer.unref();
    }
  }

  private stopFrameTimer(): void {
    if (this.frameTimer) clearTimeout(this.frameTimer);
    this.frameTimer = undefined;
  }

  /**
   * A frame started long ago has not ended: the peer is too slow or hostile. The replies
   * already due are written, then the connection closes (at once when none is due).
   */
  private onFrameTimeout(): void {
    this.frameTimer = undefined;
    if (this.closed || this.ending || !this.accepting) return;
    if (this.paused) {
      // The server stopped reading (too many replies pending): the peer is not the slow one.
      this.startFrameTimer();
      return;
    }
    this.counters.frameTimeouts++;
    this.problem(
      MllpErrorCode.FrameTimeout,
      `a frame was not complete ${this.settings.frameTimeoutMs} ms after its first byte; closing`,
    );
    this.accepting = false;
    if (this.queue.length === 0) {
      this.ending = true;
      this.socket.destroy();
    } else this.flush();
  }

  /** A fault of this connection's own code: it is closed, and nothing else is affected. */
  private fail(err: unknown): void {
    this.problem(MllpErrorCode.Internal, `internal error (${errorName(err)}); connection closed`);
    this.socket.destroy();
  }

  private dispatch(payload: Buffer): void {
    this.lastActivity = performance.now();
    const slot: Slot = { done: false };
    this.queue.push(slot);
    this.settings.onFrame(this, payload.length);
    if (this.queue.length >= this.settings.maxPendingReplies && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    this.run(payload, slot);
  }

  private run(payload: Buffer, slot: Slot): void {
    let pending: Promise<MllpReply>;
    try {
      pending = Promise.resolve(this.settings.handler(payload, this.context));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending
      .then((reply) => {
        const bytes = replyBytes(reply);
        return bytes === undefined ? undefined : encodeFrame(bytes);
      })
      .catch((err: unknown) => {
        this.counters.handlerErrors++;
        this.problem(
          MllpErrorCode.HandlerFailed,
          `the message handler failed (${errorName(err)}); answered AR`,
        );
        return encodeFrame(handlerFailureNack(payload));
      })
      .then((frame) => {
        slot.frame = frame;
        slot.done = true;
        this.flush();
      })
      .catch((err: unknown) => this.fail(err));
  }

  private refuseOversize(head: Buffer, bytes: number): void {
    this.accepting = false;
    this.problem(
      MllpErrorCode.FrameTooLarge,
      `frame over ${this.settings.maxMessageBytes} bytes (${bytes} received); answered AR and closing`,
    );
    this.queue.push({
      done: true,
      frame: encodeFrame(oversizeNack(head, this.settings.maxMessageBytes)),
      closeAfter: true,
    });
    this.flush();
  }

  /** Writes the replies that are ready, in order; ends the connection when it should. */
  private flush(): void {
    if (this.closed) return;
    let corked = false;
    while (this.queue[0]?.done) {
      const slot = this.queue.shift() as Slot;
      if (slot.frame) {
        if (!corked) {
          this.socket.cork();
          corked = true;
        }
        this.socket.write(slot.frame);
        this.counters.repliesSent++;
      }
      if (slot.closeAfter) {
        this.queue.length = 0;
        break;
      }
    }
    if (corked) {
      this.socket.uncork();
      this.lastActivity = performance.now();
    }
    if (this.paused && (!this.accepting || this.queue.length < this.settings.maxPendingReplies)) {
      this.paused = false;
      this.socket.resume();
    }
    if (!this.accepting && this.queue.length === 0) this.end();
  }

  private onIdle(): void {
    if (this.closed || this.ending) return;
    if (this.queue.length > 0) {
      this.idleTimer?.refresh();
      return;
    }
    this.counters.idleTimeouts++;
    const where = this.decoder.inFrame ? ' in the middle of a frame' : '';
    this.problem(MllpErrorCode.IdleTimeout, `no data for ${this.settings.idleTimeoutMs} ms${where}; closing`);
    this.accepting = false;
    this.end();
  }

  /** Ends the connection politely; destroys it if the peer does not close in time. */
  private end(): void {
    if (this.ending || this.closed) return;
    this.ending = true;
    if (this.paused) this.socket.resume();
    this.socket.end();
    this.graceTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  private onClose(): void {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.stopFrameTimer();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.queue.length = 0;
    const partialBefore = this.decoder.stats.partialFrames;
    const dropped = this.decoder.end();
    if (this.decoder.stats.partialFrames > partialBefore) {
      this.problem(
        MllpErrorCode.PartialFrame,
        `the connection closed in the middle of a frame; ${dropped} bytes dropped`,
      );
    }
    this.settings.onClose(this);
  }
}
