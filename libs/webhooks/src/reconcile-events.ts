import type { RunRecord } from '@sinew/reconcile';
import type { WebhookEvent } from './types';

/**
 * The `reconciliation.discrepancy` event of a finished run that found discrepancies: which
 * reconciliation, the run, its period, and counts per entity and class (never a record's
 * values). Reconciliations compare the production systems, so the event is a production one.
 */
export function discrepancyEvent(run: RunRecord): Omit<WebhookEvent, 'id' | 'seq' | 'change'> {
  const byClass: Record<string, number> = {};
  const entities = (run.summary?.entities ?? []).map((e) => {
    for (const [k, n] of Object.entries(e.byClass)) byClass[k] = (byClass[k] ?? 0) + n;
    return { name: e.name, matched: e.matched, byClass: e.byClass };
  });
  return {
    type: 'reconciliation.discrepancy',
    environment: 'production',
    at: (run.finishedAt ?? new Date()).toISOString(),
    patientId: null,
    data: {
      reconciliation: run.reconciliation,
      runId: run.id,
      period: {
        label: run.periodLabel,
        ...(run.periodFrom ? { from: run.periodFrom.toISOString() } : {}),
        ...(run.periodTo ? { to: run.periodTo.toISOString() } : {}),
      },
      discrepancies: run.summary?.discrepancies ?? 0,
      byClass,
      entities,
    },
  };
}
