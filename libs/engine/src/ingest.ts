import { buildAck, Hl7Message, Hl7ParseError, type AckCode, type AckError } from '@sinew/hl7v2';
import { handlerFailureNack, parseErrorNack } from '@sinew/mllp';
import type { IngestReply, IngestRequest } from '@sinew/connectors';
import type { ContentType, DuplicateHit, InsertedMessage, NewMessage, Store } from '@sinew/store';
import type { Channel } from './channel';
import { readKey, type ConditionInput } from './condition';
import { messageId } from './ids';
import type { EngineLogger } from './logger';
import type { EngineMetrics } from './metrics';

/**
 * Commits received messages in groups: every message that arrives while a commit is under way
 * (or in the same turn of the event loop) goes into the next transaction together. A lone
 * message is committed at once; under load, one transaction carries many.
 */
export class GroupCommitter {
  private pending: Array<{
    msg: NewMessage;
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

  add(msg: NewMessage): Promise<InsertedMessage> {
    return new Promise((resolve, reject) => {
      this.pending.push({ msg, resolve, reject });
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
  committed(channel: Channel, id: string, local: LocalMessage): Promise<void>;
  /** With `ack.when: processed`: resolves with the pipeline's ACK, or undefined at the timeout. */
  awaitProcessed(id: string, timeoutMs: number): Promise<Buffer | undefined>;
}

/** A message as this process committed it: its bytes and, for HL7 v2, the parsed message. */
export interface LocalMessage {
  raw: Buffer;
  contentType: ContentType;
  message?: Hl7Message;
}

function ackCode(channel: Channel, positive: boolean, reject = false): AckCode {
  if (channel.spec.ack.mode === 'enhanced') return positive ? 'CA' : reject ? 'CR' : 'CE';
  return positive ? 'AA' : reject ? 'AR' : 'AE';
}

/** The sender's identity for duplicate detection: MSH-3 and MSH-4 (application, facility). */
function senderOf(msg: Hl7Message): string {
  return `${msg.get('MSH-3')}|${msg.get('MSH-4')}`;
}

function outcome(code: string, diagnostics: string, severity = 'error') {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, diagnostics }],
  };
}

/**
 * Turns one received message into a ledger row and a reply: parse the header, refuse what is
 * malformed, answer duplicates with the original ACK, commit (grouped), then acknowledge.
 */
export class Ingestor {
  /** Messages in a commit not yet finished, by duplicate key, so a quick resend is caught too. */
  private readonly inFlight = new Map<string, Promise<Buffer | undefined>>();

  constructor(
    private readonly channel: Channel,
    private readonly deps: IngestDeps,
  ) {}

  async ingest(req: IngestRequest): Promise<IngestReply> {
    const started = process.hrtime.bigint();
    const reply = req.contentType === 'hl7v2' ? await this.ingestHl7(req) : await this.ingestDocument(req);
    if (reply.outcome === 'accepted' || reply.outcome === 'duplicate') {
      this.deps.metrics.ackLatency.observe(
        { channel: this.channel.spec.id },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    }
    return reply;
  }

  private async ingestHl7(req: IngestRequest): Promise<IngestReply> {
    const channelId = this.channel.spec.id;
    let msg: Hl7Message;
    try {
      msg = Hl7Message.parse(req.body);
      // Reading the header now surfaces a broken MSH before anything is committed.
      void msg.messageType;
    } catch (err) {
      this.deps.metrics.rejected.inc({ channel: channelId });
      if (err instanceof Hl7ParseError) {
        return { outcome: 'rejected', reply: parseErrorNack(req.body, err), httpStatus: 400 };
      }
      return { outcome: 'rejected', reply: handlerFailureNack(req.body), httpStatus: 400 };
    }
    const sender = senderOf(msg);
    const controlId = msg.controlId;
    const window = this.channel.spec.duplicates.window;
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
            const ack = hit.ack ?? buildAck(msg, { code: ackCode(this.channel, true) }).toBuffer();
            return this.duplicate(hit.id, ack);
          }
        } catch (err) {
          return this.unavailable(msg, err);
        }
      }
    }

    const processedMode = this.channel.spec.ack.when === 'processed';
    const ack = processedMode ? undefined : buildAck(msg, { code: ackCode(this.channel, true) }).toBuffer();
    const keys = this.keysOf({ kind: 'hl7v2', message: msg });
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
      ...(ack ? { ack: { code: ackCode(this.channel, true), bytes: ack } } : {}),
    };
    const commit = this.deps.committer.add(record);
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
      .committed(this.channel, id, { raw: req.body, contentType: 'hl7v2', message: msg })
      .catch((err: unknown) => {
        this.deps.logger.warn(
          { channel: channelId, messageId: id, err: errorText(err) },
          'enqueue failed; recovery will pick the message up',
        );
      });
    let reply = ack;
    if (processedMode) {
      reply =
        (await this.deps.awaitProcessed(id, this.channel.spec.ack.timeout)) ??
        buildAck(msg, {
          code: ackCode(this.channel, true),
          text: 'committed; processing did not finish within the ACK timeout and continues',
        }).toBuffer();
    }
    settle?.(reply);
    if (dupKey) this.inFlight.delete(dupKey);
    const code = processedMode && reply ? Hl7Message.parse(reply).get('MSA-1') : 'AA';
    const positive = code === 'AA' || code === 'CA';
    return {
      outcome: positive ? 'accepted' : 'rejected',
      messageId: id,
      ...(reply ? { reply } : {}),
      ...(positive ? {} : { httpStatus: 422 }),
    };
  }

  /**
   * The earlier message of this channel with the same sender and control id within the
   * duplicate window, counted as sent again; undefined when there is none.
   */
  private async earlierCopy(sender: string, controlId: string): Promise<DuplicateHit | undefined> {
    const since = new Date(Date.now() - this.channel.spec.duplicates.window);
    const hit = await this.deps.store.findDuplicate(this.channel.spec.id, sender, controlId, since);
    if (hit) await this.deps.store.countDuplicate(hit.id);
    return hit;
  }

  /** The channel's business keys (`mrn`, `visit` …) read from the message; empty ones left out. */
  private keysOf(input: ConditionInput): Record<string, string> {
    const keys: Record<string, string> = {};
    for (const [name, path] of Object.entries(this.channel.spec.keys)) {
      const v = readKey(path, input);
      if (v !== '') keys[name] = v;
    }
    return keys;
  }

  private duplicate(id: string | undefined, ack: Buffer): IngestReply {
    this.deps.metrics.duplicates.inc({ channel: this.channel.spec.id });
    return { outcome: 'duplicate', ...(id ? { messageId: id } : {}), reply: ack };
  }

  private unavailable(msg: Hl7Message | undefined, err: unknown): IngestReply {
    const channelId = this.channel.spec.id;
    this.deps.metrics.unavailable.inc({ channel: channelId });
    this.deps.logger.error(
      { channel: channelId, err: errorText(err) },
      'ledger write failed; negative ACK sent',
    );
    const error: AckError = {
      code: '207',
      severity: 'E',
      text: 'the message could not be stored; send it again later',
    };
    const reply = msg
      ? buildAck(msg, {
          code: ackCode(this.channel, false, this.channel.spec.ack.mode === 'original'),
          error,
        }).toBuffer()
      : undefined;
    return {
      outcome: 'unavailable',
      ...(reply ? { reply } : {}),
      body: outcome('transient', 'the message could not be stored; send it again later'),
      httpStatus: 503,
    };
  }

  /** FHIR resources/Bundles and JSON documents (HTTP source, file source). */
  private async ingestDocument(req: IngestRequest): Promise<IngestReply> {
    const channelId = this.channel.spec.id;
    let value: unknown;
    try {
      value = JSON.parse(req.body.toString('utf8'));
    } catch (err) {
      this.deps.metrics.rejected.inc({ channel: channelId });
      return {
        outcome: 'rejected',
        body: outcome('invalid', `the body is not JSON: ${(err as Error).message}`),
        httpStatus: 400,
      };
    }
    const doc = value as { resourceType?: unknown; id?: unknown; identifier?: { value?: unknown } };
    const isFhir = typeof doc?.resourceType === 'string';
    if (req.contentType === 'fhir' && !isFhir) {
      this.deps.metrics.rejected.inc({ channel: channelId });
      return {
        outcome: 'rejected',
        body: outcome('invalid', 'a FHIR body needs a resourceType'),
        httpStatus: 400,
      };
    }
    const contentType = isFhir ? 'fhir' : 'json';
    const sender = req.remoteAddress ?? req.source;
    const controlId =
      isFhir && doc.resourceType === 'Bundle' && typeof doc.identifier?.value === 'string'
        ? doc.identifier.value
        : undefined;
    const window = this.channel.spec.duplicates.window;
    try {
      if (controlId && window > 0) {
        const hit = await this.earlierCopy(sender, controlId);
        if (hit) {
          this.deps.metrics.duplicates.inc({ channel: channelId });
          return {
            outcome: 'duplicate',
            messageId: hit.id,
            body: { id: hit.id, status: 'duplicate' },
            httpStatus: 200,
          };
        }
      }
      const keys = this.keysOf({ kind: contentType, value });
      const id = messageId();
      await this.deps.committer.add({
        id,
        channelId,
        receivedAt: new Date(),
        source: req.source,
        sender,
        ...(req.remoteAddress !== undefined ? { remoteAddress: req.remoteAddress } : {}),
        messageType: isFhir ? String(doc.resourceType) : 'json',
        ...(controlId ? { controlId } : {}),
        contentType,
        raw: req.body,
        keys,
      });
      this.deps.metrics.received.inc({ channel: channelId });
      this.deps.committed(this.channel, id, { raw: req.body, contentType }).catch(() => undefined);
      return { outcome: 'accepted', messageId: id, body: { id, status: 'accepted' }, httpStatus: 202 };
    } catch (err) {
      return this.unavailable(undefined, err);
    }
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
