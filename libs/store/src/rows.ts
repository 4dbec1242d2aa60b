import type {
  AttemptRecord,
  ContentType,
  DeliveryRecord,
  DeploymentOutcome,
  DeploymentProblem,
  DeploymentRecord,
  MessageOutcomeRecord,
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
  channel_version: number | string | null;
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

export interface OutcomeSqlRow {
  message_id: string;
  number: number | string;
  status: string;
  issues: string;
  ack_code: string | null;
  channel_version: number | string | null;
  transformed_type: string | null;
  transformed: Buffer | null;
  decided_at: TimeValue;
  reprocessed_at: TimeValue;
}

export interface DeploymentSqlRow {
  channel_id: string;
  version: number | string;
  content_hash: string;
  content: string;
  file_path: string;
  git_commit: string | null;
  deployed_by: string;
  deployed_at: TimeValue;
  outcome: string;
  problems: string | null;
}

export const MESSAGE_COLUMNS =
  'seq, id, channel_id, received_at, source, sender, remote_address, message_type, control_id, ' +
  'content_type, status, ack_code, duplicate_count, issues, channel_version, updated_at';

export const OUTCOME_COLUMNS =
  'message_id, number, status, issues, ack_code, channel_version, transformed_type, transformed, ' +
  'decided_at, reprocessed_at';

export const DEPLOYMENT_COLUMNS =
  'channel_id, version, content_hash, content, file_path, git_commit, deployed_by, deployed_at, ' +
  'outcome, problems';

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
  if (row.channel_version !== null) record.channelVersion = Number(row.channel_version);
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

export function toOutcomeRecord(row: OutcomeSqlRow): MessageOutcomeRecord {
  const record: MessageOutcomeRecord = {
    messageId: row.message_id,
    number: Number(row.number),
    status: row.status as MessageOutcomeRecord['status'],
    issues: JSON.parse(row.issues) as MessageIssue[],
    decidedAt: readTime(row.decided_at),
    reprocessedAt: readTime(row.reprocessed_at),
  };
  if (row.ack_code !== null) record.ackCode = row.ack_code;
  if (row.channel_version !== null) record.channelVersion = Number(row.channel_version);
  if (row.transformed !== null && row.transformed_type !== null) {
    record.transformed = { contentType: row.transformed_type as ContentType, body: row.transformed };
  }
  return record;
}

export function toDeploymentRecord(row: DeploymentSqlRow): DeploymentRecord {
  const record: DeploymentRecord = {
    channelId: row.channel_id,
    version: Number(row.version),
    contentHash: row.content_hash,
    content: row.content,
    filePath: row.file_path,
    deployedBy: row.deployed_by,
    deployedAt: readTime(row.deployed_at),
    outcome: row.outcome as DeploymentOutcome,
    problems: row.problems === null ? [] : (JSON.parse(row.problems) as DeploymentProblem[]),
  };
  if (row.git_commit !== null) record.gitCommit = row.git_commit;
  return record;
}
