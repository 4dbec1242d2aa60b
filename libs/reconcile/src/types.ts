/**
 * The shapes shared by the parts of a reconciliation: what an adapter reads from one side, what
 * the comparison finds, how the ledger explains it, and what a run stores.
 */
import type { DeliveryStatus, MessageStatus } from '@sinew/store';

/** A value read from one side, before normalisation. */
export type RawValue = string | number | boolean | null;

/** One record of an entity as an adapter reads it from one side. */
export interface SideRecord {
  /** The identity value (an MRN, a visit number, a claim number), as read. */
  key: string;
  /** The compared fields, by the names the reconciliation declares, as read. */
  fields: Record<string, RawValue>;
  /** The record's status, for counts per status, when the entity declares one. */
  status?: string | null;
  /** When the record last changed at its system (ISO 8601), when the system tells. */
  updatedAt?: string | null;
  /** Where the record can be seen at its system (a URL, a row id, a line number). */
  ref?: string;
}

/**
 * One side's records as the comparison takes them: one at a time, or a page at a time (an array
 * per page, far cheaper to hand on than one record per await).
 */
export type SideRecords = AsyncIterable<SideRecord | readonly SideRecord[]>;

/** The time range a run covers: `[from, to)`; no bounds means everything. */
export interface Period {
  from?: Date;
  to?: Date;
  /** How it was asked for: `yesterday`, `all`, `2026-12-01..2026-12-07` … */
  label: string;
}

/** Which side of the comparison an adapter reads. */
export type Side = 'source' | 'target';

/** What an adapter is given to read one entity from one side. */
export interface ReadContext {
  /** The entity's name, as declared. */
  entity: string;
  side: Side;
  period: Period;
  /** The compared fields' names (an adapter reads at least these). */
  fields: readonly string[];
  /** Whether the entity counts per status (the adapter then fills `status`). */
  withStatus: boolean;
  signal: AbortSignal;
  /** The folder of the reconciliation file: relative file paths resolve against it. */
  baseDir: string;
}

/** Reads one side of one entity. Built from a side's settings by an adapter factory. */
export interface SideReader {
  /** Every record of the entity in the period, in any order. */
  read(ctx: ReadContext): AsyncIterable<SideRecord>;
  /**
   * Counts per status (`''` when the entity has no status), asked of the system itself when it
   * can answer (FHIR `_summary=count`, SQL `count(*)`); undefined when it cannot, and then the
   * runner counts what `read` yields.
   */
  count?(ctx: ReadContext): Promise<Map<string, number> | undefined>;
  close?(): Promise<void>;
}

/** How a record differs. */
export type DifferenceKind =
  | 'missing_in_target'
  | 'missing_in_source'
  | 'field_mismatch'
  | 'duplicate_in_source'
  | 'duplicate_in_target';

export interface FieldDifference {
  field: string;
  source: RawValue;
  target: RawValue;
  /** The values as compared, after normalisation. */
  sourceNormalised: string | null;
  targetNormalised: string | null;
  /** Why a value was compared as plain text (`the source value is not a date in MM/DD/YYYY: compared as text`). */
  note?: string;
}

/** One difference the comparison found, before the ledger explains it. */
export interface Difference {
  kind: DifferenceKind;
  /** The identity value, normalised. */
  key: string;
  source?: SideRecord;
  target?: SideRecord;
  /** For `field_mismatch`: each differing field. */
  fields?: FieldDifference[];
  /** For duplicates: how many records share the key on that side. */
  copies?: number;
}

/**
 * Why a record differs, as the ledger tells it:
 * - `never_received`: no message for it reached Sinew (the PMS never sent it);
 * - `filtered`, `rejected`, `errored`: the newest message for it ended so in the pipeline;
 * - `pending`: its delivery is still queued, retrying or parked;
 * - `dead_lettered`: its delivery gave up;
 * - `delivered_not_applied`: the target acknowledged it, yet does not hold it (or holds other values);
 * - `changed_after_delivery`: the source changed after the last message Sinew received for it;
 * - `unexplained`: missing in the target or different there, and the entity has no ledger side
 *   (no `ledger:`), so nothing tells why;
 * - `target_only`: the target holds it, the source does not;
 * - `duplicate`: the key is held more than once on one side.
 */
export type DiscrepancyClass =
  | 'never_received'
  | 'filtered'
  | 'rejected'
  | 'errored'
  | 'pending'
  | 'dead_lettered'
  | 'delivered_not_applied'
  | 'changed_after_delivery'
  | 'unexplained'
  | 'target_only'
  | 'duplicate';

export const DISCREPANCY_CLASSES: readonly DiscrepancyClass[] = [
  'never_received',
  'filtered',
  'rejected',
  'errored',
  'pending',
  'dead_lettered',
  'delivered_not_applied',
  'changed_after_delivery',
  'unexplained',
  'target_only',
  'duplicate',
];

/** The classes a repair can act on (by replaying or reprocessing the messages behind them). */
export const REPAIRABLE_CLASSES: readonly DiscrepancyClass[] = ['dead_lettered', 'delivered_not_applied'];

/** One message the ledger holds for a key, newest first in `LedgerEvidence.messages`. */
export interface EvidenceMessage {
  id: string;
  channelId: string;
  receivedAt: Date;
  messageType?: string;
  controlId?: string;
  status: MessageStatus;
  /** The first issue's code and message, for rejected, errored and filtered messages (no PHI). */
  reason?: string;
  deliveries: Array<{
    id: string;
    destination: string;
    status: DeliveryStatus;
    /** The last attempt's code and error (`HTTP 503`, `AE: …`), when there was one. */
    lastResponse?: string;
    updatedAt: Date;
  }>;
}

/** What the ledger holds for one identity value. */
export interface LedgerEvidence {
  key: string;
  /** Newest first. */
  messages: EvidenceMessage[];
}

/** The ledger's answer for a set of identity values of one entity. */
export interface LedgerLookup {
  evidence(keys: readonly string[]): Promise<Map<string, LedgerEvidence>>;
}

/** A difference explained. */
export interface Discrepancy extends Difference {
  class: DiscrepancyClass;
  /** One sentence, no PHI: `the ADT^A04 of 2026-12-06 10:02 was rejected: adt.mrn …`. */
  reason: string;
  /** The messages behind it, newest first. */
  messageIds: string[];
}

/** Counts of one entity, three ways. */
export interface EntityCounts {
  /** Per status (`''` when the entity has no status). */
  source: Record<string, number>;
  /** Distinct identity values Sinew received in the period (undefined: no ledger side declared). */
  ledger?: number;
  target: Record<string, number>;
}

export interface EntitySummary {
  name: string;
  counts: EntityCounts;
  /** Records present on both sides with equal fields. */
  matched: number;
  byKind: Partial<Record<DifferenceKind, number>>;
  byClass: Partial<Record<DiscrepancyClass, number>>;
  /**
   * When both sides are SQL databases that compared range checksums: the rows each database
   * holds and the rows read to compare (the ranges that differed).
   */
  pushdown?: { rows: { source: number; target: number }; read: { source: number; target: number } };
}

export interface RunSummary {
  entities: EntitySummary[];
  /** Discrepancies in all. */
  discrepancies: number;
  /** Thresholds crossed (`patients.never_received >= 1`), for alerts. */
  alerts: string[];
}

export type RunStatus = 'running' | 'clean' | 'discrepancies' | 'failed';

export interface RunRecord {
  id: string;
  reconciliation: string;
  status: RunStatus;
  trigger: 'schedule' | 'cli' | 'api' | 'catch_up';
  periodFrom?: Date;
  periodTo?: Date;
  periodLabel: string;
  startedAt: Date;
  finishedAt?: Date;
  summary?: RunSummary;
  /** Why a failed run failed (no PHI). */
  error?: string;
}

export interface DiscrepancyRecord extends Discrepancy {
  id: string;
  runId: string;
  entity: string;
  /** Set once `sinew reconcile repair` acted on it. */
  repairedAt?: Date;
  repair?: { by: string; action: 'replayed' | 'reprocessed' | 'skipped'; detail: string };
}

/** A sync-error flag: a critical class was found; open until an operator acknowledges it. */
export interface SyncFlagRecord {
  id: string;
  reconciliation: string;
  entity: string;
  class: DiscrepancyClass;
  /** How many discrepancies of that class the run found. */
  count: number;
  runId: string;
  raisedAt: Date;
  acknowledgedAt?: Date;
  acknowledgedBy?: string;
  note?: string;
}

export type NewRun = Omit<RunRecord, 'id' | 'finishedAt' | 'summary' | 'error' | 'status'>;
export type NewDiscrepancy = Discrepancy & { entity: string };

/** Where runs, discrepancies, schedule claims and sync-error flags are kept (the ledger's database). */
export interface ReconcileStore {
  /** Records a run as `running`; returns it with its id. */
  createRun(run: NewRun): Promise<RunRecord>;
  finishRun(
    id: string,
    outcome: {
      status: Exclude<RunStatus, 'running'>;
      finishedAt: Date;
      summary?: RunSummary;
      error?: string;
    },
  ): Promise<void>;
  /** Appends discrepancies of a running run (called in batches of up to 1,000). */
  addDiscrepancies(runId: string, rows: NewDiscrepancy[]): Promise<void>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /** Newest first. */
  listRuns(filter: { reconciliation?: string; limit?: number }): Promise<RunRecord[]>;
  /** In the order they were added; `after` is the last id of the previous page. */
  listDiscrepancies(
    runId: string,
    filter: { class?: DiscrepancyClass; entity?: string; limit?: number; after?: string },
  ): Promise<DiscrepancyRecord[]>;
  markRepaired(ids: string[], repair: { at: Date } & NonNullable<DiscrepancyRecord['repair']>): Promise<void>;
  /**
   * Claims the scheduled run of `reconciliation` due at `dueAt` for `owner`: true for exactly one
   * caller across processes (a unique row), false for every other.
   */
  claimSchedule(reconciliation: string, dueAt: Date, owner: string): Promise<boolean>;
  /** The latest due time claimed for `reconciliation`, if any. */
  lastClaimed(reconciliation: string): Promise<Date | undefined>;
  /** Raises a flag, or returns the open one for the same reconciliation, entity and class (updating count and runId). */
  raiseFlag(
    flag: Omit<SyncFlagRecord, 'id' | 'acknowledgedAt' | 'acknowledgedBy' | 'note'>,
  ): Promise<SyncFlagRecord>;
  listFlags(filter: { open?: boolean; limit?: number }): Promise<SyncFlagRecord[]>;
  acknowledgeFlag(id: string, by: string, at: Date, note?: string): Promise<SyncFlagRecord | undefined>;
  /** Deletes runs (and their discrepancies) that finished before `before`; returns how many. */
  deleteRunsBefore(before: Date): Promise<number>;
  /**
   * How many distinct values of the business key `key` the messages of `channels` received in
   * `[since, until)` carry, counted by the database in one `count(DISTINCT …)` query; each value
   * is first normalised by `normalise` in order (trim: spaces, tabs, CR and LF; upper and lower:
   * the database's case mapping), and an empty result is not counted. A store without it has the
   * ledger's messages paged through instead.
   */
  countLedgerKeys?(query: LedgerKeyCount): Promise<number>;
}

/** What `countLedgerKeys` counts. */
export interface LedgerKeyCount {
  channels: readonly string[];
  key: string;
  since?: Date;
  until?: Date;
  normalise: ReadonlyArray<'trim' | 'upper' | 'lower'>;
}
