import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import type { StoreKind } from './entities';

/**
 * The reconciliation tables (runs, their discrepancies, schedule claims, sync-error flags) as
 * TypeORM entity schemas, in the ledger's database. They describe what the committed
 * migrations create (a test checks both agree on each backend); `reconcile-store.ts` reads
 * and writes them with parameterised SQL. Structured values (a run's summary, a
 * discrepancy's fields, records and message ids) are JSON texts.
 */
export interface ReconcileRunRow {
  id: string;
  reconciliation: string;
  status: string;
  trigger: string;
  periodFrom: Date | number | null;
  periodTo: Date | number | null;
  periodLabel: string;
  startedAt: Date | number;
  finishedAt: Date | number | null;
  summary: string | null;
  error: string | null;
}

export interface ReconcileDiscrepancyRow {
  id: string;
  runId: string;
  ordinal: number;
  entity: string;
  kind: string;
  class: string;
  key: string;
  reason: string;
  messageIds: string;
  fields: string | null;
  source: string | null;
  target: string | null;
  copies: number | null;
  repairedAt: Date | number | null;
  repair: string | null;
}

export interface ReconcileScheduleRow {
  reconciliation: string;
  dueAt: Date | number;
  owner: string;
  claimedAt: Date | number;
}

export interface ReconcileFlagRow {
  id: string;
  reconciliation: string;
  entity: string;
  class: string;
  count: number;
  runId: string;
  raisedAt: Date | number;
  acknowledgedAt: Date | number | null;
  acknowledgedBy: string | null;
  note: string | null;
}

export const RUN_STATUS_CHECK = "status IN ('running', 'clean', 'discrepancies', 'failed')";
export const RUN_TRIGGER_CHECK = "trigger IN ('schedule', 'cli', 'api', 'catch_up')";
/** The open flags: at most one per reconciliation, entity and class. */
export const OPEN_FLAG_PREDICATE = 'acknowledged_at IS NULL';

export function reconcileEntities(kind: StoreKind): EntitySchema[] {
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

  const run = new EntitySchema<ReconcileRunRow>({
    name: 'reconcile_run',
    tableName: 'reconcile_run',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'reconcile_run_pkey' }),
      reconciliation: text(),
      status: text(),
      trigger: text(),
      periodFrom: time({ name: 'period_from', nullable: true }),
      periodTo: time({ name: 'period_to', nullable: true }),
      periodLabel: text({ name: 'period_label' }),
      startedAt: time({ name: 'started_at' }),
      finishedAt: time({ name: 'finished_at', nullable: true }),
      summary: text({ nullable: true }),
      error: text({ nullable: true }),
    },
    indices: [
      { name: 'reconcile_run_reconciliation_idx', columns: ['reconciliation', 'startedAt'] },
      { name: 'reconcile_run_started_idx', columns: ['startedAt'] },
    ],
    checks: [
      { name: 'reconcile_run_status_check', expression: RUN_STATUS_CHECK },
      { name: 'reconcile_run_trigger_check', expression: RUN_TRIGGER_CHECK },
    ],
  });

  const discrepancy = new EntitySchema<ReconcileDiscrepancyRow>({
    name: 'reconcile_discrepancy',
    tableName: 'reconcile_discrepancy',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'reconcile_discrepancy_pkey' }),
      runId: text({ name: 'run_id' }),
      ordinal: int(),
      entity: text(),
      kind: text(),
      class: text(),
      key: text(),
      reason: text(),
      messageIds: text({ name: 'message_ids' }),
      fields: text({ nullable: true }),
      source: text({ nullable: true }),
      target: text({ nullable: true }),
      copies: int({ nullable: true }),
      repairedAt: time({ name: 'repaired_at', nullable: true }),
      repair: text({ nullable: true }),
    },
    indices: [
      { name: 'reconcile_discrepancy_order_key', columns: ['runId', 'ordinal'], unique: true },
      { name: 'reconcile_discrepancy_class_idx', columns: ['runId', 'class', 'ordinal'] },
      { name: 'reconcile_discrepancy_entity_idx', columns: ['runId', 'entity', 'ordinal'] },
    ],
  });

  const schedule = new EntitySchema<ReconcileScheduleRow>({
    name: 'reconcile_schedule',
    tableName: 'reconcile_schedule',
    columns: {
      reconciliation: text({ primary: true, primaryKeyConstraintName: 'reconcile_schedule_pkey' }),
      dueAt: time({ name: 'due_at', primary: true, primaryKeyConstraintName: 'reconcile_schedule_pkey' }),
      owner: text(),
      claimedAt: time({ name: 'claimed_at' }),
    },
  });

  const flag = new EntitySchema<ReconcileFlagRow>({
    name: 'reconcile_flag',
    tableName: 'reconcile_flag',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'reconcile_flag_pkey' }),
      reconciliation: text(),
      entity: text(),
      class: text(),
      count: int(),
      runId: text({ name: 'run_id' }),
      raisedAt: time({ name: 'raised_at' }),
      acknowledgedAt: time({ name: 'acknowledged_at', nullable: true }),
      acknowledgedBy: text({ name: 'acknowledged_by', nullable: true }),
      note: text({ nullable: true }),
    },
    indices: [
      {
        name: 'reconcile_flag_open_key',
        columns: ['reconciliation', 'entity', 'class'],
        unique: true,
        where: OPEN_FLAG_PREDICATE,
      },
      { name: 'reconcile_flag_raised_idx', columns: ['raisedAt'] },
    ],
  });

  return [run, discrepancy, schedule, flag];
}
