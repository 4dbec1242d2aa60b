import { createHash } from 'node:crypto';
import type { CompiledChannel, ConditionInput } from '@sinew/channels';
import {
  hl7AckCode,
  hl7Reply,
  type Disposition,
  type DispositionIssue,
  type IngestReply,
  type IngestRequest,
} from '@sinew/connectors';
import { Hl7ErrorCondition, Hl7Message, Hl7ParseError } from '@sinew/hl7v2';
import { answerableBytes, headerProblem, parseErrorCondition, replyBasis } from '@sinew/mllp';
import type { ContentType, DuplicateHit, InsertedMessage, NewMessage, Store } from '@sinew/store';
import {
  CsvPayloadError,
  readCsvPayload,
  readXmlPayload,
  XmlPayloadError,
  xmlRootName,
} from '@sinew/mapping';
import { messageId } from './ids';
import type { EngineLogger } from './logger';
import type { EngineMetrics } from './metrics';

/** The largest ACK latency the ledger records (about 35 minutes; its column is a 32-bit integer). */
const MAX_LATENCY_US = 2 ** 31 - 1;

/**
 * Commits received messages in groups: every message that arrives while a commit is under way
 * (or in the same turn of the event loop) goes into the next transaction together. A lone
 * message is committed at once; under load, one transaction carries many.
 */
export class GroupCommitter {
  private pending: Array<{
    msg: NewMessage;
    /** `process.hrtime.bigint()` at receipt, when the ACK follows this commit. */
    started?: bigint;
    resolve: (m: InsertedMessage) => void;
    reject: (e: unknown) => void;
  }> = [];
  private scheduled = false;
  private committing = false;
  /** Sizes of the groups committed, for tests and benchmarks. */
  readonly groupSizes: number[] = [];

  constructor(
    private readonly store: Store,
    private readonly maxGroup = 512,
  ) {}

  /** Commits `msg`; with `started` (its receipt), the ACK latency up to the commit rides in the same insert. */
  add(msg: NewMessage, started?: bigint): Promise<InsertedMessage> {
    return new Promise((resolve, reject) => {
      this.pending.push({ msg, ...(started !== undefined ? { started } : {}), resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.committing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.commit();
    });
  }

  private async commit(): Promise<void> {
    if (this.committing || this.pending.length === 0) return;
    this.committing = true;
    const group = this.pending.splice(0, this.maxGroup);
    if (this.groupSizes.length < 10_000) this.groupSizes.push(group.length);
    const now = process.hrtime.bigint();
    for (const g of group) {
      if (g.started !== undefined)
        g.msg.ackLatencyUs = Math.min(Number((now - g.started) / 1000n), MAX_LATENCY_US);
    }
    try {
      const inserted = await this.store.insertMessages(group.map((g) => g.msg));
      group.forEach((g, i) => g.resolve(inserted[i] as InsertedMessage));
    } catch (err) {
      for (const g of group) g.reject(err);
    } finally {
      this.committing = false;
      if (this.pending.length) this.schedule();
    }
  }
}

export interface IngestDeps {
  store: Store;
  committer: GroupCommitter;
  metrics: EngineMetrics;
  logger: EngineLogger;
  /**
   * Called once a message is committed (enqueues its pipeline job), with what was committed
   * so that a pipeline in this process need not read it back.
   */
  committed(channel: CompiledChannel, id: string, local: LocalMessage): Promise<void>;
  /** With `ack.when: processed`: resolves with the pipeline's ACK, or undefined at the timeout. */
  awaitProcessed(id: string, timeoutMs: number): Promise<ProcessedAck | undefined>;
}

/** The pipeline's ACK for `ack.when: processed`, and the disposition it stands for. */
export interface ProcessedAck {
  bytes: Buffer;
  disposition: Disposition;
}

/** A message as this process committed it: its bytes and, for HL7 v2, the parsed message. */
export interface LocalMessage {
  raw: Buffer;
  contentType: ContentType;
  message?: Hl7Message;
  /** The channel version that received it (its pipeline runs on that version). */
  channelVersion?: number;
}

/** The sender's identity for duplicate detection: MSH-3 and MSH-4 (application, facility). */
function senderOf(msg: Hl7Message): string {
  return `${msg.get('MSH-3')}|${msg.get('MSH-4')}`;
}

/** A refusal before anything is stored, and what its ACK answers (the parsed message, else the bytes). */
export interface Hl7Refusal {
  disposition: Extract<Disposition, { kind: 'rejected' }>;
  received: Hl7Message | Buffer;
}

/**
 * The ingest's first look at HL7 v2 bytes: the parsed message, or the refusal for bytes that
 * do not parse, have a malformed header or lack MSH-9 or MSH-10 (the header policy of
 * `sinew start` and `sinew listen`). A refusal's ACK never echoes a malformed header.
 * `sinew test` answers `ack.when: received` channels with the same check.
 */
export function admitHl7(body: Buffer): { message: Hl7Message } | Hl7Refusal {
  let msg: Hl7Message;
  try {
    msg = Hl7Message.parse(body);
    // Reading the header now surfaces a broken MSH before anything is committed.
    void msg.messageType;
  } catch (err) {
    const issue: DispositionIssue =
      err instanceof Hl7ParseError
        ? { code: err.code, message: err.message, condition: parseErrorCondition(err.code) }
        : {
            code: 'hl7.unreadable',
            message: 'the message could not be read',
            condition: Hl7ErrorCondition.ApplicationInternalError,
          };
    return {
      disposition: { kind: 'rejected', reason: 'unreadable', issue },
      received: answerableBytes(body),
    };
  }
  const header = headerProblem(msg);
  if (header) {
    return {
      disposition: {
        kind: 'rejected',
        reason: 'invalid',
        issue: {
          code: header.code,
          message: header.text,
          location: header.location,
          condition: header.condition,
        },
      },
      received: replyBasis(msg),
    };
  }
  return { message: msg };
}

const PAUSED: DispositionIssue = {
  code: 'channel.paused',
  message: 'the channel is paused; send the message again later',
  condition: Hl7ErrorCondition.ApplicationInternalError,
};

const UNAVAILABLE: DispositionIssue = {
  code: 'ledger.unavailable',
  message: 'the message could not be stored; send it again later',
  condition: Hl7ErrorCondition.ApplicationInternalError,
};

/**
 * Turns one received message into a ledger row and a reply: parse the header, refuse what is
 * malformed, answer duplicates with the original ACK, commit (grouped), then acknowledge.
 */
export class Ingestor {
  /** Messages in a commit not yet finished, by duplicate key, so a quick resend is caught too. */
  private readonly inFlight = new Map<string, Promise<Buffer | undefined>>();
  /** The deployed version of the channel (ledger deployment history), recorded on each message. */
  channelVersion?: number;
  /** A paused channel takes nothing: each message is answered "send again later" and not stored. */
  paused = false;

  constructor(
    private readonly channel: CompiledChannel,
    private readonly deps: IngestDeps,
  ) {}

  /** The ACK of this channel's mode for a disposition. */
  private ack(d: Disposition, received: Hl7Message | Buffer): Buffer {
    return hl7Reply(d, received, this.channel.spec.ack.mode);
  }

  async ingest(req: IngestRequest): Promise<IngestReply> {
    if (this.paused) return this.pausedReply(req);
    const started = process.hrtime.bigint();
    const reply =
      req.contentType === 'hl7v2'
        ? await this.ingestHl7(req, started)
        : req.contentType === 'csv' || req.contentType === 'xml'
          ? await this.ingestTabular(req, req.contentType, started)
          : await this.ingestDocument(req, started);
    const kind = reply.disposition.kind;
    if (kind === 'accepted' || kind === 'duplicate') {
      this.deps.metrics.ackLatency.observe(
        { channel: this.channel.spec.id },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    }
    return reply;
  }

  private async ingestHl7(req: IngestRequest, started: bigint): Promise<IngestReply> {
    const channelId = this.channel.spec.id;
    const admitted = admitHl7(req.body);
    if ('disposition' in admitted) {
      this.deps.metrics.rejected.inc({ channel: channelId });
      return { disposition: admitted.disposition, reply: this.ack(admitted.disposition, admitted.received) };
    }
    const msg = admitted.message;
    const sender = senderOf(msg);
    const controlId = msg.controlId;
    const window = this.channel.spec.duplicates.window_ms;
    const dupKey = controlId && window > 0 ? `${sender}\u0000${controlId}` : undefined;

    if (dupKey) {
      const earlier = this.inFlight.get(dupKey);
      if (earlier) {
        const ack = await earlier.catch(() => undefined);
        if (ack) return this.duplicate(undefined, ack);
      } else {
        try {
          const hit = await this.earlierCopy(sender, controlId);
          if (hit) {
            return this.duplicate(hit.id, hit.ack ?? this.ack({ kind: 'duplicate' }, msg));
          }
        } catch (err) {
          return this.unavailable(msg, err);
        }
      }
    }

    // A hand-off from another channel waits for the commit only: nobody reads its ACK.
    const processedMode = this.channel.spec.ack.when === 'processed' && req.parent === undefined;
    const accepted: Disposition = { kind: 'accepted' };
    const ack = processedMode ? undefined : this.ack(accepted, msg);
    const keys = { ...this.keysOf({ kind: 'hl7v2', message: msg }), ...req.keys };
    const id = messageId();
    const record: NewMessage = {
      id,
      channelId,
      receivedAt: new Date(),
      source: req.source,
      sender,
      ...(req.remoteAddress !== undefined ? { remoteAddress: req.remoteAddress } : {}),
      messageType: msg.messageType,
      controlId,
      contentType: 'hl7v2',
      raw: req.body,
      keys,
      ...(this.channelVersion !== undefined ? { channelVersion: this.channelVersion } : {}),
      ...(ack ? { ack: { code: hl7AckCode(accepted, this.channel.spec.ack.mode), bytes: ack } } : {}),
      ...cursorOf(req),
      ...(req.parent ? { parent: req.parent } : {}),
    };
    const commit = this.deps.committer.add(record, processedMode ? undefined : started);
    let settle: ((b: Buffer | undefined) => void) | undefined;
    if (dupKey) {
      this.inFlight.set(
        dupKey,
        new Promise<Buffer | undefined>((resolve) => {
          settle = resolve;
        }),
      );
    }
    try {
      await commit;
    } catch (err) {
      settle?.(undefined);
      if (dupKey) this.inFlight.delete(dupKey);
      return this.unavailable(msg, err);
    }
    this.deps.metrics.received.inc({ channel: channelId });
    // The ACK does not wait for the queue: a committed message that could not be enqueued
    // (Redis down) is picked up by the recovery sweep.
    this.deps
      .committed(this.channel, id, {
        raw: req.body,
        contentType: 'hl7v2',
        message: msg,
        ...(this.channelVersion !== undefined ? { channelVersion: this.channelVersion } : {}),
      })
      .catch((err: unknown) => {
        this.deps.logger.warn(
          { channel: channelId, messageId: id, err: errorText(err) },
          'enqueue failed; recovery will pick the message up',
        );
      });
    let reply = ack;
    let disposition: Disposition = accepted;
    if (processedMode) {
      const processed = await this.deps.awaitProcessed(id, this.channel.spec.ack.timeout_ms);
      if (processed) {
        reply = processed.bytes;
        disposition = processed.disposition;
      } else {
        // Committed; the pipeline goes on after the ACK timeout.
        reply = this.ack(accepted, msg);
      }
    }
    settle?.(reply);
    if (dupKey) this.inFlight.delete(dupKey);
    return { disposition, messageId: id, ...(reply ? { reply } : {}) };
  }

  /**
   * The earlier message of this channel with the same sender and control id within the
   * duplicate window, counted as sent again; undefined when there is none.
   */
  private async earlierCopy(sender: string, controlId: string): Promise<DuplicateHit | undefined> {
    const since = new Date(Date.now() - this.channel.spec.duplicates.window_ms);
    const hit = await this.deps.store.findDuplicate(this.channel.spec.id, sender, controlId, since);
    if (hit) await this.deps.store.countDuplicate(hit.id);
    return hit;
  }

  /** The channel's business keys (`mrn`, `visit` …) read from the message; empty ones left out. */
  private keysOf(input: ConditionInput): Record<string, string> {
    const keys: Record<string, string> = {};
    for (const k of this.channel.keys) {
      const v = k.read(input);
      if (v !== '') keys[k.name] = v;
    }
    return keys;
  }

  private duplicate(id: string | undefined, ack: Buffer | undefined): IngestReply {
    this.deps.metrics.duplicates.inc({ channel: this.channel.spec.id });
    return {
      disposition: { kind: 'duplicate' },
      ...(id ? { messageId: id } : {}),
      ...(ack ? { reply: ack } : {}),
    };
  }

  /** AR (CE in enhanced mode), HTTP 503 with Retry-After: the sender keeps the message. */
  private pausedReply(req: IngestRequest): IngestReply {
    const d: Disposition = { kind: 'unavailable', issue: PAUSED };
    if (req.contentType !== 'hl7v2') return { disposition: d };
    const admitted = admitHl7(req.body);
    return {
      disposition: d,
      reply: this.ack(d, 'disposition' in admitted ? admitted.received : admitted.message),
    };
  }

  private unavailable(msg: Hl7Message | undefined, err: unknown): IngestReply {
    const channelId = this.channel.spec.id;
    this.deps.metrics.unavailable.inc({ channel: channelId });
    this.deps.logger.error(
      { channel: channelId, err: errorText(err) },
      'ledger write failed; negative ACK sent',
    );
    const d: Disposition = { kind: 'unavailable', issue: UNAVAILABLE };
    return { disposition: d, ...(msg ? { reply: this.ack(d, msg) } : {}) };
  }

  /** FHIR resources/Bundles and JSON documents (HTTP source, file source). */
  private async ingestDocument(req: IngestRequest, started: bigint): Promise<IngestReply> {
    const channelId = this.channel.spec.id;
    let value: unknown;
    try {
      value = JSON.parse(req.body.toString('utf8'));
    } catch (err) {
      this.deps.metrics.rejected.inc({ channel: channelId });
      return {
        disposition: {
          kind: 'rejected',
          reason: 'unreadable',
          issue: {
            code: 'json.syntax',
            message: `the body is not JSON: ${(err as Error).message}`,
            condition: Hl7ErrorCondition.ApplicationInternalError,
          },
        },
      };
    }
    const doc = value as { resourceType?: unknown; id?: unknown; identifier?: { value?: unknown } };
    const isFhir = typeof doc?.resourceType === 'string';
    if (req.contentType === 'fhir' && !isFhir) {
      this.deps.metrics.rejected.inc({ channel: channelId });
      return {
        disposition: {
          kind: 'rejected',
          reason: 'invalid',
          issue: {
            code: 'fhir.resource_type',
            message: 'a FHIR body needs a resourceType',
            condition: Hl7ErrorCondition.RequiredFieldMissing,
          },
        },
      };
    }
    const contentType = isFhir ? 'fhir' : 'json';
    const controlId =
      isFhir && doc.resourceType === 'Bundle' && typeof doc.identifier?.value === 'string'
        ? doc.identifier.value
        : undefined;
    return this.commitDocument(req, started, {
      contentType,
      messageType: isFhir ? String(doc.resourceType) : 'json',
      controlId,
      keys: () => this.keysOf({ kind: contentType, value }),
    });
  }

  /**
   * csv messages (a row: column names, then values) and XML documents: refused with the place
   * of the fault when they cannot be read, else committed as they came. The message type is
   * `csv`, or the XML root element's name.
   */
  private async ingestTabular(
    req: IngestRequest,
    contentType: 'csv' | 'xml',
    started: bigint,
  ): Promise<IngestReply> {
    const channelId = this.channel.spec.id;
    let value: unknown;
    try {
      value = contentType === 'csv' ? readCsvPayload(req.body) : readXmlPayload(req.body);
    } catch (err) {
      if (!(err instanceof CsvPayloadError) && !(err instanceof XmlPayloadError)) throw err;
      this.deps.metrics.rejected.inc({ channel: channelId });
      return {
        disposition: {
          kind: 'rejected',
          reason: 'unreadable',
          issue: {
            code: err.code,
            message: `the body is not ${contentType === 'csv' ? 'a CSV row' : 'XML'}: ${err.message}`,
            condition: Hl7ErrorCondition.ApplicationInternalError,
          },
        },
      };
    }
    const messageType =
      contentType === 'xml' ? (xmlRootName(value as Record<string, unknown>) ?? 'xml') : 'csv';
    // No control id in the content: a digest of it stands in, so the same row or document
    // handed over again (a file read again after a crash or an unavailable store) is a duplicate.
    const controlId = createHash('sha256').update(req.body).digest('hex').slice(0, 32);
    return this.commitDocument(req, started, {
      contentType,
      messageType,
      controlId,
      keys: () => this.keysOf({ kind: 'json', value }),
    });
  }

  /**
   * Commits a message that is not HL7 v2 (JSON, FHIR, a CSV row, an XML document): a duplicate
   * of an earlier copy from the same sender (by `controlId`, within the channel's window) is
   * answered as one; else it is stored with its keys, cursor and parent link.
   */
  private async commitDocument(
    req: IngestRequest,
    started: bigint,
    doc: {
      contentType: ContentType;
      messageType: string;
      controlId: string | undefined;
      keys: () => Record<string, string>;
    },
  ): Promise<IngestReply> {
    const channelId = this.channel.spec.id;
    const sender = req.remoteAddress ?? req.source;
    const { contentType, controlId } = doc;
    const window = this.channel.spec.duplicates.window_ms;
    try {
      if (controlId && window > 0) {
        const hit = await this.earlierCopy(sender, controlId);
        if (hit) {
          this.deps.metrics.duplicates.inc({ channel: channelId });
          return { disposition: { kind: 'duplicate' }, messageId: hit.id };
        }
      }
      const keys = { ...doc.keys(), ...req.keys };
      const id = messageId();
      await this.deps.committer.add(
        {
          id,
          channelId,
          receivedAt: new Date(),
          source: req.source,
          sender,
          ...(req.remoteAddress !== undefined ? { remoteAddress: req.remoteAddress } : {}),
          messageType: doc.messageType,
          ...(controlId ? { controlId } : {}),
          contentType,
          raw: req.body,
          keys,
          ...(this.channelVersion !== undefined ? { channelVersion: this.channelVersion } : {}),
          ...cursorOf(req),
          ...(req.parent ? { parent: req.parent } : {}),
        },
        started,
      );
      this.deps.metrics.received.inc({ channel: channelId });
      this.deps
        .committed(this.channel, id, {
          raw: req.body,
          contentType,
          ...(this.channelVersion !== undefined ? { channelVersion: this.channelVersion } : {}),
        })
        .catch(() => undefined);
      return { disposition: { kind: 'accepted' }, messageId: id };
    } catch (err) {
      return this.unavailable(undefined, err);
    }
  }
}

/** The source cursor a request carries, as the ledger row keeps it (committed with the message). */
function cursorOf(req: IngestRequest): Pick<NewMessage, 'cursor'> {
  return req.cursor !== undefined ? { cursor: { source: req.source, value: req.cursor } } : {};
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
