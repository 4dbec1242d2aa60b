/**
 * Stable error codes of the MLLP layer. Codes are dotted and never change meaning; new
 * situations get new codes. None of them carries message content, so they are safe to log.
 */
export const MllpErrorCode = {
  /** A frame grew past `maxMessageBytes` before its end block arrived. */
  FrameTooLarge: 'mllp.frame_too_large',
  /** Nothing arrived on a connection for `idleTimeoutMs` while no reply was pending. */
  IdleTimeout: 'mllp.idle_timeout',
  /** The connection closed in the middle of a frame; the partial frame was dropped. */
  PartialFrame: 'mllp.partial_frame',
  /** The TCP (and TLS) connection could not be set up within `connectTimeoutMs`. */
  ConnectTimeout: 'mllp.connect_timeout',
  /** The peer refused the connection, or the connection failed before it was set up. */
  ConnectFailed: 'mllp.connect_failed',
  /** The TLS handshake failed (certificate refused, missing, or not trusted). */
  TlsHandshake: 'mllp.tls_handshake',
  /** No acknowledgement arrived within `ackTimeoutMs`. */
  AckTimeout: 'mllp.ack_timeout',
  /** The connection closed while a reply was still awaited. */
  ConnectionClosed: 'mllp.connection_closed',
  /** A reply could not be read as an acknowledgement (unparsable, or no MSA segment). */
  InvalidAck: 'mllp.invalid_ack',
  /** A message to send has no MSH-10 to correlate its acknowledgement with. */
  NoControlId: 'mllp.no_control_id',
  /** A message to send could not be parsed as HL7 v2. */
  InvalidMessage: 'mllp.invalid_message',
  /** The message handler threw or returned a rejected promise. */
  HandlerFailed: 'mllp.handler_failed',
  /** A connection was refused because `maxConnections` were open and none could be evicted. */
  TooManyConnections: 'mllp.too_many_connections',
  /** A connection was refused because `maxConnectionsPerPeer` from its address were open. */
  PeerLimit: 'mllp.peer_limit',
  /** A connection from an address not on the `allow` list was closed unread. */
  NotAllowed: 'mllp.not_allowed',
  /** An idle connection was closed to make room for a new one (the server was full). */
  Evicted: 'mllp.evicted',
  /** A frame was not complete `frameTimeoutMs` after its first byte; the connection was closed. */
  FrameTimeout: 'mllp.frame_timeout',
  /** A socket error (reset, broken pipe…) ended a connection. */
  SocketError: 'mllp.socket_error',
  /** A fault in Sinew's own connection code; the connection was closed. */
  Internal: 'mllp.internal_error',
  /** The client or server was closed or stopped. */
  Closed: 'mllp.closed',
} as const;
export type MllpErrorCode = (typeof MllpErrorCode)[keyof typeof MllpErrorCode];

/** An MLLP failure. `message` never contains message content. */
export class MllpError extends Error {
  override readonly name = 'MllpError';
  constructor(
    readonly code: MllpErrorCode,
    message: string,
    /** The server connection it happened on, when there is one. */
    readonly connectionId?: number,
    /** The peer's address, when the error concerns one connection (an address, never content). */
    readonly remoteAddress?: string,
  ) {
    super(message);
  }

  /** `mllp.ack_timeout: no acknowledgement within 5000 ms`. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

/**
 * Why the server refused or closed a connection, for the codes that protect it from idle,
 * slow or unknown peers (a metric label): `not_allowed`, `per_peer_limit`, `full`, `evicted`,
 * `frame_timeout`, `idle`.
 */
export type MllpCloseReason =
  'not_allowed' | 'per_peer_limit' | 'full' | 'evicted' | 'frame_timeout' | 'idle';

const CLOSE_REASONS: Partial<Record<MllpErrorCode, MllpCloseReason>> = {
  [MllpErrorCode.NotAllowed]: 'not_allowed',
  [MllpErrorCode.PeerLimit]: 'per_peer_limit',
  [MllpErrorCode.TooManyConnections]: 'full',
  [MllpErrorCode.Evicted]: 'evicted',
  [MllpErrorCode.FrameTimeout]: 'frame_timeout',
  [MllpErrorCode.IdleTimeout]: 'idle',
};

/** The close reason an error code stands for, or undefined for the other codes. */
export function closeReasonOf(code: MllpErrorCode): MllpCloseReason | undefined {
  return CLOSE_REASONS[code];
}
