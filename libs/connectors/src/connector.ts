/**
 * Connector ports. Each connector is declared once (`ConnectorDefinition`): its type name, a
 * zod config schema whose `.describe()` texts are its documentation, its delivery guarantee,
 * an example, and a factory. The engine knows connectors only through these declarations.
 */
import type { HubWriter } from '@sinew/hub';
import type { z } from 'zod';

export type PayloadType = 'hl7v2' | 'fhir' | 'json' | 'text' | 'csv' | 'xml';

/** What a source hands to the engine for one received message. */
export interface IngestRequest {
  body: Buffer;
  /** What the source believes the body is (HTTP: from Content-Type; MLLP: hl7v2). */
  contentType: PayloadType;
  /** Peer address (`127.0.0.1`), or the file path for a file source. */
  remoteAddress?: string;
  /** Source connector type (`mllp`, `http`, `file`). */
  source: string;
  /** MLLP: the connection's id (replies on one connection keep arrival order). */
  connectionId?: number;
  /**
   * A polling source's cursor after this message (see `SourceCursor`): the ledger commits it
   * in the same transaction as the message, and only when the message is stored (`accepted`).
   */
  cursor?: string;
  /** Handed on by another channel's `channel` destination: the message it came from. */
  parent?: { messageId: string; channelId: string; destination: string };
  /**
   * Business keys the source knows and the content does not hold (a FHIR API write: the app
   * that made it, `app`); stored with the channel's own keys, over any of them with the same
   * name (a channel cannot put another app's name on a write).
   */
  keys?: Record<string, string>;
}

/** Why a message was refused or failed: safe to send back and to log (no message content). */
export interface DispositionIssue {
  /** Stable dotted code: `hl7.segment_name`, `header.required`, a rule's code (`lab.mrn`). */
  code: string;
  message: string;
  /** Where, as an HL7 path (`PID-3.1`), when known. */
  location?: string;
  /** HL7 table 0357 condition of the check that failed: 100, 101, 102, 103, 200, 207 … */
  condition: string;
}

/**
 * What happened to one received message: the engine's one answer, which each protocol's
 * acker (libs/connectors/src/acker.ts) turns into that protocol's reply.
 * - `accepted`: committed (and, with `ack.when: processed`, through the pipeline);
 * - `duplicate`: seen before within the duplicate window, not processed again;
 * - `rejected`: refused; `unreadable` (not parseable), `unsupported` (a type or version the
 *   channel does not take) or `invalid` (a header or validation check failed);
 * - `errored`: committed, but its pipeline failed (with `ack.when: processed`);
 * - `unavailable`: not stored (ledger down): the sender keeps it and sends it again.
 */
export type Disposition =
  | { kind: 'accepted' }
  | { kind: 'duplicate' }
  | { kind: 'rejected'; reason: 'unreadable' | 'unsupported' | 'invalid'; issue: DispositionIssue }
  | { kind: 'errored'; issue: DispositionIssue }
  | { kind: 'unavailable'; issue: DispositionIssue };

/** The engine's answer to a source. */
export interface IngestReply {
  disposition: Disposition;
  messageId?: string;
  /**
   * For an HL7 v2 message, its ACK as built by `hl7Reply` from the disposition (kept in the
   * ledger, so a duplicate gets the same bytes again).
   */
  reply?: Buffer;
}

export type IngestFn = (request: IngestRequest) => Promise<IngestReply>;

/** Where a connector logs (pino-compatible). Never pass message content or PHI. */
export interface ConnectorLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Counters a source reports to the engine's metrics (Prometheus). */
export interface SourceMetrics {
  /**
   * A connection the source refused on arrival or closed, by reason (`not_allowed`,
   * `per_peer_limit`, `full`, `evicted`, `frame_timeout`, `idle`).
   */
  connectionClosed(reason: string): void;
}

/**
 * Where a polling source keeps what it has consumed (a high-water mark, a paging cursor, the
 * time of its last scheduled run) across restarts: one opaque text per channel and source
 * type, in the ledger. The guarantee comes from the commit: a message ingested with
 * `IngestRequest.cursor` and that cursor are written in ONE ledger transaction, so after a
 * crash the ledger holds either both or neither, and a source that resumes from `get()`
 * neither skips nor repeats what it read. Rules for a source that uses it:
 * - ingest one message at a time (await each reply before the next), in the order read, each
 *   carrying the cursor just past it;
 * - when a message is not stored for good (`rejected`, `duplicate`), move past it with
 *   `set()`; when the ledger is `unavailable`, stop and read again from `get()` later.
 */
export interface SourceCursor {
  /** The last committed cursor, or undefined before the first. */
  get(): Promise<string | undefined>;
  /** Commits a cursor on its own (no message): nothing was produced, or what was is refused. */
  set(value: string): Promise<void>;
}

export interface SourceContext {
  channelId: string;
  ingest: IngestFn;
  logger: ConnectorLogger;
  /** Where the source reports its counters; absent when nothing collects them. */
  metrics?: SourceMetrics;
  /**
   * Checks a Sinew API key given by a sender (HTTP source with `api_keys: true`): `ok` when it
   * holds `ingest:<channel>` (or `admin`) for this channel, `forbidden` when it is a valid key
   * without that scope, `unknown` when it is no valid key. Absent when the engine has no ledger
   * of keys to check against.
   */
  authorize?: (token: string, from?: string) => Promise<'ok' | 'forbidden' | 'unknown'>;
  /** The source's cursor in the ledger; absent when the engine has no ledger to keep it in. */
  cursor?: SourceCursor;
}

export interface Source {
  /** Starts listening/polling; resolves once ready (a listener is bound). */
  start(): Promise<void>;
  /** Stops accepting new input, waits up to `timeoutMs` for in-flight replies, closes. */
  stop(timeoutMs?: number): Promise<void>;
  /** Where it listens (`mllp://127.0.0.1:2575`, `http://…`, a directory), for logs and tests. */
  describe(): string;
  /** The bound port for listeners (useful with port 0). */
  port?(): number | undefined;
}

export interface DeliveryRequest {
  messageId: string;
  deliveryId: string;
  /** 1-based attempt number. */
  attempt: number;
  body: Buffer;
  contentType: PayloadType;
  channelId: string;
  destination: string;
}

/**
 * - `sent`: the peer accepted it (MLLP AA/CA; HTTP 2xx; FHIR 2xx without error issues).
 * - `retry`: a transient failure (timeouts, refused connections, MLLP AE/CE when configured to
 *   retry, HTTP 408/429/5xx); the engine retries per the destination's policy.
 * - `failed`: permanent (MLLP AR/CR, HTTP 4xx other than 408/429): dead-lettered at once.
 * `response` keeps what the peer answered; `code` is a short summary (`AA`, `HTTP 503`,
 * `ECONNREFUSED`, `TIMEOUT`).
 */
export type DeliveryOutcome =
  | { status: 'sent'; code?: string; response?: Buffer }
  | { status: 'retry'; code?: string; error: string; response?: Buffer; retryAfterMs?: number }
  | { status: 'failed'; code?: string; error: string; response?: Buffer };

export interface DestinationContext {
  channelId: string;
  destination: string;
  logger: ConnectorLogger;
  /** Commits a message into another channel of this engine (the `channel` destination); absent outside an engine. */
  handOff?: (request: ChannelHandOff) => Promise<ChannelHandOffResult>;
  /** The clinic data hub the `store` destination writes into; absent when the engine runs without one. */
  hub?: HubWriter;
}

/** One message handed from a channel's `channel` destination to another channel. */
export interface ChannelHandOff {
  /** The receiving channel's id. */
  target: string;
  /** The message being delivered, its channel and the destination handing it on. */
  parent: { messageId: string; channelId: string; destination: string };
  body: Buffer;
  contentType: PayloadType;
}

/**
 * What became of a hand-off:
 * - `committed`: the child is in the ledger (`existed`: a previous attempt had committed it);
 * - `duplicate`: the receiving channel's duplicate check matched an earlier message;
 * - `missing`: no such channel is deployed (or it is disabled);
 * - `paused`: the receiving channel is paused;
 * - `not_allowed`: it has no `channel` source naming the sending channel in `from`;
 * - `refused`: the receiving channel refused the message (unreadable, invalid);
 * - `unavailable`: the ledger could not commit it.
 */
export type ChannelHandOffResult =
  | { kind: 'committed'; messageId: string; existed: boolean }
  | { kind: 'duplicate'; messageId?: string }
  | { kind: 'missing' }
  | { kind: 'paused' }
  | { kind: 'not_allowed' }
  | { kind: 'refused'; issue: DispositionIssue }
  | { kind: 'unavailable'; issue: DispositionIssue };

export interface Destination {
  send(request: DeliveryRequest): Promise<DeliveryOutcome>;
  close(): Promise<void>;
  describe(): string;
}

interface ConnectorBase<C> {
  /** `mllp`, `http`, `file`, `fhir`. */
  type: string;
  /** One paragraph for the docs. */
  description: string;
  /** What the connector guarantees (for the docs). */
  guarantee: string;
  configSchema: z.ZodType<C>;
  /** A config as it appears in a channel YAML, for the docs and a test. */
  example: Record<string, unknown>;
}

export interface SourceDefinition<C = unknown> extends ConnectorBase<C> {
  kind: 'source';
  /** The kinds of message this source can hand to the engine with these settings. */
  produces(config: C): readonly PayloadType[];
  create(config: C, context: SourceContext): Source;
}

export interface DestinationDefinition<C = unknown> extends ConnectorBase<C> {
  kind: 'destination';
  /** The kinds of payload this destination can deliver (the channel compiler checks it). */
  accepts: readonly PayloadType[];
  create(config: C, context: DestinationContext): Destination;
}
