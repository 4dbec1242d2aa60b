import { zonedParts } from './period';
import type { Difference, Discrepancy, DiscrepancyClass, EvidenceMessage, LedgerEvidence } from './types';

export interface ClassifyOptions {
  /** The identity's name as the reconciliation declares it (`mrn`): reasons name it, never its value. */
  identity: string;
  /** The zone times in reasons are written in (default UTC). */
  timezone?: string;
}

function when(d: Date, timezone: string): string {
  const t = d.getTime();
  if (!Number.isFinite(t)) return 'an unknown time';
  const p = zonedParts(t, timezone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${p.year}-${two(p.month)}-${two(p.day)} ${two(p.hour)}:${two(p.minute)} ${timezone}`;
}

function describe(m: EvidenceMessage, timezone: string): string {
  return `the ${m.messageType ?? 'message'} received ${when(m.receivedAt, timezone)}`;
}

function withReason(text: string, reason: string | undefined): string {
  return reason ? `${text}: ${reason}` : text;
}

/**
 * Explains a difference with what the ledger holds for its key (pure: same input, same answer).
 * A record missing on the source side is `target_only`, a key held twice on one side `duplicate`.
 * For a record missing on the target side or differing there, without evidence (the entity has no
 * ledger side, so the ledger was not asked) → `unexplained`; otherwise the newest message decides:
 * none → `never_received`; ended `filtered`/`rejected`/`errored` → that class; not yet through the
 * pipeline (`received`) → `pending`; a delivery dead-lettered → `dead_lettered`; a delivery
 * pending, retrying or parked → `pending`; every delivery sent → `changed_after_delivery` when the
 * source record changed after that message was received, else `delivered_not_applied`. Reasons
 * name message types, times, destinations and issue codes, never the record's values.
 */
export function classify(
  difference: Difference,
  evidence: LedgerEvidence | undefined,
  options: ClassifyOptions,
): Discrepancy {
  const timezone = options.timezone ?? 'UTC';
  const messages = evidence?.messages ?? [];
  const messageIds = messages.map((m) => m.id);
  const done = (cls: DiscrepancyClass, reason: string): Discrepancy => ({
    ...difference,
    class: cls,
    reason,
    messageIds,
  });
  const side = difference.kind === 'duplicate_in_source' ? 'source' : 'target';
  switch (difference.kind) {
    case 'missing_in_source':
      return done('target_only', `the target holds this ${options.identity}; the source does not`);
    case 'duplicate_in_source':
    case 'duplicate_in_target':
      return done(
        'duplicate',
        `the ${side} holds ${difference.copies ?? 'several'} records with this ${options.identity}`,
      );
    case 'missing_in_target':
    case 'field_mismatch':
      break;
  }
  const what =
    difference.kind === 'missing_in_target'
      ? 'the target does not hold the record'
      : `the target holds other values (${(difference.fields ?? []).map((f) => f.field).join(', ')})`;
  if (evidence === undefined)
    return done('unexplained', `${what}; the entity has no ledger side, so Sinew cannot tell why`);
  const newest = messages[0];
  if (!newest)
    return done('never_received', `no message for this ${options.identity} reached Sinew in the ledger`);
  const about = describe(newest, timezone);
  switch (newest.status) {
    case 'filtered':
      return done('filtered', withReason(`${about} was filtered out`, newest.reason));
    case 'rejected':
      return done('rejected', withReason(`${about} was rejected`, newest.reason));
    case 'errored':
      return done('errored', withReason(`${about} failed in the pipeline`, newest.reason));
    case 'received':
      return done('pending', `${about} has not been processed yet`);
    default:
      break;
  }
  const dead = newest.deliveries.find((d) => d.status === 'dead_lettered');
  if (dead)
    return done(
      'dead_lettered',
      withReason(
        `${about} was dead-lettered at ${dead.destination}`,
        dead.lastResponse && `last response ${dead.lastResponse}`,
      ),
    );
  const waiting = newest.deliveries.find(
    (d) => d.status === 'pending' || d.status === 'retrying' || d.status === 'parked',
  );
  if (waiting)
    return done(
      'pending',
      withReason(
        `${about} is ${waiting.status === 'parked' ? 'parked' : waiting.status === 'retrying' ? 'being retried' : 'queued'} for ${waiting.destination}`,
        waiting.lastResponse && `last response ${waiting.lastResponse}`,
      ),
    );
  const updated = difference.source?.updatedAt ? Date.parse(difference.source.updatedAt) : NaN;
  if (Number.isFinite(updated) && updated > newest.receivedAt.getTime())
    return done(
      'changed_after_delivery',
      `the source record changed after ${about} (no later message reached Sinew); ${what}`,
    );
  const destinations = [...new Set(newest.deliveries.map((d) => d.destination))];
  return done(
    'delivered_not_applied',
    destinations.length
      ? `${about} was delivered to ${destinations.join(', ')}, yet ${what}`
      : `${about} was processed but no destination delivered it; ${what}`,
  );
}
