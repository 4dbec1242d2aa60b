/** What the CLI, the admin API and the scheduler ask of the reconciliations a process knows. */
import type { RepairAction, RepairOptions } from './repair';
import type { ReconcileStore, RunRecord, SyncFlagRecord } from './types';

export interface ReconciliationInfo {
  id: string;
  description?: string;
  /** The file it was read from. */
  file: string;
  schedule: { cron: string; timezone: string; next?: Date };
  period: string;
  entities: string[];
}

export interface StartOptions {
  /** Overrides the declared period (`yesterday`, `2026-12-01`, `2026-12-01..2026-12-07`, `all`). */
  period?: string;
  trigger: RunRecord['trigger'];
}

export interface Reconciler {
  readonly store: ReconcileStore;
  list(): ReconciliationInfo[];
  get(id: string): ReconciliationInfo | undefined;
  /** Runs one and resolves when it has finished (stored as clean, discrepancies or failed). */
  run(id: string, options: StartOptions): Promise<RunRecord>;
  /** Starts one and resolves once it is recorded as running; `done` resolves when it finishes. */
  start(id: string, options: StartOptions): Promise<{ run: RunRecord; done: Promise<RunRecord> }>;
  repair(runId: string, options: RepairOptions): Promise<RepairAction[]>;
  /** Acknowledges a sync-error flag (and resumes the channels it paused when it was the last). */
  acknowledge(flagId: string, by: string, note?: string): Promise<SyncFlagRecord | undefined>;
}

/** An unknown reconciliation or run, or a period that cannot be read: the caller's mistake. */
export class ReconcileRequestError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(message);
    this.name = 'ReconcileRequestError';
  }
}
