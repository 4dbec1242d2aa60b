/**
 * The reconciliation's words: each discrepancy class with what it means and what to do about it,
 * each kind of difference, each run status. Shared by the reconciliation pages.
 */
import type { DifferenceKind, DiscrepancyClass, RunJson, RunStatus } from '../lib/api';

export interface ClassInfo {
  label: string;
  /** What it means, in plain words. */
  meaning: string;
  /** What to do about it. */
  todo: string;
}

/** Every class in the order the pages show them: the ones needing action first. */
export const CLASSES: readonly DiscrepancyClass[] = [
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

/** The classes a repair acts on, by replaying the messages behind them. */
export const REPAIRABLE: readonly DiscrepancyClass[] = ['dead_lettered', 'delivered_not_applied'];

export const CLASS_INFO: Record<DiscrepancyClass, ClassInfo> = {
  never_received: {
    label: 'Never received',
    meaning:
      'The source holds the record, but no message about it ever reached Sinew: the source never sent it, or it was lost on the way.',
    todo: 'Check the source system’s interface for this record (was the change saved with its notification turned off?) and have it send the record again.',
  },
  filtered: {
    label: 'Filtered',
    meaning: 'Sinew received the record’s newest message, and the channel’s filter dropped it on purpose.',
    todo: 'If the record should reach the target, change the channel’s filter, then resend the record from the source.',
  },
  rejected: {
    label: 'Rejected',
    meaning:
      'Sinew received the record’s newest message and refused it: it failed the channel’s validation (the reason says which rule).',
    todo: 'Correct the record in the source system so that it passes (or fix the rule), then resend it from the source.',
  },
  errored: {
    label: 'Errored',
    meaning: 'Sinew received the record’s newest message, and its processing failed with an error.',
    todo: 'Open the message to read the error, fix the channel or the data, then resend the record.',
  },
  pending: {
    label: 'Pending',
    meaning:
      'The record’s message is still on its way: received and not processed yet, or its delivery is queued, being retried or parked.',
    todo: 'Usually nothing: it should clear by the next run. If it stays, look at the destination’s state on the dashboard.',
  },
  dead_lettered: {
    label: 'Dead-lettered',
    meaning:
      'Sinew gave up delivering the record’s message to the target after its retries (the reason gives the last answer).',
    todo: 'Fix what the target complained about, then repair: the messages are delivered again.',
  },
  delivered_not_applied: {
    label: 'Delivered, not applied',
    meaning:
      'The target acknowledged the record’s message, yet it does not hold the record, or holds other values: it was lost or changed after delivery.',
    todo: 'Ask the target’s administrators why it was not kept (deleted, merged, overwritten), then repair to deliver it again.',
  },
  changed_after_delivery: {
    label: 'Changed after delivery',
    meaning:
      'The source changed the record after the last message Sinew received for it: a change whose notification never fired.',
    todo: 'Have the source send the record again (save it once more, or trigger its interface), and report the missing notification to its vendor.',
  },
  unexplained: {
    label: 'Not explained',
    meaning:
      'The record is missing in the target or differs there, and this entity has no ledger side, so Sinew did not look for the messages behind it.',
    todo: 'Search the messages for the record’s identifier; to have later runs explain it, add a ledger: to the entity in the reconciliation file.',
  },
  target_only: {
    label: 'Only in the target',
    meaning:
      'The target holds a record the source does not: created directly in the target, or deleted in the source.',
    todo: 'Decide with the clinic which system is right: remove or merge it in the target, or create it in the source.',
  },
  duplicate: {
    label: 'Duplicate',
    meaning: 'The same identity is held by more than one record on one side.',
    todo: 'Merge the duplicate records in the system that holds them.',
  },
};

export const KIND_TEXT: Record<DifferenceKind, string> = {
  missing_in_target: 'missing in the target',
  missing_in_source: 'missing in the source',
  field_mismatch: 'fields differ',
  duplicate_in_source: 'duplicated in the source',
  duplicate_in_target: 'duplicated in the target',
};

export function classLabel(c: string): string {
  return (CLASS_INFO as Record<string, ClassInfo | undefined>)[c]?.label ?? c.replace(/_/g, ' ');
}

export function kindText(k: string): string {
  return (KIND_TEXT as Record<string, string | undefined>)[k] ?? k.replace(/_/g, ' ');
}

const STATUS: Record<RunStatus, { label: string; tone: string }> = {
  running: { label: 'Running', tone: 'unknown' },
  clean: { label: 'Clean', tone: 'ok' },
  discrepancies: { label: 'Discrepancies', tone: 'warn' },
  failed: { label: 'Failed', tone: 'bad' },
};

/** A run's status as a badge, told in words (never by colour alone). */
export function RunStatusBadge({ status }: { status: RunStatus }) {
  const s = STATUS[status] ?? { label: status, tone: 'unknown' };
  return <span className={`badge ${s.tone}`}>{s.label}</span>;
}

export const TRIGGER_TEXT: Record<RunJson['trigger'], string> = {
  schedule: 'on schedule',
  cli: 'from the command line',
  api: 'from the console or the API',
  catch_up: 'catching up a missed schedule',
};

/** How many discrepancies of each class a run found, over all its entities. */
export function classCounts(run: RunJson): Map<DiscrepancyClass, number> {
  const out = new Map<DiscrepancyClass, number>();
  for (const e of run.summary?.entities ?? [])
    for (const [c, n] of Object.entries(e.byClass) as Array<[DiscrepancyClass, number | undefined]>)
      if (n) out.set(c, (out.get(c) ?? 0) + n);
  return new Map(
    [...out].sort(
      ([a], [b]) =>
        (CLASSES.indexOf(a) + 1 || CLASSES.length + 1) - (CLASSES.indexOf(b) + 1 || CLASSES.length + 1),
    ),
  );
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

/** `2 min 5 s`, `850 ms`: how long a run took. */
export function durationBetween(from: string, to: string | undefined): string | undefined {
  if (!to) return undefined;
  const ms = new Date(to).getTime() - new Date(from).getTime();
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
