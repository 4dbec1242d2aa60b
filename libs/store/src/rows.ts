import type {
  AttemptRecord,
  ContentType,
  DeliveryRecord,
  DeliveryStatus,
  MessageIssue,
  MessageRecord,
  MessageStatus,
} from './store';

/** Rows as the SQL in this library selects them (snake_case columns, backend-typed values). */
export type TimeValue = Date | number | string;

export interface MessageSqlRow {
  seq: number | string;
  id: string;
  channel_id: string;
  received_at: TimeValue;
  source: string;
  sender: string;
  remote_address: string | null;
  message_type: string | null;
  control_id: string | null;
  content_type: string;
  status: string;
  ack_code: string | null;
  duplicate_count: number;
  issues: string;
  updated_at: TimeValue;
}

export interface DeliverySqlRow {
  id: string;
  message_id: string;
  channel_id: string;
  destination: string;
  seq: number | string;
  order_key: string | null;
  status: string;
  attempts: number;
  next_attempt_at: TimeValue | null;
  last_error: string | null;
  parked_reason: string | null;
  created_at: TimeValue;
  updated_at: TimeValue;
}

export interface AttemptSqlRow {
  delivery_id: string;
  number: number;
  started_at: TimeValue;
  finished_at: TimeValue;
  outcome: string;
  code: string | null;
  error: string | null;
  response: Buffer | null;
}

export const MESSAGE_COLUMNS =
  'seq, id, channel_id, received_at, source, sender, remote_address, message_type, control_id, ' +
  'content_type, status, ack_code, duplicate_count, issues, updated_at';

export const DELIVERY_COLUMNS =
  'id, message_id, channel_id, destination, seq, order_key, status, attempts, next_attempt_at, ' +
  'last_error, parked_reason, created_at, updated_at';

/** A time column as a Date: SQLite holds ms since the epoch, PostgreSQL returns a Date. */
export function readTime(value: TimeValue): Date {
  return value instanceof Date ? value : new Date(Number(value));
}

export function toMessageRecord(row: MessageSqlRow, keys: Record<string, string>): MessageRecord {
  const record: MessageRecord = {
    id: row.id,
    seq: Number(row.seq),
    channelId: row.channel_id,
    receivedAt: readTime(row.received_at),
    source: row.source,
    sender: row.sender,
    contentType: row.content_type as ContentType,
    status: row.status as MessageStatus,
    duplicateCount: Number(row.duplicate_count),
    issues: JSON.parse(row.issues) as MessageIssue[],
    keys,
    updatedAt: readTime(row.updated_at),
  };
  if (row.remote_address !== null) record.remoteAddress = row.remote_address;
  if (row.message_type !== null) record.messageType = row.message_type;
  if (row.control_id !== null) record.controlId = row.control_id;
  if (row.ack_code !== null) record.ackCode = row.ack_code;
  return record;
}

export function toDeliveryRecord(row: DeliverySqlRow): DeliveryRecord {
  const record: DeliveryRecord = {
    id: row.id,
    messageId: row.message_id,
    channelId: row.channel_id,
    destination: row.destination,
    seq: Number(row.seq),
    status: row.status as DeliveryStatus,
    attempts: Number(row.attempts),
    createdAt: readTime(row.created_at),
    updatedAt: readTime(row.updated_at),
  };
  if (row.order_key !== null) record.orderKey = row.order_key;
  if (row.next_attempt_at !== null) record.nextAttemptAt = readTime(row.next_attempt_at);
  if (row.last_error !== null) record.lastError = row.last_error;
  if (row.parked_reason !== null) record.parkedReason = row.parked_reason;
  return record;
}

export function toAttemptRecord(row: AttemptSqlRow): AttemptRecord {
  const record: AttemptRecord = {
    deliveryId: row.delivery_id,
    number: Number(row.number),
    startedAt: readTime(row.started_at),
    finishedAt: readTime(row.finished_at),
    outcome: row.outcome as AttemptRecord['outcome'],
  };
  if (row.code !== null) record.code = row.code;
  if (row.error !== null) record.error = row.error;
  if (row.response !== null) record.response = row.response;
  return record;
}
