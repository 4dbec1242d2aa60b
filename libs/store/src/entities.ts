import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import { accessEntities } from './access-entities';
import { reconcileEntities } from './reconcile-entities';
import { sourceCursorEntities } from './source-cursors';
import { linkEntities } from './link-entities';
import { appEntities } from './app-entities';
import { webhookEntities } from './webhook-entities';

/**
 * The ledger's tables as TypeORM entity schemas (no decorators: production code is bundled
 * by esbuild, which emits no decorator metadata). They describe the schema that the
 * committed migrations create; a test checks both agree on each backend. The store itself
 * reads and writes with parameterised SQL, not through entity hydration.
 *
 * Column types differ per backend only for time stamps (`timestamptz` on PostgreSQL,
 * integer milliseconds since the epoch on SQLite) and the `seq` counter.
 */
export type StoreKind = 'sqlite' | 'postgres';

/** Row shapes, in the entities' property names. */
export interface MessageRow {
  seq: number;
  id: string;
  channelId: string;
  receivedAt: Date | number;
  source: string;
  sender: string;
  remoteAddress: string | null;
  messageType: string | null;
  controlId: string | null;
  contentType: string;
  status: string;
  ackCode: string | null;
  duplicateCount: number;
  issues: string;
  channelVersion: number | null;
  updatedAt: Date | number;
  ackLatencyUs: number | null;
}

export interface MessageKeyRow {
  messageId: string;
  channelId: string;
  name: string;
  value: string;
}

export interface MessageContentRow {
  messageId: string;
  stage: string;
  destination: string;
  contentType: string;
  body: Buffer;
}

export interface DeliveryRow {
  id: string;
  messageId: string;
  channelId: string;
  destination: string;
  seq: number;
  orderKey: string | null;
  status: string;
  attempts: number;
  nextAttemptAt: Date | number | null;
  lastError: string | null;
  parkedReason: string | null;
  createdAt: Date | number;
  updatedAt: Date | number;
}

export interface DeliveryAttemptRow {
  deliveryId: string;
  number: number;
  startedAt: Date | number;
  finishedAt: Date | number;
  outcome: string;
  code: string | null;
  error: string | null;
  response: Buffer | null;
}

export interface MessageOutcomeRow {
  messageId: string;
  number: number;
  status: string;
  issues: string;
  ackCode: string | null;
  channelVersion: number | null;
  transformedType: string | null;
  transformed: Buffer | null;
  decidedAt: Date | number;
  reprocessedAt: Date | number;
}

export interface ChannelDeploymentRow {
  channelId: string;
  version: number;
  contentHash: string;
  content: string;
  filePath: string;
  gitCommit: string | null;
  deployedBy: string;
  deployedAt: Date | number;
  outcome: string;
  problems: string | null;
}

/*
 * Partial-index predicates. Rows enter and leave these indexes as their status changes, so
 * the happy path (received → processed → delivered; pending → sent) writes few index pages,
 * while every lookup the engine and the recovery sweep make stays an index search. A query
 * that should use one repeats its predicate verbatim (SQLite proves index usability by
 * matching terms, not by reasoning about IN lists).
 */
/** Non-terminal deliveries: the ordering gate's and the recovery sweep's index. */
export const OPEN_DELIVERY_PREDICATE = "status IN ('pending', 'retrying', 'parked')";
/** Messages the pipeline has not finished: the recovery sweep's index. */
export const UNPROCESSED_MESSAGE_PREDICATE = "status = 'received'";
/** Messages an operator looks for: refused or failed. */
export const PROBLEM_MESSAGE_PREDICATE = "status IN ('rejected', 'errored', 'failed')";
/** Deliveries waiting for their next attempt. */
export const RETRYING_DELIVERY_PREDICATE = "status = 'retrying'";
/** Dead letters. */
export const DEAD_LETTER_PREDICATE = "status = 'dead_lettered'";

interface ChannelPauseRow {
  channelId: string;
  pausedAt: Date | number;
  pausedBy: string;
}

function columnTypes(kind: StoreKind) {
  const pg = kind === 'postgres';
  const text = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: 'text',
    ...extra,
  });
  const time = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: pg ? 'timestamptz' : 'integer',
    ...extra,
  });
  const int = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: 'integer',
    ...extra,
  });
  const bigint = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: pg ? 'bigint' : 'integer',
    ...extra,
  });
  const blob = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: pg ? 'bytea' : 'blob',
    ...extra,
  });
  return { text, time, int, bigint, blob };
}

/**
 * The ledger tables for one backend. On SQLite the narrow tables keyed by a composite
 * primary key (`message_key`, `delivery_attempt`) are WITHOUT ROWID: one b-tree instead of
 * a table plus its key index.
 */
export function storeEntities(kind: StoreKind): EntitySchema[] {
  const { text, time, int, bigint, blob } = columnTypes(kind);

  const message = new EntitySchema<MessageRow>({
    name: 'message',
    tableName: 'message',
    columns: {
      seq: bigint({ primary: true, generated: 'increment', primaryKeyConstraintName: 'message_pkey' }),
      id: text(),
      channelId: text({ name: 'channel_id' }),
      receivedAt: time({ name: 'received_at' }),
      source: text(),
      sender: text(),
      remoteAddress: text({ name: 'remote_address', nullable: true }),
      messageType: text({ name: 'message_type', nullable: true }),
      controlId: text({ name: 'control_id', nullable: true }),
      contentType: text({ name: 'content_type' }),
      status: text(),
      ackCode: text({ name: 'ack_code', nullable: true }),
      duplicateCount: int({ name: 'duplicate_count', default: 0 }),
      issues: text(),
      updatedAt: time({ name: 'updated_at' }),
      channelVersion: int({ name: 'channel_version', nullable: true }),
      ackLatencyUs: int({ name: 'ack_latency_us', nullable: true }),
    },
    indices: [
      { name: 'message_id_key', columns: ['id'], unique: true },
      {
        name: 'message_duplicate_idx',
        columns: ['channelId', 'sender', 'controlId', 'receivedAt'],
      },
      { name: 'message_channel_received_idx', columns: ['channelId', 'receivedAt'] },
      { name: 'message_received_idx', columns: ['receivedAt'] },
      { name: 'message_control_idx', columns: ['controlId'] },
      { name: 'message_unprocessed_idx', columns: ['seq'], where: UNPROCESSED_MESSAGE_PREDICATE },
      {
        name: 'message_problem_idx',
        columns: ['status', 'receivedAt'],
        where: PROBLEM_MESSAGE_PREDICATE,
      },
    ],
    checks: [
      {
        name: 'message_status_check',
        expression:
          "status IN ('received', 'filtered', 'rejected', 'errored', 'processed', 'delivered', 'failed')",
      },
    ],
  });

  const messageKey = new EntitySchema<MessageKeyRow>({
    name: 'message_key',
    tableName: 'message_key',
    columns: {
      messageId: text({ name: 'message_id', primary: true, primaryKeyConstraintName: 'message_key_pkey' }),
      name: text({ primary: true, primaryKeyConstraintName: 'message_key_pkey' }),
      channelId: text({ name: 'channel_id' }),
      value: text(),
    },
    indices: [
      { name: 'message_key_lookup_idx', columns: ['name', 'value'] },
      { name: 'message_key_value_idx', columns: ['value'] },
    ],
    withoutRowid: kind === 'sqlite',
  });

  const messageContent = new EntitySchema<MessageContentRow>({
    name: 'message_content',
    tableName: 'message_content',
    columns: {
      messageId: text({
        name: 'message_id',
        primary: true,
        primaryKeyConstraintName: 'message_content_pkey',
      }),
      stage: text({ primary: true, primaryKeyConstraintName: 'message_content_pkey' }),
      destination: text({ primary: true, primaryKeyConstraintName: 'message_content_pkey' }),
      contentType: text({ name: 'content_type' }),
      body: blob(),
    },
    checks: [
      {
        name: 'message_content_stage_check',
        expression: "stage IN ('raw', 'transformed', 'ack', 'payload')",
      },
    ],
  });

  const delivery = new EntitySchema<DeliveryRow>({
    name: 'delivery',
    tableName: 'delivery',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'delivery_pkey' }),
      messageId: text({ name: 'message_id' }),
      channelId: text({ name: 'channel_id' }),
      destination: text(),
      seq: bigint(),
      orderKey: text({ name: 'order_key', nullable: true }),
      status: text(),
      attempts: int({ default: 0 }),
      nextAttemptAt: time({ name: 'next_attempt_at', nullable: true }),
      lastError: text({ name: 'last_error', nullable: true }),
      parkedReason: text({ name: 'parked_reason', nullable: true }),
      createdAt: time({ name: 'created_at' }),
      updatedAt: time({ name: 'updated_at' }),
    },
    indices: [
      {
        name: 'delivery_ordering_idx',
        columns: ['channelId', 'destination', 'orderKey', 'seq'],
        where: OPEN_DELIVERY_PREDICATE,
      },
      { name: 'delivery_due_idx', columns: ['nextAttemptAt'], where: RETRYING_DELIVERY_PREDICATE },
      { name: 'delivery_dead_letter_idx', columns: ['seq'], where: DEAD_LETTER_PREDICATE },
      { name: 'delivery_message_idx', columns: ['messageId'] },
    ],
    checks: [
      {
        name: 'delivery_status_check',
        expression: "status IN ('pending', 'retrying', 'parked', 'sent', 'dead_lettered')",
      },
    ],
  });

  const deliveryAttempt = new EntitySchema<DeliveryAttemptRow>({
    name: 'delivery_attempt',
    tableName: 'delivery_attempt',
    columns: {
      deliveryId: text({
        name: 'delivery_id',
        primary: true,
        primaryKeyConstraintName: 'delivery_attempt_pkey',
      }),
      number: int({ primary: true, primaryKeyConstraintName: 'delivery_attempt_pkey' }),
      startedAt: time({ name: 'started_at' }),
      finishedAt: time({ name: 'finished_at' }),
      outcome: text(),
      code: text({ nullable: true }),
      error: text({ nullable: true }),
      response: blob({ nullable: true }),
    },
    withoutRowid: kind === 'sqlite',
  });

  const messageOutcome = new EntitySchema<MessageOutcomeRow>({
    name: 'message_outcome',
    tableName: 'message_outcome',
    columns: {
      messageId: text({
        name: 'message_id',
        primary: true,
        primaryKeyConstraintName: 'message_outcome_pkey',
      }),
      number: int({ primary: true, primaryKeyConstraintName: 'message_outcome_pkey' }),
      status: text(),
      issues: text(),
      ackCode: text({ name: 'ack_code', nullable: true }),
      channelVersion: int({ name: 'channel_version', nullable: true }),
      transformedType: text({ name: 'transformed_type', nullable: true }),
      transformed: blob({ nullable: true }),
      decidedAt: time({ name: 'decided_at' }),
      reprocessedAt: time({ name: 'reprocessed_at' }),
    },
    checks: [
      {
        name: 'message_outcome_status_check',
        expression: "status IN ('filtered', 'rejected', 'errored')",
      },
    ],
  });

  const channelPause = new EntitySchema<ChannelPauseRow>({
    name: 'channel_pause',
    tableName: 'channel_pause',
    columns: {
      channelId: text({ name: 'channel_id', primary: true, primaryKeyConstraintName: 'channel_pause_pkey' }),
      pausedAt: time({ name: 'paused_at' }),
      pausedBy: text({ name: 'paused_by' }),
    },
  });

  const channelDeployment = new EntitySchema<ChannelDeploymentRow>({
    name: 'channel_deployment',
    tableName: 'channel_deployment',
    columns: {
      channelId: text({
        name: 'channel_id',
        primary: true,
        primaryKeyConstraintName: 'channel_deployment_pkey',
      }),
      version: int({ primary: true, primaryKeyConstraintName: 'channel_deployment_pkey' }),
      contentHash: text({ name: 'content_hash' }),
      content: text(),
      filePath: text({ name: 'file_path' }),
      gitCommit: text({ name: 'git_commit', nullable: true }),
      deployedBy: text({ name: 'deployed_by' }),
      deployedAt: time({ name: 'deployed_at' }),
      outcome: text(),
      problems: text({ nullable: true }),
    },
    checks: [
      {
        name: 'channel_deployment_outcome_check',
        expression: "outcome IN ('deployed', 'refused')",
      },
    ],
  });

  return [
    message,
    messageKey,
    messageContent,
    delivery,
    deliveryAttempt,
    messageOutcome,
    channelDeployment,
    channelPause,
    ...accessEntities(kind),
    ...reconcileEntities(kind),
    ...sourceCursorEntities(kind),
    ...linkEntities(kind),
    ...appEntities(kind),
    ...webhookEntities(kind),
  ];
}
