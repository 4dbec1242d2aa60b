import type { DataSource } from 'typeorm';
import type { ReconcileStore } from '@sinew/reconcile';
import { SqlAccessStore, type AccessStore } from './access-store';
import { SqlReconcileStore } from './reconcile-store';
import { SqlWebhookStore } from './webhook-store';
import type { WebhookStore } from '@sinew/webhooks';
import { SqlAppStore, type AppStore } from './app-store';
import { insertLinks, SqlLinkStore, type LinkStore } from './link-store';
import { contentHash } from './content-hash';
import {
  DEAD_LETTER_PREDICATE,
  OPEN_DELIVERY_PREDICATE,
  PROBLEM_MESSAGE_PREDICATE,
  UNPROCESSED_MESSAGE_PREDICATE,
} from './entities';
import { closedError, conflict, invalid, notFound } from './errors';
import {
  DELIVERY_COLUMNS,
  DEPLOYMENT_COLUMNS,
  MESSAGE_COLUMNS,
  OUTCOME_COLUMNS,
  readTime,
  toAttemptRecord,
  toDeliveryRecord,
  toDeploymentRecord,
  toMessageRecord,
  toOutcomeRecord,
  type AttemptSqlRow,
  type DeliverySqlRow,
  type DeploymentSqlRow,
  type MessageSqlRow,
  type OutcomeSqlRow,
  type TimeValue,
} from './rows';
import type { SqlDatabase, SqlExecutor, SqlValue } from './sql';
import type {
  AttemptRecord,
  ContentStage,
  ContentType,
  DeadLetterSearch,
  DeliveryRecord,
  DeliveryStatus,
  DeploymentRecord,
  DuplicateHit,
  InsertedMessage,
  MessageOutcomeRecord,
  MessageRecord,
  MessageSearch,
  MessageStatus,
  NewAttempt,
  NewDeployment,
  NewMessage,
  PipelineResult,
  Store,
  ChannelHour,
  ChannelOverviewCounts,
  ChannelStats,
  DestinationQueue,
  LatencyPercentiles,
} from './store';
import { MAX_STATS_WINDOW_MS } from './store';
import type { SourceCursorRecord } from './store';
import { checkCursor, readCursor, writeCursor, writeMessageCursors } from './source-cursors';

const CONTENT_TYPES: ReadonlySet<string> = new Set<ContentType>([
  'hl7v2',
  'fhir',
  'json',
  'text',
  'csv',
  'xml',
]);
const CONTENT_STAGES: ReadonlySet<string> = new Set<ContentStage>(['raw', 'transformed', 'ack']);
const PIPELINE_STATUSES: ReadonlySet<string> = new Set(['filtered', 'rejected', 'errored', 'processed']);
const ATTEMPT_OUTCOMES: ReadonlySet<string> = new Set(['sent', 'retry', 'failed']);
const NEXT_STATUSES: ReadonlySet<string> = new Set(['sent', 'retrying', 'dead_lettered']);
const TERMINAL: ReadonlySet<string> = new Set<DeliveryStatus>(['sent', 'dead_lettered']);
const MESSAGE_STATUSES: ReadonlySet<string> = new Set<MessageStatus>([
  'received',
  'filtered',
  'rejected',
  'errored',
  'processed',
  'delivered',
  'failed',
]);
const PROBLEM_STATUSES: ReadonlySet<string> = new Set<MessageStatus>(['rejected', 'errored', 'failed']);
/** Messages `reprocessMessages` resets (the literal list, so SQL needs no parameter for it). */
const REPROCESSABLE_PREDICATE = "status IN ('errored', 'rejected', 'filtered')";
const DEPLOYMENT_OUTCOMES: ReadonlySet<string> = new Set(['deployed', 'refused']);
const PROBLEM_LEVELS: ReadonlySet<string> = new Set(['error', 'warning']);
/** Ids per statement of a multi-message write. */
const ID_CHUNK = 512;
/** A column `integer` holds on PostgreSQL. */
const MAX_INT32 = 2 ** 31 - 1;
/** Tries at taking the channel's next version when other processes take it first. */
const VERSION_TRIES = 10;

/** Default and upper bound of a listing's `limit`. */
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

/**
 * The ledger on a TypeORM data source (SQLite or PostgreSQL). TypeORM owns the connection,
 * the entity schemas and the migrations; reads and writes go through parameterised SQL on
 * that connection (no entity hydration on the hot paths). Each write is one transaction.
 */
export class TypeOrmStore implements Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly access: AccessStore;
  readonly reconcile: ReconcileStore;
  readonly links: LinkStore;
  readonly webhooks: WebhookStore;
  readonly apps: AppStore;
  private closed = false;

  constructor(
    /** The initialised data source (migrations already run). */
    readonly dataSource: DataSource,
    private readonly db: SqlDatabase,
    /** Run by `close()` after the connection is closed (e.g. stopping a checkpoint thread). */
    private readonly onClose?: () => Promise<void>,
  ) {
    this.kind = db.kind;
    this.access = new SqlAccessStore(db, () => this.open());
    this.reconcile = new SqlReconcileStore(db, () => this.open());
    this.links = new SqlLinkStore(db, () => this.open());
    this.webhooks = new SqlWebhookStore(db, () => this.open());
    this.apps = new SqlAppStore(db, () => this.open());
  }

  /** The SQL connection under the ledger, for stores that keep their tables next to it (the clinic data hub). */
  get sql(): SqlDatabase {
    this.open();
    return this.db;
  }

  async insertMessages(messages: NewMessage[]): Promise<InsertedMessage[]> {
    this.open();
    if (!Array.isArray(messages)) throw invalid('insertMessages expects an array of messages');
    if (messages.length === 0) return [];
    const ids = new Set<string>();
    for (const message of messages) {
      checkNewMessage(message);
      if (ids.has(message.id)) throw invalid(`message id ${message.id} appears twice in one batch`);
      if (message.cursor !== undefined)
        checkCursor(message.channelId, message.cursor.source, message.cursor.value);
      ids.add(message.id);
    }
    const now = this.db.time(new Date());
    const messageRows: SqlValue[][] = [];
    const keyRows: SqlValue[][] = [];
    const contentRows: SqlValue[][] = [];
    for (const m of messages) {
      messageRows.push([
        m.id,
        m.channelId,
        this.db.time(m.receivedAt),
        m.source,
        m.sender,
        m.remoteAddress ?? null,
        m.messageType ?? null,
        m.controlId ?? null,
        m.contentType,
        'received',
        m.ack?.code ?? null,
        0,
        '[]',
        m.channelVersion ?? null,
        now,
        m.ackLatencyUs ?? null,
      ]);
      for (const [name, value] of Object.entries(m.keys)) keyRows.push([m.id, m.channelId, name, value]);
      contentRows.push([m.id, 'raw', '', m.contentType, m.raw]);
      if (m.ack) contentRows.push([m.id, 'ack', '', m.contentType, m.ack.bytes]);
    }
    const inserted = await this.db.transaction(async (tx) => {
      const rows = await tx.insertRows<{ id: string; seq: number | string }>({
        table: 'message',
        columns: [
          'id',
          'channel_id',
          'received_at',
          'source',
          'sender',
          'remote_address',
          'message_type',
          'control_id',
          'content_type',
          'status',
          'ack_code',
          'duplicate_count',
          'issues',
          'channel_version',
          'updated_at',
          'ack_latency_us',
        ],
        pgTypes: [
          'text',
          'text',
          'timestamptz',
          'text',
          'text',
          'text',
          'text',
          'text',
          'text',
          'text',
          'text',
          'integer',
          'text',
          'integer',
          'timestamptz',
          'integer',
        ],
        rows: messageRows,
        returning: 'id, seq',
      });
      if (keyRows.length > 0) {
        await tx.insertRows({
          table: 'message_key',
          columns: ['message_id', 'channel_id', 'name', 'value'],
          pgTypes: ['text', 'text', 'text', 'text'],
          rows: keyRows,
        });
      }
      await insertContents(tx, contentRows);
      await writeMessageCursors(this.db, tx, messages);
      await insertLinks(
        tx,
        this.db,
        messages.flatMap((m) =>
          m.parent ? [{ childId: m.id, childChannelId: m.channelId, parent: m.parent }] : [],
        ),
        new Date(),
      );
      return rows;
    });
    const seqById = new Map(inserted.map((row) => [row.id, Number(row.seq)]));
    return messages.map((m) => ({ id: m.id, seq: seqById.get(m.id) as number }));
  }

  async findDuplicate(
    channelId: string,
    sender: string,
    controlId: string,
    since: Date,
  ): Promise<DuplicateHit | undefined> {
    this.open();
    checkDate(since, 'since');
    const row = await this.db.get<{
      id: string;
      status: string;
      ack_code: string | null;
      body: Buffer | null;
    }>(
      'SELECT m.id, m.status, m.ack_code, c.body FROM message m ' +
        "LEFT JOIN message_content c ON c.message_id = m.id AND c.stage = 'ack' AND c.destination = '' " +
        'WHERE m.channel_id = ? AND m.sender = ? AND m.control_id = ? AND m.received_at >= ? ' +
        'ORDER BY m.received_at, m.seq LIMIT 1',
      [channelId, sender, controlId, this.db.time(since)],
    );
    if (!row) return undefined;
    const hit: DuplicateHit = { id: row.id, status: row.status as MessageStatus };
    if (row.ack_code !== null) hit.ackCode = row.ack_code;
    if (row.body !== null) hit.ack = row.body;
    return hit;
  }

  async countDuplicate(messageId: string): Promise<void> {
    this.open();
    const changed = await this.db.transaction((tx) =>
      tx.run('UPDATE message SET duplicate_count = duplicate_count + 1, updated_at = ? WHERE id = ?', [
        this.db.time(new Date()),
        messageId,
      ]),
    );
    if (changed === 0) throw notFound('message', messageId);
  }

  async getMessage(id: string): Promise<MessageRecord | undefined> {
    this.open();
    const row = await this.db.get<MessageSqlRow>(`SELECT ${MESSAGE_COLUMNS} FROM message WHERE id = ?`, [id]);
    if (!row) return undefined;
    const keys = await this.keysOf([id]);
    return toMessageRecord(row, keys.get(id) ?? {});
  }

  async getContent(messageId: string, stage: ContentStage): Promise<Buffer | undefined> {
    this.open();
    if (!CONTENT_STAGES.has(stage)) throw invalid(`unknown content stage ${JSON.stringify(stage)}`);
    const row = await this.db.get<{ body: Buffer }>(
      "SELECT body FROM message_content WHERE message_id = ? AND stage = ? AND destination = ''",
      [messageId, stage],
    );
    return row?.body;
  }

  async searchMessages(search: MessageSearch): Promise<MessageRecord[]> {
    this.open();
    const where: string[] = [];
    const params: SqlValue[] = [];
    let from = 'message m';
    if (search.key) {
      from = 'message_key k JOIN message m ON m.id = k.message_id';
      where.push('k.name = ?', 'k.value = ?');
      params.push(search.key.name, search.key.value);
      if (search.channelId !== undefined) {
        where.push('k.channel_id = ?');
        params.push(search.channelId);
      }
    }
    if (search.channelId !== undefined) {
      where.push('m.channel_id = ?');
      params.push(search.channelId);
    }
    if (search.status !== undefined) {
      if (!MESSAGE_STATUSES.has(search.status))
        throw invalid(`unknown message status ${JSON.stringify(search.status)}`);
      // A literal (checked above), so the planner can pick a partial index on status.
      where.push(`m.status = '${search.status}'`);
    }
    if (search.statuses !== undefined) {
      if (!Array.isArray(search.statuses) || search.statuses.length === 0) {
        throw invalid('statuses must be a non-empty list of message statuses');
      }
      for (const status of search.statuses) {
        if (!MESSAGE_STATUSES.has(status)) throw invalid(`unknown message status ${JSON.stringify(status)}`);
      }
      where.push(`m.status IN (${[...new Set(search.statuses)].map((v) => `'${v}'`).join(', ')})`);
    }
    // Only problem statuses asked for: the predicate lets the planner pick their partial index.
    const asked = [...(search.status === undefined ? [] : [search.status]), ...(search.statuses ?? [])];
    if (asked.length > 0 && asked.every((status) => PROBLEM_STATUSES.has(status))) {
      where.push(`m.${PROBLEM_MESSAGE_PREDICATE}`);
    }
    if (search.messageType !== undefined) {
      where.push('m.message_type = ?');
      params.push(search.messageType);
    }
    if (search.since !== undefined) {
      checkDate(search.since, 'since');
      where.push('m.received_at >= ?');
      params.push(this.db.time(search.since));
    }
    if (search.until !== undefined) {
      checkDate(search.until, 'until');
      where.push('m.received_at < ?');
      params.push(this.db.time(search.until));
    }
    if (search.controlId !== undefined) {
      where.push('m.control_id = ?');
      params.push(search.controlId);
    }
    if (search.sender !== undefined) {
      where.push('m.sender = ?');
      params.push(search.sender);
    }
    let fromParams: SqlValue[] = [];
    if (search.text !== undefined) {
      if (typeof search.text !== 'string' || search.text === '')
        throw invalid('text must be a non-empty string');
      // Three index lookups (id, control id, key value), each a short list of ids, read first:
      // the messages are then fetched by id (SQLite's CROSS JOIN keeps that order, rather than
      // walking a whole channel's messages newest first in search of them).
      const ids =
        'SELECT id FROM message WHERE id = ? UNION SELECT id FROM message WHERE control_id = ? ' +
        'UNION SELECT message_id FROM message_key WHERE value = ?';
      if (search.key) {
        where.push(`m.id IN (${ids})`);
        params.push(search.text, search.text, search.text);
      } else {
        from = `(${ids}) t CROSS JOIN message m`;
        where.push('m.id = t.id');
        fromParams = [search.text, search.text, search.text];
      }
    }
    if (search.after !== undefined) {
      checkDate(search.after.receivedAt, 'after.receivedAt');
      if (!Number.isSafeInteger(search.after.seq)) throw invalid('after.seq must be an integer');
      const at = this.db.time(search.after.receivedAt);
      where.push('(m.received_at < ? OR (m.received_at = ? AND m.seq < ?))');
      params.push(at, at, search.after.seq);
    }
    params.push(limitOf(search.limit));
    params.unshift(...fromParams);
    const columns = MESSAGE_COLUMNS.split(', ')
      .map((c) => `m.${c}`)
      .join(', ');
    const rows = await this.db.all<MessageSqlRow>(
      `SELECT ${columns} FROM ${from}` +
        (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
        ' ORDER BY m.received_at DESC, m.seq DESC LIMIT ?',
      params,
    );
    const keys = await this.keysOf(rows.map((r) => r.id));
    return rows.map((row) => toMessageRecord(row, keys.get(row.id) ?? {}));
  }

  async completePipeline(messageId: string, result: PipelineResult): Promise<DeliveryRecord[]> {
    this.open();
    checkPipelineResult(result);
    const db = this.db;
    return db.transaction(async (tx) => {
      const message = await tx.get<{ status: string; seq: number | string; channel_id: string }>(
        `SELECT status, seq, channel_id FROM message WHERE id = ?${db.forUpdate}`,
        [messageId],
      );
      if (!message) throw notFound('message', messageId);
      if (message.status !== 'received') return deliveriesOf(tx, messageId);

      const now = db.time(new Date());
      const status =
        result.status === 'processed' && result.deliveries.length === 0 ? 'delivered' : result.status;
      await tx.run(
        'UPDATE message SET status = ?, issues = ?, ack_code = COALESCE(?, ack_code), ' +
          'channel_version = COALESCE(?, channel_version), updated_at = ? WHERE id = ?',
        [
          status,
          JSON.stringify(result.issues),
          result.ack?.code ?? null,
          result.channelVersion ?? null,
          now,
          messageId,
        ],
      );
      const contents: SqlValue[][] = [];
      if (result.transformed) {
        contents.push([
          messageId,
          'transformed',
          '',
          result.transformed.contentType,
          result.transformed.body,
        ]);
      }
      // A payload identical to the transformed content (or, with no transformer, to the
      // message as received) is not stored twice: the delivery reads that content instead.
      const transformed = result.transformed;
      const raw = transformed ? undefined : await this.rawOf(tx, messageId);
      for (const d of result.deliveries) {
        const same = transformed
          ? d.payloadType === transformed.contentType && d.payload.equals(transformed.body)
          : raw !== undefined && d.payload.equals(raw);
        if (!same) contents.push([messageId, 'payload', d.destination, d.payloadType, d.payload]);
      }
      await insertContents(tx, contents);
      if (result.ack) {
        await tx.run(
          'INSERT INTO message_content (message_id, stage, destination, content_type, body) ' +
            "SELECT id, 'ack', '', content_type, ? FROM message WHERE id = ? " +
            'ON CONFLICT (message_id, stage, destination) DO UPDATE SET body = excluded.body',
          [result.ack.bytes, messageId],
        );
      }
      if (result.deliveries.length === 0) return [];
      const rows = await tx.insertRows<DeliverySqlRow>({
        table: 'delivery',
        columns: [
          'id',
          'message_id',
          'channel_id',
          'destination',
          'seq',
          'order_key',
          'status',
          'parked_reason',
          'attempts',
          'created_at',
          'updated_at',
        ],
        pgTypes: [
          'text',
          'text',
          'text',
          'text',
          'bigint',
          'text',
          'text',
          'text',
          'integer',
          'timestamptz',
          'timestamptz',
        ],
        rows: result.deliveries.map((d) => [
          `${messageId}.${d.destination}`,
          messageId,
          message.channel_id,
          d.destination,
          Number(message.seq),
          d.orderKey ?? null,
          d.parkedReason !== undefined ? 'parked' : 'pending',
          d.parkedReason ?? null,
          0,
          now,
          now,
        ]),
        returning: DELIVERY_COLUMNS,
      });
      return rows.map(toDeliveryRecord);
    });
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    this.open();
    const row = await this.db.get<DeliverySqlRow>(`SELECT ${DELIVERY_COLUMNS} FROM delivery WHERE id = ?`, [
      id,
    ]);
    return row && toDeliveryRecord(row);
  }

  async getDeliveries(messageId: string): Promise<DeliveryRecord[]> {
    this.open();
    return deliveriesOf(this.db, messageId);
  }

  async getDeliveryPayload(id: string): Promise<{ body: Buffer; contentType: ContentType } | undefined> {
    this.open();
    // The delivery's own payload; else the transformed content; else the message as received.
    const row = await this.db.get<{ body: Buffer; content_type: string }>(
      'SELECT c.body, c.content_type FROM delivery d JOIN message_content c ' +
        "ON c.message_id = d.message_id AND c.destination IN (d.destination, '') " +
        "AND c.stage IN ('payload', 'transformed', 'raw') " +
        'WHERE d.id = ? ' +
        "ORDER BY CASE c.stage WHEN 'payload' THEN 0 WHEN 'transformed' THEN 1 ELSE 2 END LIMIT 1",
      [id],
    );
    return row && { body: row.body, contentType: row.content_type as ContentType };
  }

  private async rawOf(tx: SqlExecutor, messageId: string): Promise<Buffer | undefined> {
    const row = await tx.get<{ body: Buffer }>(
      "SELECT body FROM message_content WHERE message_id = ? AND stage = 'raw' AND destination = ''",
      [messageId],
    );
    return row?.body;
  }

  async getAttempts(deliveryId: string): Promise<AttemptRecord[]> {
    this.open();
    const rows = await this.db.all<AttemptSqlRow>(
      'SELECT delivery_id, number, started_at, finished_at, outcome, code, error, response ' +
        'FROM delivery_attempt WHERE delivery_id = ? ORDER BY number',
      [deliveryId],
    );
    return rows.map(toAttemptRecord);
  }

  async recordAttempt(
    deliveryId: string,
    attempt: NewAttempt,
    next: { status: 'sent' | 'retrying' | 'dead_lettered'; nextAttemptAt?: Date },
  ): Promise<DeliveryRecord> {
    this.open();
    checkAttempt(attempt);
    if (!next || !NEXT_STATUSES.has(next.status)) {
      throw invalid(
        `a delivery's state after an attempt is sent, retrying or dead_lettered, not ${next?.status}`,
      );
    }
    if (next.status === 'retrying') checkDate(next.nextAttemptAt, 'nextAttemptAt (required when retrying)');
    const db = this.db;
    return db.transaction(async (tx) => {
      // Locks the delivery and its message together (PostgreSQL): two deliveries of one
      // message finishing at once then roll the message up one after the other.
      const current = await tx.get<{ status: string; attempts: number; message_id: string }>(
        'SELECT d.status, d.attempts, d.message_id FROM delivery d JOIN message m ON m.id = d.message_id ' +
          `WHERE d.id = ?${db.forUpdate}`,
        [deliveryId],
      );
      if (!current) throw notFound('delivery', deliveryId);
      if (TERMINAL.has(current.status)) {
        throw conflict(
          `delivery ${deliveryId} is already ${current.status}; requeue it before another attempt`,
        );
      }
      const expected = Number(current.attempts) + 1;
      if (attempt.number !== expected) {
        throw conflict(
          `attempt ${attempt.number} does not follow attempt ${expected - 1} of delivery ${deliveryId} (expected ${expected})`,
        );
      }
      const now = db.time(new Date());
      await tx.run(
        'INSERT INTO delivery_attempt (delivery_id, number, started_at, finished_at, outcome, code, error, response) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [
          deliveryId,
          attempt.number,
          db.time(attempt.startedAt),
          db.time(attempt.finishedAt),
          attempt.outcome,
          attempt.code ?? null,
          attempt.error ?? null,
          attempt.response ?? null,
        ],
      );
      const lastError =
        attempt.outcome === 'sent' ? null : (attempt.error ?? attempt.code ?? attempt.outcome);
      const row = await tx.get<DeliverySqlRow>(
        'UPDATE delivery SET status = ?, attempts = ?, next_attempt_at = ?, ' +
          'last_error = COALESCE(?, last_error), parked_reason = NULL, updated_at = ? ' +
          `WHERE id = ? RETURNING ${DELIVERY_COLUMNS}`,
        [
          next.status,
          attempt.number,
          next.status === 'retrying' && next.nextAttemptAt ? db.time(next.nextAttemptAt) : null,
          lastError,
          now,
          deliveryId,
        ],
      );
      if (TERMINAL.has(next.status)) await rollUpMessage(tx, current.message_id, now);
      return toDeliveryRecord(row as DeliverySqlRow);
    });
  }

  async setDeliveryState(id: string, status: 'pending' | 'parked', parkedReason?: string): Promise<void> {
    this.open();
    if (status !== 'pending' && status !== 'parked') {
      throw invalid(`setDeliveryState sets pending or parked, not ${String(status)}`);
    }
    const db = this.db;
    await db.transaction(async (tx) => {
      const current = await tx.get<{ status: string }>(
        `SELECT status FROM delivery WHERE id = ?${db.forUpdate}`,
        [id],
      );
      if (!current) throw notFound('delivery', id);
      if (TERMINAL.has(current.status)) {
        throw conflict(
          `delivery ${id} is ${current.status}; only a non-terminal delivery can become ${status}`,
        );
      }
      await tx.run(
        'UPDATE delivery SET status = ?, parked_reason = ?, next_attempt_at = NULL, updated_at = ? WHERE id = ?',
        [status, status === 'parked' ? (parkedReason ?? null) : null, db.time(new Date()), id],
      );
    });
  }

  async findBlocker(
    channelId: string,
    destination: string,
    orderKey: string,
    seq: number,
  ): Promise<DeliveryRecord | undefined> {
    this.open();
    const row = await this.db.get<DeliverySqlRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM delivery ` +
        `WHERE channel_id = ? AND destination = ? AND order_key = ? AND seq < ? AND ${OPEN_DELIVERY_PREDICATE} ` +
        'ORDER BY seq DESC LIMIT 1',
      [channelId, destination, orderKey, seq],
    );
    return row && toDeliveryRecord(row);
  }

  async nextParked(
    channelId: string,
    destination: string,
    orderKey: string,
  ): Promise<DeliveryRecord | undefined> {
    this.open();
    // The open-delivery predicate lets the planner use the partial ordering index.
    const row = await this.db.get<DeliverySqlRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM delivery ` +
        `WHERE channel_id = ? AND destination = ? AND order_key = ? AND ${OPEN_DELIVERY_PREDICATE} ` +
        "AND status = 'parked' ORDER BY seq LIMIT 1",
      [channelId, destination, orderKey],
    );
    return row && toDeliveryRecord(row);
  }

  async listUnprocessed(limit: number): Promise<Array<{ id: string; channelId: string; seq: number }>> {
    this.open();
    const rows = await this.db.all<{ id: string; channel_id: string; seq: number | string }>(
      `SELECT id, channel_id, seq FROM message WHERE ${UNPROCESSED_MESSAGE_PREDICATE} ORDER BY seq LIMIT ?`,
      [limitOf(limit)],
    );
    return rows.map((r) => ({ id: r.id, channelId: r.channel_id, seq: Number(r.seq) }));
  }

  async firstUnprocessed(channelId: string): Promise<{ id: string; seq: number } | undefined> {
    this.open();
    // The partial index on unprocessed messages holds few rows outside an outage.
    const row = await this.db.get<{ id: string; seq: number | string }>(
      `SELECT id, seq FROM message WHERE ${UNPROCESSED_MESSAGE_PREDICATE} AND channel_id = ? ORDER BY seq LIMIT 1`,
      [channelId],
    );
    return row && { id: row.id, seq: Number(row.seq) };
  }

  async listOpenDeliveries(dueBy: Date, limit: number): Promise<DeliveryRecord[]> {
    this.open();
    checkDate(dueBy, 'dueBy');
    // The open deliveries are few in steady state (a backlog only while a peer is down):
    // the partial ordering index holds exactly them; sorting them by seq is cheap.
    const rows = await this.db.all<DeliverySqlRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM delivery WHERE ${OPEN_DELIVERY_PREDICATE} ` +
        "AND (status <> 'retrying' OR next_attempt_at <= ?) ORDER BY seq, id LIMIT ?",
      [this.db.time(dueBy), limitOf(limit)],
    );
    return rows.map(toDeliveryRecord);
  }

  async channelCounts(
    channelId: string,
    since: Date,
  ): Promise<{
    messages: Partial<Record<MessageStatus, number>>;
    openDeliveries: Partial<Record<DeliveryStatus, number>>;
  }> {
    this.open();
    checkDate(since, 'since');
    const messages = await this.db.all<{ status: MessageStatus; n: number | string }>(
      'SELECT status, count(*) AS n FROM message WHERE channel_id = ? AND received_at >= ? GROUP BY status',
      [channelId, this.db.time(since)],
    );
    const deliveries = await this.db.all<{ status: DeliveryStatus; n: number | string }>(
      `SELECT status, count(*) AS n FROM delivery WHERE channel_id = ? AND ${OPEN_DELIVERY_PREDICATE} GROUP BY status`,
      [channelId],
    );
    return {
      messages: Object.fromEntries(messages.map((r) => [r.status, Number(r.n)])),
      openDeliveries: Object.fromEntries(deliveries.map((r) => [r.status, Number(r.n)])),
    };
  }

  async channelOverview(channelId: string, since: Date, recentSince: Date): Promise<ChannelOverviewCounts> {
    this.open();
    checkDate(since, 'since');
    checkDate(recentSince, 'recentSince');
    const from = this.db.time(since);
    const recent = this.db.time(recentSince);
    const messages = await this.db.all<{
      status: MessageStatus;
      n: number | string;
      r: number | string | null;
    }>(
      'SELECT status, count(*) AS n, sum(CASE WHEN received_at >= ? THEN 1 ELSE 0 END) AS r ' +
        'FROM message WHERE channel_id = ? AND received_at >= ? GROUP BY status',
      [recent, channelId, from],
    );
    const open = await this.db.all<{ destination: string; n: number | string; oldest: TimeValue }>(
      'SELECT destination, count(*) AS n, min(created_at) AS oldest FROM delivery ' +
        `WHERE channel_id = ? AND ${OPEN_DELIVERY_PREDICATE} GROUP BY destination`,
      [channelId],
    );
    const dead = await this.db.all<{ destination: string; n: number | string; r: number | string | null }>(
      'SELECT destination, count(*) AS n, sum(CASE WHEN updated_at >= ? THEN 1 ELSE 0 END) AS r FROM delivery ' +
        `WHERE channel_id = ? AND ${DEAD_LETTER_PREDICATE} GROUP BY destination`,
      [recent, channelId],
    );
    const byName = new Map<string, DestinationQueue>();
    const entry = (destination: string): DestinationQueue => {
      let q = byName.get(destination);
      if (!q) {
        q = { destination, open: 0, deadLettered: 0, recentDeadLettered: 0 };
        byName.set(destination, q);
      }
      return q;
    };
    for (const r of open) {
      const q = entry(r.destination);
      q.open = Number(r.n);
      if (r.oldest !== null && r.oldest !== undefined) q.oldestOpenAt = readTime(r.oldest);
    }
    for (const r of dead) {
      const q = entry(r.destination);
      q.deadLettered = Number(r.n);
      q.recentDeadLettered = Number(r.r ?? 0);
    }
    return {
      messages: Object.fromEntries(messages.map((r) => [r.status, Number(r.n)])),
      recentErrored: Number(messages.find((r) => r.status === 'errored')?.r ?? 0),
      destinations: [...byName.values()].sort((a, b) => (a.destination < b.destination ? -1 : 1)),
    };
  }

  async channelDeliveryCounts(
    channelId: string,
    since: Date,
  ): Promise<{ sent: number; deadLettered: number }> {
    this.open();
    checkDate(since, 'since');
    const rows = await this.db.all<{ status: string; n: number | string }>(
      'SELECT d.status, count(*) AS n FROM message m JOIN delivery d ON d.message_id = m.id ' +
        "WHERE m.channel_id = ? AND m.received_at >= ? AND d.status IN ('sent', 'dead_lettered') GROUP BY d.status",
      [channelId, this.db.time(since)],
    );
    const n = (status: string) => Number(rows.find((r) => r.status === status)?.n ?? 0);
    return { sent: n('sent'), deadLettered: n('dead_lettered') };
  }

  async listDestinationDeliveries(
    channelId: string,
    destination: string,
    limit: number,
    afterSeq?: number,
  ): Promise<DeliveryRecord[]> {
    this.open();
    if (afterSeq !== undefined && !Number.isSafeInteger(afterSeq))
      throw invalid('afterSeq must be an integer');
    // The partial ordering index holds exactly the open deliveries, by channel and destination.
    const rows = await this.db.all<DeliverySqlRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM delivery ` +
        `WHERE channel_id = ? AND destination = ? AND seq > ? AND ${OPEN_DELIVERY_PREDICATE} ` +
        'ORDER BY seq, id LIMIT ?',
      [channelId, destination, afterSeq ?? -1, limitOf(limit)],
    );
    return rows.map(toDeliveryRecord);
  }

  async setChannelPaused(channelId: string, paused: boolean, by: string, at: Date): Promise<void> {
    this.open();
    if (typeof channelId !== 'string' || channelId === '') throw invalid('a channel id is required');
    checkDate(at, 'at');
    await this.db.transaction((tx) =>
      paused
        ? tx.run(
            'INSERT INTO channel_pause (channel_id, paused_at, paused_by) VALUES (?, ?, ?) ON CONFLICT (channel_id) DO NOTHING',
            [channelId, this.db.time(at), by],
          )
        : tx.run('DELETE FROM channel_pause WHERE channel_id = ?', [channelId]),
    );
  }

  async listPausedChannels(): Promise<Array<{ channelId: string; pausedAt: Date; pausedBy: string }>> {
    this.open();
    const rows = await this.db.all<{
      channel_id: string;
      paused_at: TimeValue;
      paused_by: string;
    }>('SELECT channel_id, paused_at, paused_by FROM channel_pause ORDER BY channel_id');
    return rows.map((r) => ({
      channelId: r.channel_id,
      pausedAt: readTime(r.paused_at),
      pausedBy: r.paused_by,
    }));
  }

  async listDeadLetters(search: DeadLetterSearch): Promise<DeliveryRecord[]> {
    this.open();
    const where = [DEAD_LETTER_PREDICATE];
    const params: SqlValue[] = [];
    if (search.channelId !== undefined) {
      where.push('channel_id = ?');
      params.push(search.channelId);
    }
    if (search.destination !== undefined) {
      where.push('destination = ?');
      params.push(search.destination);
    }
    if (search.messageId !== undefined) {
      where.push('message_id = ?');
      params.push(search.messageId);
    }
    params.push(limitOf(search.limit));
    const rows = await this.db.all<DeliverySqlRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM delivery WHERE ${where.join(' AND ')} ORDER BY seq DESC, id LIMIT ?`,
      params,
    );
    return rows.map(toDeliveryRecord);
  }

  async requeueDelivery(id: string, options: { sent?: boolean } = {}): Promise<DeliveryRecord> {
    this.open();
    const db = this.db;
    return db.transaction(async (tx) => {
      const current = await tx.get<{ status: string; message_id: string }>(
        `SELECT status, message_id FROM delivery WHERE id = ?${db.forUpdate}`,
        [id],
      );
      if (!current) throw notFound('delivery', id);
      if (current.status !== 'dead_lettered' && !(options.sent === true && current.status === 'sent')) {
        throw conflict(`delivery ${id} is ${current.status}; only a dead-lettered delivery can be requeued`);
      }
      const now = db.time(new Date());
      const row = await tx.get<DeliverySqlRow>(
        "UPDATE delivery SET status = 'pending', next_attempt_at = NULL, parked_reason = NULL, updated_at = ? " +
          `WHERE id = ? RETURNING ${DELIVERY_COLUMNS}`,
        [now, id],
      );
      await tx.run(
        "UPDATE message SET status = 'processed', updated_at = ? WHERE id = ? AND status IN ('delivered', 'failed')",
        [now, current.message_id],
      );
      return toDeliveryRecord(row as DeliverySqlRow);
    });
  }

  async reprocessMessages(ids: string[]): Promise<string[]> {
    this.open();
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) {
      throw invalid('reprocessMessages expects an array of message ids');
    }
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    // Locked in id order, so that two concurrent calls take their chunks' locks in the same order and never deadlock.
    const ordered = [...unique].sort();
    const db = this.db;
    const reset = await db.transaction(async (tx) => {
      const now = db.time(new Date());
      const nowParam = db.kind === 'postgres' ? '?::timestamptz' : '?';
      const done: string[] = [];
      for (let i = 0; i < ordered.length; i += ID_CHUNK) {
        const chunk = ordered.slice(i, i + ID_CHUNK);
        // Locks the messages (PostgreSQL) and keeps those still in a reprocessable state.
        const locked = await tx.all<{ id: string }>(
          `SELECT id FROM message WHERE ${this.idIn('id', chunk)} AND ${REPROCESSABLE_PREDICATE} ` +
            `ORDER BY id${db.forUpdate}`,
          this.idParams(chunk),
        );
        if (locked.length === 0) continue;
        const lockedIds = locked.map((row) => row.id);
        await tx.run(
          'INSERT INTO message_outcome (message_id, number, status, issues, ack_code, channel_version, ' +
            'transformed_type, transformed, decided_at, reprocessed_at) ' +
            'SELECT m.id, COALESCE((SELECT MAX(o.number) FROM message_outcome o WHERE o.message_id = m.id), 0) + 1, ' +
            `m.status, m.issues, m.ack_code, m.channel_version, c.content_type, c.body, m.updated_at, ${nowParam} ` +
            'FROM message m LEFT JOIN message_content c ' +
            "ON c.message_id = m.id AND c.stage = 'transformed' AND c.destination = '' " +
            `WHERE ${this.idIn('m.id', lockedIds)}`,
          [now, ...this.idParams(lockedIds)],
        );
        await tx.run(
          `DELETE FROM message_content WHERE ${this.idIn('message_id', lockedIds)} ` +
            "AND stage = 'transformed' AND destination = ''",
          this.idParams(lockedIds),
        );
        await tx.run(
          `UPDATE message SET status = 'received', issues = '[]', updated_at = ${nowParam} ` +
            `WHERE ${this.idIn('id', lockedIds)}`,
          [now, ...this.idParams(lockedIds)],
        );
        done.push(...lockedIds);
      }
      return new Set(done);
    });
    return unique.filter((id) => reset.has(id));
  }

  async getOutcomes(messageId: string): Promise<MessageOutcomeRecord[]> {
    this.open();
    const rows = await this.db.all<OutcomeSqlRow>(
      `SELECT ${OUTCOME_COLUMNS} FROM message_outcome WHERE message_id = ? ORDER BY number`,
      [messageId],
    );
    return rows.map(toOutcomeRecord);
  }

  async recordDeployment(deployment: NewDeployment): Promise<DeploymentRecord> {
    this.open();
    checkNewDeployment(deployment);
    const d = deployment;
    const hash = contentHash(d.content);
    const problems = d.problems && d.problems.length > 0 ? JSON.stringify(d.problems) : null;
    const db = this.db;
    return db.transaction(async (tx) => {
      for (let tries = 1; ; tries++) {
        // Read before `previous`: on PostgreSQL each statement sees the commits made before it
        // started, so `previous` sees at least every version counted here; a version another
        // process commits meanwhile makes the insert below conflict, and the loop reads again.
        const last = await tx.get<{ version: number | string | null }>(
          'SELECT MAX(version) AS version FROM channel_deployment WHERE channel_id = ?',
          [d.channelId],
        );
        // `deployed`: the version running now; `refused`: the latest attempt, whatever it was.
        const previous = await tx.get<DeploymentSqlRow>(
          `SELECT ${DEPLOYMENT_COLUMNS} FROM channel_deployment WHERE channel_id = ?` +
            (d.outcome === 'deployed' ? " AND outcome = 'deployed'" : '') +
            ' ORDER BY version DESC LIMIT 1',
          [d.channelId],
        );
        if (previous && previous.content_hash === hash && previous.outcome === d.outcome) {
          return toDeploymentRecord(previous);
        }
        const row = await tx.get<DeploymentSqlRow>(
          `INSERT INTO channel_deployment (${DEPLOYMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ` +
            `ON CONFLICT (channel_id, version) DO NOTHING RETURNING ${DEPLOYMENT_COLUMNS}`,
          [
            d.channelId,
            Number(last?.version ?? 0) + 1,
            hash,
            d.content,
            d.filePath,
            d.gitCommit ?? null,
            d.deployedBy,
            db.time(d.deployedAt),
            d.outcome,
            problems,
          ],
        );
        if (row) return toDeploymentRecord(row);
        if (tries >= VERSION_TRIES) {
          throw conflict(`could not take the next deployment version of channel ${d.channelId}`);
        }
      }
    });
  }

  async listDeployments(channelId: string, limit?: number): Promise<DeploymentRecord[]> {
    this.open();
    const rows = await this.db.all<DeploymentSqlRow>(
      `SELECT ${DEPLOYMENT_COLUMNS} FROM channel_deployment WHERE channel_id = ? ORDER BY version DESC LIMIT ?`,
      [channelId, limitOf(limit)],
    );
    return rows.map(toDeploymentRecord);
  }

  async getDeployment(channelId: string, version: number): Promise<DeploymentRecord | undefined> {
    this.open();
    if (!Number.isInteger(version) || version < 1) {
      throw invalid(`a deployment version is a positive integer, not ${version}`);
    }
    if (version > MAX_INT32) return undefined;
    const row = await this.db.get<DeploymentSqlRow>(
      `SELECT ${DEPLOYMENT_COLUMNS} FROM channel_deployment WHERE channel_id = ? AND version = ?`,
      [channelId, version],
    );
    return row && toDeploymentRecord(row);
  }

  async latestDeployment(channelId: string): Promise<DeploymentRecord | undefined> {
    this.open();
    const row = await this.db.get<DeploymentSqlRow>(
      `SELECT ${DEPLOYMENT_COLUMNS} FROM channel_deployment WHERE channel_id = ? AND outcome = 'deployed' ` +
        'ORDER BY version DESC LIMIT 1',
      [channelId],
    );
    return row && toDeploymentRecord(row);
  }

  async channelStats(channelId: string, since: Date, until: Date): Promise<ChannelStats> {
    this.open();
    checkDate(since, 'since');
    checkDate(until, 'until');
    if (until.getTime() <= since.getTime()) throw invalid('until must be after since');
    if (until.getTime() - since.getTime() > MAX_STATS_WINDOW_MS)
      throw invalid(`a statistics window is at most ${MAX_STATS_WINDOW_MS / 3600_000} hours`);
    const pg = this.db.kind === 'postgres';
    // The hour a time stamp falls in: integer ms arithmetic on SQLite, date_trunc in UTC on PostgreSQL.
    const hourOf = (column: string) =>
      pg
        ? `date_trunc('hour', ${column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`
        : `(${column} / 3600000) * 3600000`;
    // Milliseconds between two time stamps.
    const msBetween = (later: string, earlier: string) =>
      pg ? `(extract(epoch FROM ${later} - ${earlier}) * 1000)::bigint` : `(${later} - ${earlier})`;
    const window = [channelId, this.db.time(since), this.db.time(until)];
    const inWindow = 'm.channel_id = ? AND m.received_at >= ? AND m.received_at < ?';
    const byStatus = await this.db.all<{ h: TimeValue; status: string; n: number | string }>(
      `SELECT ${hourOf('m.received_at')} AS h, m.status, count(*) AS n FROM message m WHERE ${inWindow} ` +
        'GROUP BY 1, 2',
      window,
    );
    const deliveryJoin =
      'FROM message m JOIN delivery d ON d.message_id = m.id JOIN delivery_attempt a ON a.delivery_id = d.id';
    const byOutcome = await this.db.all<{ h: TimeValue; outcome: string; n: number | string }>(
      `SELECT ${hourOf('a.finished_at')} AS h, a.outcome, count(*) AS n ${deliveryJoin} ` +
        `WHERE ${inWindow} AND a.outcome IN ('sent', 'failed') AND a.finished_at < ? GROUP BY 1, 2`,
      [...window, this.db.time(until)],
    );
    const first = Math.floor(since.getTime() / 3600_000) * 3600_000;
    const hours = new Map<number, ChannelHour>();
    for (let t = first; t < until.getTime(); t += 3600_000) {
      hours.set(t, {
        hour: new Date(t),
        received: 0,
        filtered: 0,
        rejected: 0,
        errored: 0,
        sent: 0,
        deadLettered: 0,
      });
    }
    for (const r of byStatus) {
      const h = hours.get(readTime(r.h).getTime());
      if (!h) continue;
      const n = Number(r.n);
      h.received += n;
      if (r.status === 'filtered' || r.status === 'rejected' || r.status === 'errored') h[r.status] += n;
    }
    for (const r of byOutcome) {
      const h = hours.get(readTime(r.h).getTime());
      if (!h) continue;
      if (r.outcome === 'sent') h.sent += Number(r.n);
      else h.deadLettered += Number(r.n);
    }
    const queued = await this.db.all<{ status: DeliveryStatus; n: number | string }>(
      `SELECT status, count(*) AS n FROM delivery WHERE channel_id = ? AND ${OPEN_DELIVERY_PREDICATE} GROUP BY status`,
      [channelId],
    );
    const ackLatencyMs = await this.percentiles(
      `SELECT m.ack_latency_us AS v FROM message m WHERE ${inWindow} AND m.ack_latency_us IS NOT NULL`,
      window,
      1000,
    );
    const endToEndMs = await this.percentiles(
      `SELECT ${msBetween('a.finished_at', 'm.received_at')} AS v ${deliveryJoin} ` +
        `WHERE ${inWindow} AND a.outcome = 'sent'`,
      window,
      1,
    );
    return {
      since,
      until,
      hours: [...hours.values()],
      queued: Object.fromEntries(queued.map((r) => [r.status, Number(r.n)])),
      ackLatencyMs,
      endToEndMs,
    };
  }

  async getContents(messageIds: string[]): Promise<Map<string, Partial<Record<ContentStage, Buffer>>>> {
    this.open();
    if (!Array.isArray(messageIds)) throw invalid('getContents expects an array of message ids');
    const out = new Map<string, Partial<Record<ContentStage, Buffer>>>();
    for (let i = 0; i < messageIds.length; i += ID_CHUNK) {
      const ids = messageIds.slice(i, i + ID_CHUNK);
      const rows = await this.db.all<{ message_id: string; stage: ContentStage; body: Buffer }>(
        'SELECT message_id, stage, body FROM message_content ' +
          `WHERE ${this.idIn('message_id', ids)} AND stage IN ('raw', 'transformed', 'ack') AND destination = ''`,
        this.idParams(ids),
      );
      for (const row of rows) {
        let stages = out.get(row.message_id);
        if (!stages) {
          stages = {};
          out.set(row.message_id, stages);
        }
        stages[row.stage] = row.body;
      }
    }
    return out;
  }

  /**
   * p50, p95 and p99 (nearest rank: the smallest value with at least p% of the values at or
   * below it) of the `v` column of a query, ranked in SQL with window functions, divided by
   * `divisor`. The database sorts the values; only three rows come back.
   */
  private async percentiles(sql: string, params: SqlValue[], divisor: number): Promise<LatencyPercentiles> {
    const rank = (p: number) => `(n * ${p} + 99) / 100`;
    const rows = await this.db.all<{ v: number | string; rn: number | string; n: number | string }>(
      `SELECT v, rn, n FROM (SELECT v, row_number() OVER (ORDER BY v) AS rn, count(*) OVER () AS n FROM (${sql}) s) r ` +
        `WHERE rn = ${rank(50)} OR rn = ${rank(95)} OR rn = ${rank(99)}`,
      params,
    );
    const first = rows[0];
    if (!first) return { count: 0 };
    const n = Number(first.n);
    const at = (p: number) => {
      const want = Math.floor((n * p + 99) / 100);
      const row = rows.find((r) => Number(r.rn) === want);
      return row ? Math.round((Number(row.v) / divisor) * 1000) / 1000 : undefined;
    };
    const out: LatencyPercentiles = { count: n };
    const p50 = at(50);
    const p95 = at(95);
    const p99 = at(99);
    if (p50 !== undefined) out.p50 = p50;
    if (p95 !== undefined) out.p95 = p95;
    if (p99 !== undefined) out.p99 = p99;
    return out;
  }

  async getSourceCursor(channelId: string, source: string): Promise<SourceCursorRecord | undefined> {
    this.open();
    checkCursor(channelId, source, '');
    return readCursor(this.db, channelId, source);
  }

  async setSourceCursor(channelId: string, source: string, value: string): Promise<void> {
    this.open();
    await writeCursor(this.db, channelId, source, value);
  }

  async ping(): Promise<void> {
    this.open();
    await this.db.get('SELECT 1 AS one');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.drain(async () => {
      if (this.dataSource.isInitialized) await this.dataSource.destroy();
    });
    await this.onClose?.();
  }

  private open(): void {
    if (this.closed) throw closedError();
  }

  /**
   * `column IN (…)` for a list of ids, with `idParams` its parameters. On SQLite the list is
   * padded to a power of two (repeating its last id), so a few statement texts serve every
   * length and the prepared-statement cache stays small.
   */
  private idIn(column: string, ids: string[]): string {
    return this.db.inList(column, this.db.kind === 'postgres' ? ids.length : paddedLength(ids.length));
  }

  private idParams(ids: string[]): SqlValue[] {
    if (this.db.kind === 'postgres') return [toPgArray(ids)];
    const padded: SqlValue[] = [...ids];
    const last = ids[ids.length - 1] ?? '';
    while (padded.length < paddedLength(ids.length)) padded.push(last);
    return padded;
  }

  private async keysOf(ids: string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    if (ids.length === 0) return out;
    const params: SqlValue[] = this.db.kind === 'postgres' ? [toPgArray(ids)] : ids;
    const rows = await this.db.all<{ message_id: string; name: string; value: string }>(
      `SELECT message_id, name, value FROM message_key WHERE ${this.db.inList('message_id', ids.length)}`,
      params,
    );
    for (const row of rows) {
      let keys = out.get(row.message_id);
      if (!keys) {
        keys = {};
        out.set(row.message_id, keys);
      }
      keys[row.name] = row.value;
    }
    return out;
  }
}

/** The smallest power of two ≥ `n`. */
function paddedLength(n: number): number {
  let length = 1;
  while (length < n) length *= 2;
  return length;
}

/** A text[] parameter: pg serialises a JS array; the SqlValue type names scalars only. */
function toPgArray(values: string[]): SqlValue {
  return values as unknown as SqlValue;
}

async function insertContents(tx: SqlExecutor, rows: SqlValue[][]): Promise<void> {
  if (rows.length === 0) return;
  await tx.insertRows({
    table: 'message_content',
    columns: ['message_id', 'stage', 'destination', 'content_type', 'body'],
    pgTypes: ['text', 'text', 'text', 'text', 'bytea'],
    rows,
  });
}

async function deliveriesOf(on: SqlExecutor, messageId: string): Promise<DeliveryRecord[]> {
  const rows = await on.all<DeliverySqlRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM delivery WHERE message_id = ? ORDER BY destination`,
    [messageId],
  );
  return rows.map(toDeliveryRecord);
}

/**
 * Once every delivery of the message is terminal, the message becomes `delivered` (all
 * sent) or `failed` (one or more dead-lettered). The caller holds the message's row lock.
 */
async function rollUpMessage(tx: SqlExecutor, messageId: string, now: number | Date): Promise<void> {
  await tx.run(
    "UPDATE message SET status = CASE WHEN EXISTS (SELECT 1 FROM delivery WHERE message_id = ? AND status = 'dead_lettered') " +
      "THEN 'failed' ELSE 'delivered' END, updated_at = ? " +
      `WHERE id = ? AND NOT EXISTS (SELECT 1 FROM delivery WHERE message_id = ? AND ${OPEN_DELIVERY_PREDICATE})`,
    [messageId, now, messageId, messageId],
  );
}

function isDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

function checkDate(value: unknown, what: string): void {
  if (!isDate(value)) throw invalid(`${what} must be a valid Date`);
}

function limitOf(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw invalid(`limit must be a positive integer, not ${limit}`);
  return Math.min(limit, MAX_LIMIT);
}

function checkNewMessage(m: NewMessage): void {
  if (typeof m?.id !== 'string' || m.id === '') throw invalid('a new message needs a non-empty id');
  for (const field of ['channelId', 'source', 'sender'] as const) {
    if (typeof m[field] !== 'string') throw invalid(`message ${m.id}: ${field} must be a string`);
  }
  checkDate(m.receivedAt, `message ${m.id}: receivedAt`);
  if (!CONTENT_TYPES.has(m.contentType)) {
    throw invalid(`message ${m.id}: unknown content type ${JSON.stringify(m.contentType)}`);
  }
  if (!Buffer.isBuffer(m.raw)) throw invalid(`message ${m.id}: raw must be a Buffer`);
  if (typeof m.keys !== 'object' || m.keys === null) throw invalid(`message ${m.id}: keys must be an object`);
  for (const [name, value] of Object.entries(m.keys)) {
    if (typeof value !== 'string') throw invalid(`message ${m.id}: business key ${name} must be a string`);
  }
  if (m.ack !== undefined && (typeof m.ack.code !== 'string' || !Buffer.isBuffer(m.ack.bytes))) {
    throw invalid(`message ${m.id}: ack needs a code and a Buffer of bytes`);
  }
  if (m.channelVersion !== undefined) checkVersion(m.channelVersion, `message ${m.id}: channelVersion`);
  if (
    m.parent !== undefined &&
    !(['messageId', 'channelId', 'destination'] as const).every(
      (f) => typeof m.parent?.[f] === 'string' && m.parent[f] !== '',
    )
  ) {
    throw invalid(`message ${m.id}: parent needs a messageId, a channelId and a destination`);
  }
  if (
    m.ackLatencyUs !== undefined &&
    (typeof m.ackLatencyUs !== 'number' ||
      !Number.isInteger(m.ackLatencyUs) ||
      m.ackLatencyUs < 0 ||
      m.ackLatencyUs > MAX_INT32)
  ) {
    throw invalid(
      `message ${m.id}: ackLatencyUs must be a whole number of microseconds, not ${String(m.ackLatencyUs)}`,
    );
  }
}

function checkVersion(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_INT32) {
    throw invalid(`${what} must be a positive integer, not ${String(value)}`);
  }
}

function checkNewDeployment(d: NewDeployment): void {
  if (typeof d?.channelId !== 'string' || d.channelId === '') {
    throw invalid('a deployment needs a non-empty channelId');
  }
  const what = `deployment of channel ${d.channelId}`;
  if (typeof d.content !== 'string') throw invalid(`${what}: content must be the channel file's text`);
  for (const field of ['filePath', 'deployedBy'] as const) {
    if (typeof d[field] !== 'string' || d[field] === '') {
      throw invalid(`${what}: ${field} must be a non-empty string`);
    }
  }
  if (d.gitCommit !== undefined && typeof d.gitCommit !== 'string') {
    throw invalid(`${what}: gitCommit must be a string`);
  }
  checkDate(d.deployedAt, `${what}: deployedAt`);
  if (!DEPLOYMENT_OUTCOMES.has(d.outcome)) {
    throw invalid(`${what}: the outcome is deployed or refused, not ${JSON.stringify(d.outcome)}`);
  }
  if (d.problems !== undefined) {
    if (!Array.isArray(d.problems)) throw invalid(`${what}: problems must be a list`);
    for (const p of d.problems) {
      if (typeof p !== 'object' || p === null || typeof p.message !== 'string') {
        throw invalid(`${what}: each problem needs a message`);
      }
      if (p.level !== undefined && !PROBLEM_LEVELS.has(p.level)) {
        throw invalid(`${what}: a problem's level is error or warning, not ${JSON.stringify(p.level)}`);
      }
    }
  }
  if (d.outcome === 'refused' && (d.problems === undefined || d.problems.length === 0)) {
    throw invalid(`${what}: a refused deployment needs the problems that refused it`);
  }
}

function checkPipelineResult(result: PipelineResult): void {
  if (!result || !PIPELINE_STATUSES.has(result.status)) {
    throw invalid(`a pipeline ends filtered, rejected, errored or processed, not ${result?.status}`);
  }
  if (!Array.isArray(result.issues) || !Array.isArray(result.deliveries)) {
    throw invalid('a pipeline result needs issues and deliveries arrays');
  }
  if (result.status !== 'processed' && result.deliveries.length > 0) {
    throw invalid(`a ${result.status} message has no deliveries`);
  }
  const seen = new Set<string>();
  for (const d of result.deliveries) {
    if (typeof d.destination !== 'string' || d.destination === '')
      throw invalid('a delivery needs a destination');
    if (seen.has(d.destination)) throw invalid(`destination ${d.destination} appears twice`);
    seen.add(d.destination);
    if (!Buffer.isBuffer(d.payload)) throw invalid(`delivery to ${d.destination}: payload must be a Buffer`);
    if (!CONTENT_TYPES.has(d.payloadType)) {
      throw invalid(`delivery to ${d.destination}: unknown payload type ${JSON.stringify(d.payloadType)}`);
    }
    if (d.orderKey !== undefined && typeof d.orderKey !== 'string') {
      throw invalid(`delivery to ${d.destination}: orderKey must be a string`);
    }
  }
  if (result.transformed && !Buffer.isBuffer(result.transformed.body)) {
    throw invalid('the transformed content must be a Buffer');
  }
  if (result.ack && (typeof result.ack.code !== 'string' || !Buffer.isBuffer(result.ack.bytes))) {
    throw invalid('a pipeline ack needs a code and a Buffer of bytes');
  }
  if (result.channelVersion !== undefined) checkVersion(result.channelVersion, 'channelVersion');
}

function checkAttempt(attempt: NewAttempt): void {
  if (!attempt || !Number.isInteger(attempt.number) || attempt.number < 1) {
    throw invalid(`an attempt number is a positive integer, not ${attempt?.number}`);
  }
  checkDate(attempt.startedAt, 'attempt startedAt');
  checkDate(attempt.finishedAt, 'attempt finishedAt');
  if (!ATTEMPT_OUTCOMES.has(attempt.outcome)) {
    throw invalid(`an attempt's outcome is sent, retry or failed, not ${attempt.outcome}`);
  }
  if (attempt.response !== undefined && !Buffer.isBuffer(attempt.response)) {
    throw invalid('an attempt response must be a Buffer');
  }
}
