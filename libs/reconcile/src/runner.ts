/**
 * One run of a reconciliation: each entity's two sides read through their adapters, compared
 * record by record, every difference explained by the ledger, everything stored as it is found.
 * A run that cannot finish is recorded as `failed` with the reason, never as clean.
 */
import { z } from 'zod';
import { canChecksumDiff, sqlChecksumDiff, type ChecksumDiffStats } from './adapters/sql-checksum';
import { ledgerCount, ledgerLookup, ledgerRecords, type LedgerStore } from './ledger';
import type { Normaliser } from './schema';
import type {
  Difference,
  Discrepancy,
  DiscrepancyClass,
  EntitySummary,
  LedgerEvidence,
  Period,
  ReadContext,
  ReconcileStore,
  RunRecord,
  RunSummary,
  Side,
  SideReader,
  SideRecord,
  SideRecords,
} from './types';

/** What the runner needs to know of an entity (the compiled file gives more). */
export interface RunnerEntity {
  name: string;
  /** The compared fields' names. */
  fields: readonly string[];
  withStatus: boolean;
  ledger?: { channels: readonly string[]; key: string };
  /** Threshold per class: a count at or above it is an alert. */
  alerts?: Partial<Record<DiscrepancyClass, number>>;
  critical?: readonly DiscrepancyClass[];
  /** Normalises an identity value the way the comparison does. */
  normaliseKey(key: string): string;
  /** The identity's normalisers, in order (lets the ledger count distinct keys in SQL). */
  identityNormalise?: readonly Normaliser[];
  /**
   * The source's status in the target's code set (the `map` of a compared field named `status`),
   * so that counts per status line up; none: counted as read.
   */
  sourceStatus?(status: string): string;
  /**
   * Whether two SQL databases may compare range checksums: asked for (`pushdown: true`), and two
   * records whose raw values are equal always compare equal (no code map, one date format).
   */
  rawEqualIsEqual?: boolean;
}

/** What compares the two sides of an entity (compare.ts). */
export type CompareFn = (
  source: SideRecords,
  target: SideRecords,
  entity: string,
) => {
  differences: AsyncIterable<Difference>;
  result: Promise<{
    matched: number;
    sourceCounts: Record<string, number>;
    targetCounts: Record<string, number>;
  }>;
};

/** Explains a difference with the ledger (classify.ts). */
export type ClassifyFn = (difference: Difference, evidence: LedgerEvidence | undefined) => Discrepancy;

export interface RunRequest {
  reconciliation: string;
  entities: readonly RunnerEntity[];
  period: Period;
  trigger: RunRecord['trigger'];
  /** Builds the reader of one side of one entity. */
  reader(entity: string, side: Side): SideReader;
  compare(entity: string): CompareFn;
  classify(entity: string): ClassifyFn;
  baseDir: string;
}

export interface RunnerDeps {
  store: ReconcileStore;
  /**
   * The ledger (for the third count and the explanations); none, or an entity without a ledger
   * side: a record missing in the target or differing there is `unexplained`.
   */
  ledger?: LedgerStore;
  now?: () => Date;
  /** Cancels the run (engine shutdown); the run is then recorded as failed. */
  signal?: AbortSignal;
  /** Told once the run is recorded as running. */
  onStarted?: (run: RunRecord) => void;
}

const BATCH = 500;

/** Reasons never carry values: an error's message is kept only up to its first line, trimmed. */
function failureReason(err: unknown): string {
  if (err instanceof z.ZodError)
    return `settings: ${err.issues
      .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
      .join('; ')
      .slice(0, 480)}`;
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n')[0] ?? 'failed').slice(0, 500);
}

/** Runs one reconciliation and returns its stored record (status clean, discrepancies or failed). */
export async function runReconciliation(request: RunRequest, deps: RunnerDeps): Promise<RunRecord> {
  const now = deps.now ?? (() => new Date());
  const run = await deps.store.createRun({
    reconciliation: request.reconciliation,
    trigger: request.trigger,
    ...(request.period.from ? { periodFrom: request.period.from } : {}),
    ...(request.period.to ? { periodTo: request.period.to } : {}),
    periodLabel: request.period.label,
    startedAt: now(),
  });
  deps.onStarted?.(run);
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(deps.signal?.reason);
  deps.signal?.addEventListener('abort', onAbort, { once: true });
  const summary: RunSummary = { entities: [], discrepancies: 0, alerts: [] };
  try {
    for (const entity of request.entities) {
      controller.signal.throwIfAborted();
      summary.entities.push(await runEntity(run.id, entity, request, deps, controller.signal));
    }
    for (const e of summary.entities) {
      const declared = request.entities.find((x) => x.name === e.name);
      for (const [cls, threshold] of Object.entries(declared?.alerts ?? {})) {
        const count = e.byClass[cls as DiscrepancyClass] ?? 0;
        if (threshold !== undefined && count >= threshold)
          summary.alerts.push(`${e.name}.${cls} >= ${threshold}`);
      }
      summary.discrepancies += Object.values(e.byClass).reduce((a, b) => a + (b ?? 0), 0);
    }
    const status = summary.discrepancies === 0 ? 'clean' : 'discrepancies';
    const finishedAt = now();
    await deps.store.finishRun(run.id, { status, finishedAt, summary });
    return { ...run, status, finishedAt, summary };
  } catch (err) {
    const error = failureReason(err);
    const finishedAt = now();
    await deps.store.finishRun(run.id, { status: 'failed', finishedAt, summary, error });
    return { ...run, status: 'failed', finishedAt, summary, error };
  } finally {
    deps.signal?.removeEventListener('abort', onAbort);
  }
}

async function runEntity(
  runId: string,
  entity: RunnerEntity,
  request: RunRequest,
  deps: RunnerDeps,
  signal: AbortSignal,
): Promise<EntitySummary> {
  const ctx = (side: Side): ReadContext => ({
    entity: entity.name,
    side,
    period: request.period,
    fields: entity.fields,
    withStatus: entity.withStatus,
    signal,
    baseDir: request.baseDir,
  });
  const source = request.reader(entity.name, 'source');
  const target = request.reader(entity.name, 'target');
  try {
    const lookup =
      deps.ledger && entity.ledger
        ? ledgerLookup(deps.ledger, { channels: entity.ledger.channels, key: entity.ledger.key })
        : undefined;
    // Both sides in SQL: the databases compare range checksums, and only the rows of the ranges
    // that differ are read and compared here (a run over millions of equal rows reads few).
    let pushdown: ChecksumDiffStats | undefined;
    let sourceRecords: SideRecords;
    let targetRecords: SideRecords;
    if (entity.rawEqualIsEqual && canChecksumDiff(source, target)) {
      const stats = {} as ChecksumDiffStats;
      const fromSource: SideRecord[] = [];
      const fromTarget: SideRecord[] = [];
      const { side: _side, ...both } = ctx('source');
      for await (const range of sqlChecksumDiff(source, target, both, { stats })) {
        for (const r of range.source) fromSource.push(r);
        for (const r of range.target) fromTarget.push(r);
      }
      pushdown = stats;
      sourceRecords = onePage(fromSource);
      targetRecords = onePage(fromTarget);
    } else {
      sourceRecords = source.read(ctx('source'));
      targetRecords = target.read(ctx('target'));
    }
    const { differences, result } = request.compare(entity.name)(sourceRecords, targetRecords, entity.name);
    const classifyOne = request.classify(entity.name);
    const byKind: EntitySummary['byKind'] = {};
    const byClass: EntitySummary['byClass'] = {};
    let batch: Difference[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const pending = batch;
      batch = [];
      const keys = new Set<string>();
      for (const d of pending) {
        keys.add(d.key);
        if (d.source?.key) keys.add(d.source.key);
      }
      const evidence = lookup ? await lookup.evidence([...keys]) : undefined;
      const rows = pending.map((d) => {
        // Asked and silent is evidence too (nothing reached Sinew); not asked is none.
        const found = evidence ? (evidenceOf(evidence, d) ?? { key: d.key, messages: [] }) : undefined;
        const row = classifyOne(d, found);
        return { ...row, entity: entity.name };
      });
      for (const row of rows) {
        byKind[row.kind] = (byKind[row.kind] ?? 0) + 1;
        byClass[row.class] = (byClass[row.class] ?? 0) + 1;
      }
      await deps.store.addDiscrepancies(runId, rows);
    };
    for await (const difference of differences) {
      batch.push(difference);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    const compared = await result;
    if (entity.sourceStatus) {
      const mapped: Record<string, number> = {};
      for (const [status, n] of Object.entries(compared.sourceCounts)) {
        const to = status === '' ? '' : entity.sourceStatus(status);
        mapped[to] = (mapped[to] ?? 0) + n;
      }
      compared.sourceCounts = mapped;
    }
    const [sourceCounts, targetCounts, ledger] = await Promise.all([
      countOf(source, ctx('source'), compared.sourceCounts, pushdown !== undefined),
      countOf(target, ctx('target'), compared.targetCounts, pushdown !== undefined),
      deps.ledger && entity.ledger
        ? ledgerCount(
            deps.ledger,
            entity.ledger,
            request.period,
            (k) => entity.normaliseKey(k),
            entity.identityNormalise,
          )
        : Promise.resolve(undefined),
    ]);
    return {
      name: entity.name,
      counts: { source: sourceCounts, target: targetCounts, ...(ledger !== undefined ? { ledger } : {}) },
      // Rows of the ranges whose checksums agreed were equal on both sides without being read.
      matched: compared.matched + (pushdown ? pushdown.rowsTotal.source - pushdown.rowsFetched.source : 0),
      byKind,
      byClass,
      ...(pushdown ? { pushdown: { rows: pushdown.rowsTotal, read: pushdown.rowsFetched } } : {}),
    };
  } finally {
    await Promise.allSettled([source.close?.(), target.close?.()]);
  }
}

/**
 * The ledger's evidence for a difference: the messages carrying its normalised key and those
 * carrying the source's key as written (a PMS's lower-case MRN compared upper-cased), newest
 * first. The lookup answers every key it was asked, so an empty answer for one form must not
 * hide the other's messages.
 */
function evidenceOf(evidence: Map<string, LedgerEvidence>, d: Difference): LedgerEvidence | undefined {
  const normalised = evidence.get(d.key);
  const raw = d.source && d.source.key !== d.key ? evidence.get(d.source.key) : undefined;
  if (!raw || raw.messages.length === 0) return normalised;
  if (!normalised || normalised.messages.length === 0) return raw;
  const byId = new Map([...normalised.messages, ...raw.messages].map((m) => [m.id, m]));
  const messages = [...byId.values()].sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime());
  return { key: d.key, messages };
}

/** The system's own count when it gives one (it may differ from what a read yields: that is reported as is). */
async function countOf(
  reader: SideReader,
  ctx: ReadContext,
  counted: Record<string, number>,
  /** The comparison saw only part of the records (SQL pushdown): the system's own count is the count. */
  partial = false,
): Promise<Record<string, number>> {
  if (!reader.count || (ctx.withStatus && !partial)) return counted;
  const own = await reader.count(ctx).catch(() => undefined);
  return own ? Object.fromEntries(own) : counted;
}

async function* onePage<T>(items: readonly T[]): AsyncGenerator<readonly T[]> {
  yield items;
}

/** A reader of a `ledger` system's side: the identity values Sinew received. */
export function ledgerReader(
  store: LedgerStore,
  scope: { channels: readonly string[]; key: string },
): SideReader {
  return {
    read: (ctx) => ledgerRecords(store, scope, ctx.period),
  };
}
