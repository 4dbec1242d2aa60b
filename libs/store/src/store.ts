import type { ReconcileStore } from '@sinew/reconcile';
import type { WebhookStore } from '@sinew/webhooks';
import type { AccessStore } from './access-store';
import type { AppStore } from './app-store';
import type { LinkStore, ParentLink } from './link-store';

/**
 * The ledger port: the system of record for every message and every delivery. Services see
 * these methods and plain types; TypeORM stays behind them. Two backends implement it:
 * SQLite (better-sqlite3, WAL; the embedded default) and PostgreSQL.
 *
 * Every method that writes does so in one transaction: a caller never sees half a write.
 */

export type ContentType = 'hl7v2' | 'fhir' | 'json' | 'text' | 'csv' | 'xml';

/**
 * A message's pipeline state.
 * - `received`: committed, not yet through the pipeline;
 * - `filtered`: a filter step dropped it (kept, never delivered);
 * - `rejected`: a validate/map step with policy `reject` refused it;
 * - `errored`: a step failed with policy `dead_letter` (kept, replayable);
 * - `processed`: deliveries created, some still under way;
 * - `delivered`: every delivery sent;
 * - `failed`: every delivery terminal and at least one dead-lettered.
 */
export type MessageStatus =
  'received' | 'filtered' | 'rejected' | 'errored' | 'processed' | 'delivered' | 'failed';

export const TERMINAL_MESSAGE_STATUSES: readonly MessageStatus[] = [
  'filtered',
  'rejected',
  'errored',
  'delivered',
  'failed',
];

/**
 * A delivery's state. `pending`: due now; `retrying`: due at `nextAttemptAt`; `parked`:
 * waiting behind an earlier undelivered message of the same ordering key (`parkedReason`
 * says which); `sent` and `dead_lettered` are terminal.
 */
export type DeliveryStatus = 'pending' | 'retrying' | 'parked' | 'sent' | 'dead_lettered';

export const TERMINAL_DELIVERY_STATUSES: readonly DeliveryStatus[] = ['sent', 'dead_lettered'];

/** A validation or mapping problem attached to a message (no PHI in `message`). */
export interface MessageIssue {
  severity: 'error' | 'warning';
  code: string;
  location?: string;
  message: string;
  /** Which pipeline step raised it (`validate`, `map`, …). */
  step?: string;
}

export interface NewMessage {
  /** Assigned by the engine (time-ordered UUID); also the base of the queue job ids. */
  id: string;
  channelId: string;
  receivedAt: Date;
  /** Source connector type (`mllp`, `http`, `file`). */
  source: string;
  /** Who sent it: for HL7 v2 `MSH-3|MSH-4` (sending application and facility); else the peer. */
  sender: string;
  remoteAddress?: string;
  /** `ORU^R01`, `Bundle`, … */
  messageType?: string;
  /** MSH-10 for HL7 v2. */
  controlId?: string;
  contentType: ContentType;
  /** The bytes exactly as received. */
  raw: Buffer;
  /** Business keys declared by the channel (`mrn`, `visit` …), stored as indexed rows. */
  keys: Record<string, string>;
  /** The reply sent to the sender at commit time, when known (ACK code and bytes). */
  ack?: { code: string; bytes: Buffer };
  /** The version of the channel (see `recordDeployment`) deployed when it was received. */
  channelVersion?: number;
  /**
   * Microseconds from receipt to the commit that the ACK waits for, when the ACK follows the
   * commit (`ack.when: received`); channel statistics report its percentiles.
   */
  ackLatencyUs?: number;
  /**
   * The source's cursor after this message (see `getSourceCursor`): written in the same
   * transaction as the message, so the ledger never holds one without the other.
   */
  cursor?: { source: string; value: string };
  /**
   * For a message handed on by another channel's `channel` destination: that message, its
   * channel and the destination. Recorded in the same transaction as the message; a second
   * child for the same parent and destination is refused (the unique link).
   */
  parent?: ParentLink;
}

/** A polling source's cursor as the ledger holds it (an opaque text the source reads). */
export interface SourceCursorRecord {
  value: string;
  updatedAt: Date;
}

export interface InsertedMessage {
  id: string;
  /** Commit order within the store (monotonic); ordering compares it. */
  seq: number;
}

export interface MessageRecord {
  id: string;
  seq: number;
  channelId: string;
  receivedAt: Date;
  source: string;
  sender: string;
  remoteAddress?: string;
  messageType?: string;
  controlId?: string;
  contentType: ContentType;
  status: MessageStatus;
  ackCode?: string;
  /** How many times the same sender + control id came again within the window. */
  duplicateCount: number;
  issues: MessageIssue[];
  keys: Record<string, string>;
  /** The channel version whose pipeline processed it (or that was deployed when it arrived). */
  channelVersion?: number;
  updatedAt: Date;
}

export interface DuplicateHit {
  id: string;
  status: MessageStatus;
  ackCode?: string;
  /** The original reply's bytes, sent again to the duplicate's sender. */
  ack?: Buffer;
}

export interface NewDelivery {
  /** Destination name within the channel. */
  destination: string;
  /** The payload as sent to that destination (encoded by the pipeline). */
  payload: Buffer;
  payloadType: ContentType;
  /** `''` for channel-wide FIFO, the key's value for keyed ordering, undefined for none. */
  orderKey?: string;
  /** When given, the delivery is created `parked` with this reason (it waits for another one). */
  parkedReason?: string;
}

/** The pipeline's outcome, written in one transaction. */
export interface PipelineResult {
  status: 'filtered' | 'rejected' | 'errored' | 'processed';
  issues: MessageIssue[];
  /** The transformer's output (e.g. a FHIR Bundle as JSON), when there is one. */
  transformed?: { contentType: ContentType; body: Buffer };
  /** The reply for `ack.when: processed` channels, when decided by the pipeline. */
  ack?: { code: string; bytes: Buffer };
  /** One per destination; empty unless `status` is `processed`. */
  deliveries: NewDelivery[];
  /** The channel version whose pipeline ran; replaces the message's when given. */
  channelVersion?: number;
}

export interface DeliveryRecord {
  /** `<messageId>.<destination>`: stable, so re-creating it is idempotent. */
  id: string;
  messageId: string;
  channelId: string;
  destination: string;
  /** The message's seq (ordering compares it). */
  seq: number;
  orderKey?: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt?: Date;
  lastError?: string;
  parkedReason?: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewAttempt {
  /** 1-based; the store checks it is `attempts + 1`. */
  number: number;
  startedAt: Date;
  finishedAt: Date;
  outcome: 'sent' | 'retry' | 'failed';
  /** Short machine-readable code: `AA`, `AE`, `HTTP 503`, `ECONNREFUSED`, `TIMEOUT` … */
  code?: string;
  error?: string;
  /** The peer's response body (an ACK, an OperationOutcome, an HTTP body), as received. */
  response?: Buffer;
}

export interface AttemptRecord extends NewAttempt {
  deliveryId: string;
}

export interface MessageSearch {
  channelId?: string;
  status?: MessageStatus;
  /** Any of these statuses (with `status` too: both must hold). */
  statuses?: MessageStatus[];
  /** A business key: `{ name: 'mrn', value: '12345' }` (an index lookup). */
  key?: { name: string; value: string };
  messageType?: string;
  /** Received at or after this time. */
  since?: Date;
  /** Received before this time (exclusive). */
  until?: Date;
  /** MSH-10 (an index lookup). */
  controlId?: string;
  /**
   * One free text matched exactly against the message id, the control id (MSH-10) and every
   * business key's value, whatever its name (index lookups): the message matches when any does.
   */
  text?: string;
  /** `MSH-3|MSH-4` for HL7 v2, else the peer. */
  sender?: string;
  /**
   * Keyset pagination: only messages after this one in the result order (newest first), i.e.
   * received before it, or at the same time with a lower seq. Pass the last item's
   * `receivedAt` and `seq`.
   */
  after?: { receivedAt: Date; seq: number };
  /** Default 100. Newest first. */
  limit?: number;
}

export interface DeadLetterSearch {
  channelId?: string;
  destination?: string;
  messageId?: string;
  limit?: number;
}

export type ContentStage = 'raw' | 'transformed' | 'ack';

/** The statuses `reprocessMessages` resets: pipeline outcomes that delivered nothing. */
export const REPROCESSABLE_STATUSES: readonly MessageStatus[] = ['errored', 'rejected', 'filtered'];

/**
 * An earlier pipeline outcome of a message, kept when `reprocessMessages` set the message
 * back to `received`.
 */
export interface MessageOutcomeRecord {
  messageId: string;
  /** 1 for the message's first outcome, 2 for the one after its first reprocess, … */
  number: number;
  status: 'filtered' | 'rejected' | 'errored';
  issues: MessageIssue[];
  /** The ACK code recorded on the message then. */
  ackCode?: string;
  /** The channel version recorded on the message then. */
  channelVersion?: number;
  /** The pipeline's output then, when it had one. */
  transformed?: { contentType: ContentType; body: Buffer };
  /** When the outcome was written (the message's last change before the reset). */
  decidedAt: Date;
  /** When `reprocessMessages` set the message back to `received`. */
  reprocessedAt: Date;
}

/** `deployed`: the engine runs this text; `refused`: lint errors kept it from running. */
export type DeploymentOutcome = 'deployed' | 'refused';

/** A problem that refused a deployment, as the channel linter reports it. */
export interface DeploymentProblem {
  message: string;
  /** Dotted, stable (`channel.unknown_field` …). */
  code?: string;
  level?: 'error' | 'warning';
  /** 1-based place in the channel file. */
  line?: number;
  column?: number;
  /** The path inside the document (`destinations.0.url`). */
  path?: string;
}

export interface NewDeployment {
  channelId: string;
  /** The channel file's text, exactly as read (its sha256 is the deployment's hash). */
  content: string;
  /**
   * Where the file was read from. `sinew rollback` writes an earlier text back there, so an
   * absolute path is the useful one (a relative one is read against the current directory).
   */
  filePath: string;
  /** The git commit of the file, when the engine knows it. */
  gitCommit?: string;
  /** Who deployed it: `user:alice`, `key:ci`, `watcher`, `startup`, `rollback` … */
  deployedBy: string;
  deployedAt: Date;
  outcome: DeploymentOutcome;
  /** What the linter reported: why a `refused` one was refused (required), warnings of a `deployed` one. */
  problems?: DeploymentProblem[];
}

export interface DeploymentRecord {
  channelId: string;
  /** 1, 2, 3 … per channel, in the order the attempts were recorded (refused ones included). */
  version: number;
  /** sha256 of `content` (UTF-8), lowercase hex. */
  contentHash: string;
  content: string;
  filePath: string;
  gitCommit?: string;
  deployedBy: string;
  deployedAt: Date;
  outcome: DeploymentOutcome;
  /** What the linter reported (empty when nothing). */
  problems: DeploymentProblem[];
}

/** One hour of a channel's traffic, read from the ledger. */
export interface ChannelHour {
  /** The start of the hour (UTC). */
  hour: Date;
  /** Messages received in the hour (every status). */
  received: number;
  /** Of those, the ones a filter dropped, a step refused, or a step failed on. */
  filtered: number;
  rejected: number;
  errored: number;
  /** Deliveries sent in the hour (their successful attempt finished then). */
  sent: number;
  /** Deliveries dead-lettered in the hour (their last, failed attempt finished then). */
  deadLettered: number;
}

/** Percentiles of a latency in milliseconds (nearest rank); absent when nothing was measured. */
export interface LatencyPercentiles {
  count: number;
  p50?: number;
  p95?: number;
  p99?: number;
}

/** A channel's statistics over a window, read from the ledger. */
export interface ChannelStats {
  since: Date;
  until: Date;
  /** Every hour of the window, oldest first (zeros included). */
  hours: ChannelHour[];
  /** Unfinished deliveries now (pending, retrying, parked), by status, whenever created. */
  queued: Partial<Record<DeliveryStatus, number>>;
  /** Receipt to commit (the ACK follows), over the messages received in the window that have it. */
  ackLatencyMs: LatencyPercentiles;
  /** Receipt to a delivery sent, over the deliveries sent of messages received in the window. */
  endToEndMs: LatencyPercentiles;
}

/** One destination of a channel as the ledger sees it now. */
export interface DestinationQueue {
  destination: string;
  /** Unfinished deliveries (pending, retrying, parked), whenever created. */
  open: number;
  /** When the oldest of them was created (absent when none is open). */
  oldestOpenAt?: Date;
  /** Dead-lettered deliveries (not replayed), whenever. */
  deadLettered: number;
  /** Of those, the ones dead-lettered at/after `recentSince`. */
  recentDeadLettered: number;
}

/** A channel's counters for a dashboard, read in a few grouped queries. */
export interface ChannelOverviewCounts {
  /** Messages received at/after `since`, by status. */
  messages: Partial<Record<MessageStatus, number>>;
  /** Messages received at/after `recentSince` whose pipeline errored. */
  recentErrored: number;
  /** Each destination with an open delivery or a dead letter, by name. */
  destinations: DestinationQueue[];
}

/** The longest window `channelStats` answers (31 days). */
export const MAX_STATS_WINDOW_MS = 31 * 24 * 3600_000;

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** People, API keys and the audit log, in the same database (see `access-store.ts`). */
  readonly access: AccessStore;
  /** Reconciliation runs, schedule claims and sync-error flags, in the same database (see `reconcile-store.ts`). */
  readonly reconcile: ReconcileStore;
  /** Parent and child messages (channel-to-channel hand-offs), see `link-store.ts`. */
  readonly links: LinkStore;
  /** The apps registered to use the FHIR API, their call counts and misuse, see `app-store.ts`. */
  readonly apps: AppStore;
  /** Webhook subscriptions, deliveries and the change cursor, see `webhook-store.ts`. */
  readonly webhooks: WebhookStore;

  /** Inserts received messages, their keys and raw content in ONE transaction (group commit). */
  insertMessages(messages: NewMessage[]): Promise<InsertedMessage[]>;
  /** The earliest message of the channel with this sender and control id received at/after `since`. */
  findDuplicate(
    channelId: string,
    sender: string,
    controlId: string,
    since: Date,
  ): Promise<DuplicateHit | undefined>;
  /** Adds one to the message's duplicate count. */
  countDuplicate(messageId: string): Promise<void>;

  getMessage(id: string): Promise<MessageRecord | undefined>;
  getContent(messageId: string, stage: ContentStage): Promise<Buffer | undefined>;
  searchMessages(search: MessageSearch): Promise<MessageRecord[]>;

  /**
   * Ends the pipeline of a `received` message: status, issues, transformed content, the ACK
   * (if given) and the deliveries (status `pending`) in one transaction. Idempotent: for a
   * message no longer `received` it writes nothing and returns the existing deliveries.
   */
  completePipeline(messageId: string, result: PipelineResult): Promise<DeliveryRecord[]>;

  getDelivery(id: string): Promise<DeliveryRecord | undefined>;
  getDeliveries(messageId: string): Promise<DeliveryRecord[]>;
  getDeliveryPayload(id: string): Promise<{ body: Buffer; contentType: ContentType } | undefined>;
  getAttempts(deliveryId: string): Promise<AttemptRecord[]>;

  /**
   * Records one attempt and the delivery's new state in one transaction; when the delivery
   * becomes terminal, updates the message's status (`delivered` / `failed`) once all its
   * deliveries are terminal.
   */
  recordAttempt(
    deliveryId: string,
    attempt: NewAttempt,
    next: { status: 'sent' | 'retrying' | 'dead_lettered'; nextAttemptAt?: Date },
  ): Promise<DeliveryRecord>;
  /** Parks a non-terminal delivery (with the reason) or makes a parked one `pending` again. */
  setDeliveryState(id: string, status: 'pending' | 'parked', parkedReason?: string): Promise<void>;

  /**
   * The non-terminal delivery of the same channel, destination and order key with the
   * highest seq below `seq`, if any (what a delivery must wait behind).
   */
  findBlocker(
    channelId: string,
    destination: string,
    orderKey: string,
    seq: number,
  ): Promise<DeliveryRecord | undefined>;
  /** The parked delivery with the lowest seq of that channel, destination and order key. */
  nextParked(channelId: string, destination: string, orderKey: string): Promise<DeliveryRecord | undefined>;

  /** Messages still `received` (oldest first), for the recovery sweep. */
  listUnprocessed(limit: number): Promise<Array<{ id: string; channelId: string; seq: number }>>;
  /**
   * The channel's oldest message still `received` (lowest seq): an ordered channel's pipeline
   * runs it before any later message, whatever order the queue hands them out in.
   */
  firstUnprocessed(channelId: string): Promise<{ id: string; seq: number } | undefined>;
  /** Non-terminal deliveries (oldest first): pending, parked, and retrying ones due by `dueBy`. */
  listOpenDeliveries(dueBy: Date, limit: number): Promise<DeliveryRecord[]>;
  /**
   * The non-terminal deliveries (pending, parked, retrying, whenever due) of one destination
   * of a channel, by seq, from the first with a seq above `afterSeq` (to read them page by
   * page): what a destination that comes back up wakes, in order.
   */
  listDestinationDeliveries(
    channelId: string,
    destination: string,
    limit: number,
    afterSeq?: number,
  ): Promise<DeliveryRecord[]>;

  listDeadLetters(search: DeadLetterSearch): Promise<DeliveryRecord[]>;
  /**
   * A channel's counters from the ledger: its messages received at/after `since` by status,
   * and its unfinished deliveries (pending, retrying, parked) by status, whenever created.
   */
  channelCounts(
    channelId: string,
    since: Date,
  ): Promise<{
    messages: Partial<Record<MessageStatus, number>>;
    openDeliveries: Partial<Record<DeliveryStatus, number>>;
  }>;
  /**
   * What a dashboard shows of a channel: its messages received at/after `since` by status,
   * the errored ones received at/after `recentSince`, and per destination the open deliveries
   * (how many, the oldest's creation time) and the dead letters (how many, and how many
   * dead-lettered at/after `recentSince`). Three grouped queries through the channel/receipt-
   * time index and the partial indexes of open and dead-lettered deliveries.
   */
  channelOverview(channelId: string, since: Date, recentSince: Date): Promise<ChannelOverviewCounts>;
  /**
   * The deliveries of a channel's messages received at/after `since` that were sent and that
   * were dead-lettered. One grouped query, but it reads every delivery of those messages: its
   * cost grows with the traffic of the window (callers that repeat it should space it out).
   */
  channelDeliveryCounts(channelId: string, since: Date): Promise<{ sent: number; deadLettered: number }>;
  /**
   * A dead-lettered delivery back to `pending` (attempt history kept); returns it. With
   * `sent: true` a sent delivery may be sent again too (a reconciliation's repair of a record
   * the target acknowledged but does not hold).
   */
  requeueDelivery(id: string, options?: { sent?: boolean }): Promise<DeliveryRecord>;

  /**
   * Sets pipeline outcomes that delivered nothing back to the start, so the recovery sweep
   * (`listUnprocessed`) runs the pipeline again, in one transaction. For each message whose
   * status is `errored`, `rejected` or `filtered`: its outcome (status, issues, transformed
   * content, ACK code, channel version, time) is copied to its outcome history
   * (`getOutcomes`), then it becomes `received` with no issues and no transformed content; its
   * raw content, ACK and keys stay. Other messages and unknown ids are left alone. Returns the
   * ids reset, in the order given (each once).
   */
  reprocessMessages(ids: string[]): Promise<string[]>;
  /** The earlier outcomes of a message, oldest first (empty when never reprocessed). */
  getOutcomes(messageId: string): Promise<MessageOutcomeRecord[]>;

  /**
   * Records a deployment attempt of a channel and gives it the channel's next version, with
   * two exceptions that write nothing and return the existing record unchanged:
   * - `deployed`, when the channel's latest *deployed* version has the same text (hash): a
   *   restart, a second process deploying the same file, or a refused change put back, so the
   *   version the engine runs is still that one;
   * - `refused`, when the channel's latest attempt was refused for the same text.
   * Safe when several processes record the same channel at once (on PostgreSQL: each gets
   * the version the other wrote when the texts agree, else the next one).
   */
  recordDeployment(deployment: NewDeployment): Promise<DeploymentRecord>;
  /** The channel's deployment attempts, newest first (default limit 100). */
  listDeployments(channelId: string, limit?: number): Promise<DeploymentRecord[]>;

  /**
   * Pauses a channel for every process sharing the ledger (its source refuses new input, its
   * deliveries hold), or resumes it. Pausing a paused channel keeps the first pause's time.
   */
  setChannelPaused(channelId: string, paused: boolean, by: string, at: Date): Promise<void>;
  /** The channels paused now. */
  listPausedChannels(): Promise<Array<{ channelId: string; pausedAt: Date; pausedBy: string }>>;
  getDeployment(channelId: string, version: number): Promise<DeploymentRecord | undefined>;
  /** The channel's latest `deployed` version (refused attempts are skipped). */
  latestDeployment(channelId: string): Promise<DeploymentRecord | undefined>;

  /**
   * A channel's statistics for messages received in [`since`, `until`) (at most
   * `MAX_STATS_WINDOW_MS`): per hour received, filtered, rejected, errored (by receipt hour),
   * sent and dead-lettered (by the hour the attempt finished), the current queue, and ACK
   * and end-to-end latency percentiles. Read through the channel/receipt-time index.
   */
  channelStats(channelId: string, since: Date, until: Date): Promise<ChannelStats>;
  /**
   * The raw, transformed and ACK bytes of many messages in one query (an export reads a page
   * at a time); a message without a stage has no entry for it.
   */
  getContents(messageIds: string[]): Promise<Map<string, Partial<Record<ContentStage, Buffer>>>>;

  /**
   * The cursor a polling source of the channel last committed (with a message, or by
   * `setSourceCursor`); undefined before its first. `source` is the source connector's type.
   */
  getSourceCursor(channelId: string, source: string): Promise<SourceCursorRecord | undefined>;
  /**
   * Moves a source's cursor without a message (a polled item the channel refused, a
   * scheduled run that found nothing): one transaction.
   */
  setSourceCursor(channelId: string, source: string, value: string): Promise<void>;

  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
