import type { PeerCertificate } from 'node:tls';
import { Hl7Message } from '@sinew/hl7v2';

/** Who sent a message: given to the handler with every message. */
export interface MllpConnectionContext {
  /** Peer address as the socket reports it (e.g. `127.0.0.1`, `::ffff:10.0.0.5`). */
  remoteAddress: string;
  remotePort: number;
  /** Unique within the server's lifetime, counting from 1. */
  connectionId: number;
  /** The client's certificate, on a TLS connection where the client presented one. */
  tlsPeerCertificate?: PeerCertificate;
}

/**
 * What a handler answers: the reply's bytes, its text (written as UTF-8), a message (written
 * in its own character set), or `undefined` for no reply.
 */
export type MllpReply = Buffer | string | Hl7Message | undefined;

/**
 * Called once for every complete frame with its payload, exactly as received (parsing, and
 * so the choice of ACK, is the handler's: see `ackingHandler`). Handlers of one connection
 * may run concurrently; their replies are written in the order the messages arrived. A
 * handler that throws gets the sender a negative ACK (AR).
 */
export type MllpHandler = (message: Buffer, context: MllpConnectionContext) => Promise<MllpReply> | MllpReply;

/** The bytes of a reply (before framing), or `undefined` for none. */
export function replyBytes(reply: MllpReply): Buffer | undefined {
  if (reply === undefined) return undefined;
  if (Buffer.isBuffer(reply)) return reply;
  if (typeof reply === 'string') return Buffer.from(reply, 'utf8');
  if (reply instanceof Hl7Message) return reply.toBuffer();
  throw new TypeError('a handler must return a Buffer, a string, an Hl7Message or undefined');
}
