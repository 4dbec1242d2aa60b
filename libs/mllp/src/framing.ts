import { MllpError, MllpErrorCode } from './errors';

/** Start block: every frame begins with this byte (VT). */
export const MLLP_START_BLOCK = 0x0b;
/** End block: the payload ends with this byte (FS)… */
export const MLLP_END_BLOCK = 0x1c;
/** …followed by a carriage return. */
export const MLLP_CARRIAGE_RETURN = 0x0d;

/** Default largest payload accepted in one frame: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_576;

/** How much of an oversize frame is kept, so a negative ACK can be built from its MSH. */
const OVERSIZE_HEAD_BYTES = 64 * 1024;

/**
 * Wraps one payload in an MLLP frame: `0x0B payload 0x1C 0x0D`. Strings are written as UTF-8.
 * Throws `mllp.invalid_message` when the payload holds a block character (0x0B or 0x1C),
 * which would cut the frame short on the receiving side.
 */
export function encodeFrame(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  if (body.includes(MLLP_START_BLOCK) || body.includes(MLLP_END_BLOCK)) {
    throw new MllpError(
      MllpErrorCode.InvalidMessage,
      'the payload contains an MLLP block character (0x0B or 0x1C) and cannot be framed',
    );
  }
  const frame = Buffer.allocUnsafe(body.length + 3);
  frame[0] = MLLP_START_BLOCK;
  body.copy(frame, 1);
  frame[body.length + 1] = MLLP_END_BLOCK;
  frame[body.length + 2] = MLLP_CARRIAGE_RETURN;
  return frame;
}

/** What {@link MllpDecoder.push} finds in the bytes it is given. */
export type MllpDecoded =
  /** A complete payload (the bytes between 0x0B and 0x1C). */
  | { type: 'frame'; payload: Buffer }
  /**
   * A frame that grew past the size limit. `head` holds its first bytes (up to 64 KiB, never
   * more than the limit) so that a reply can name the message; the rest of it is skipped.
   */
  | { type: 'oversize'; head: Buffer; bytes: number };

/** Counters kept by a decoder since it was created. */
export interface MllpDecoderStats {
  /** Complete frames decoded. */
  frames: number;
  /** Bytes received outside any frame (before a start block), dropped. */
  discardedBytes: number;
  /** Frames that went over the size limit. */
  oversizeFrames: number;
  /** Frames dropped unfinished: cut by a new start block, or by the end of the stream. */
  partialFrames: number;
}

export interface MllpDecoderOptions {
  /** Largest payload accepted, in bytes (default 1 MiB). */
  maxMessageBytes?: number;
}

const enum State {
  /** Between frames: waiting for a start block. */
  Outside,
  /** Inside a frame: collecting the payload. */
  Frame,
  /** Just after an end block: a carriage return is expected (and tolerated when missing). */
  AfterEnd,
  /** Inside an oversize frame: skipping to its end. */
  Skipping,
}

/**
 * A streaming MLLP decoder. Feed it the chunks a socket delivers, in order; it returns the
 * frames they complete. Frames may be split across chunks at any byte and a chunk may hold
 * several frames. Bytes before a start block are dropped and counted; a start block inside a
 * frame drops the unfinished frame and starts a new one; an end block not followed by a
 * carriage return still ends its frame.
 */
export class MllpDecoder {
  readonly maxMessageBytes: number;
  readonly stats: MllpDecoderStats = { frames: 0, discardedBytes: 0, oversizeFrames: 0, partialFrames: 0 };
  private state = State.Outside;
  private parts: Buffer[] = [];
  private size = 0;

  constructor(options: MllpDecoderOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isInteger(this.maxMessageBytes) || this.maxMessageBytes < 1) {
      throw new RangeError('maxMessageBytes must be a positive integer');
    }
  }

  /** True while a frame has started and not ended (including an oversize one being skipped). */
  get inFrame(): boolean {
    return this.state === State.Frame || this.state === State.Skipping;
  }

  /** Decodes one chunk; returns the frames (and oversize reports) it completes, in order. */
  push(chunk: Buffer): MllpDecoded[] {
    const out: MllpDecoded[] = [];
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      switch (this.state) {
        case State.Outside: {
          const start = chunk.indexOf(MLLP_START_BLOCK, pos);
          const stop = start < 0 ? len : start;
          this.stats.discardedBytes += stop - pos;
          pos = stop;
          if (start >= 0) pos = this.begin(start);
          break;
        }
        case State.AfterEnd:
          if (chunk[pos] === MLLP_CARRIAGE_RETURN) pos++;
          this.state = State.Outside;
          break;
        case State.Frame:
          pos = this.collect(chunk, pos, out);
          break;
        case State.Skipping: {
          const end = chunk.indexOf(MLLP_END_BLOCK, pos);
          const restart = chunk.indexOf(MLLP_START_BLOCK, pos);
          if (restart >= 0 && (end < 0 || restart < end)) pos = this.begin(restart);
          else if (end < 0) pos = len;
          else {
            this.state = State.AfterEnd;
            pos = end + 1;
          }
          break;
        }
      }
    }
    return out;
  }

  /**
   * Ends the stream (the connection closed). An unfinished frame is dropped and counted;
   * returns its size in bytes (0 when the stream ended between frames).
   */
  end(): number {
    const dropped = this.state === State.Frame ? this.size : 0;
    if (this.state === State.Frame) this.stats.partialFrames++;
    this.parts = [];
    this.size = 0;
    this.state = State.Outside;
    return dropped;
  }

  /** A start block at `at`: drops any unfinished frame and opens a new one. */
  private begin(at: number): number {
    if (this.state === State.Frame) this.stats.partialFrames++;
    this.parts = [];
    this.size = 0;
    this.state = State.Frame;
    return at + 1;
  }

  /** A copy of the first bytes collected so far (for an oversize report). */
  private head(): Buffer {
    const limit = Math.min(OVERSIZE_HEAD_BYTES, this.maxMessageBytes);
    const kept: Buffer[] = [];
    let n = 0;
    for (const part of this.parts) {
      if (n >= limit) break;
      const take = part.subarray(0, limit - n);
      kept.push(take);
      n += take.length;
    }
    return Buffer.concat(kept, n);
  }

  private collect(chunk: Buffer, pos: number, out: MllpDecoded[]): number {
    const end = chunk.indexOf(MLLP_END_BLOCK, pos);
    const restart = chunk.indexOf(MLLP_START_BLOCK, pos);
    const cut = restart >= 0 && (end < 0 || restart < end);
    const stop = cut ? restart : end < 0 ? chunk.length : end;

    const piece = chunk.subarray(pos, stop);
    if (this.size + piece.length > this.maxMessageBytes) {
      this.parts.push(piece);
      out.push({ type: 'oversize', head: this.head(), bytes: this.size + piece.length });
      this.stats.oversizeFrames++;
      this.parts = [];
      this.size = 0;
      this.state = end < 0 ? State.Skipping : State.AfterEnd;
      if (cut) return this.begin(restart);
      return end < 0 ? chunk.length : end + 1;
    }
    if (cut) return this.begin(restart);
    if (piece.length > 0) this.parts.push(piece);
    this.size += piece.length;
    if (end < 0) return chunk.length;

    const payload =
      this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
    out.push({ type: 'frame', payload });
    this.stats.frames++;
    this.parts = [];
    this.size = 0;
    this.state = State.AfterEnd;
    return end + 1;
  }
}
