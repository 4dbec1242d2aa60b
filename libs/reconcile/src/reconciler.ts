/**
 * The reconciliations of one folder, compiled, and what the CLI, the admin API and the
 * scheduler do with them: run one, repair a run, acknowledge a sync-error flag.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { ChannelEnvironment, LintProblem } from '@sinew/channels';
import { PeriodError, nextRun, resolvePeriod } from './period';
import { repairRun, type RepairLedger } from './repair';
import { runReconciliation, type ClassifyFn, type CompareFn, type RunnerEntity } from './runner';
import {
  compileReconciliationFiles,
  isReconciliationText,
  yamlFiles,
  type EntityConfig,
  type Reconciliation,
  type SideSchemas,
} from './schema';
import {
  ReconcileRequestError,
  type ReconciliationInfo,
  type Reconciler,
  type StartOptions,
} from './service-types';
import type { LedgerStore } from './ledger';
import type { ReconcileStore, RunRecord, Side, SideReader, SyncFlagRecord } from './types';

/** Builds the reader of one side of an entity from its system's and side's settings. */
export type ReaderFactory = (reconciliation: Reconciliation, entity: EntityConfig, side: Side) => SideReader;

export interface ReconcilerParts {
  /** The adapters' settings schemas (for the compile). */
  sideSchemas?: SideSchemas;
  reader: ReaderFactory;
  compare: (entity: EntityConfig, reconciliation: Reconciliation) => CompareFn;
  classify: (entity: EntityConfig, reconciliation: Reconciliation) => ClassifyFn;
  /** Normalises an identity value the way the comparison does. */
  normaliseKey: (entity: EntityConfig) => (key: string) => string;
}

export interface ReconcilerHooks {
  /** After each finished run (alerts, sync-error flags); a failure here is logged, not the run's. */
  afterRun?(reconciliation: Reconciliation, run: RunRecord): Promise<void>;
  /**
   * Acknowledges a flag in place of the store alone (the fail-safe's, which resumes the channels
   * it paused when it was the reconciliation's last open flag).
   */
  acknowledge?(flagId: string, by: string, note?: string): Promise<SyncFlagRecord | undefined>;
  /**
   * After a run that found discrepancies (the `reconciliation.discrepancy` webhook event); a
   * failure here is logged, not the run's.
   */
  discrepancies?(reconciliation: Reconciliation, run: RunRecord): Promise<void>;
  /** After a repair that re-sent something (wake the deliveries up). */
  afterRepair?(): void;
  /** Reports a hook's failure (no PHI). */
  warn?(message: string, fields: Record<string, unknown>): void;
}

export interface ReconcilerOptions {
  /** The compiled reconciliations (see `loadReconciliationFolder`). */
  reconciliations: readonly Reconciliation[];
  store: ReconcileStore;
  /** The engine's ledger: the third count and the explanation of each difference. */
  ledger?: LedgerStore & RepairLedger;
  parts: ReconcilerParts;
  hooks?: ReconcilerHooks;
  now?: () => Date;
}

/**
 * Compiles every reconciliation file of a folder (a YAML file with a top-level `entities:`; a
 * missing folder holds none), as `sinew lint` compiles them: relative paths from each file's own
 * folder, and a second file holding an id refused.
 */
export function loadReconciliationFolder(
  dir: string,
  env: ChannelEnvironment,
  sideSchemas?: SideSchemas,
  displayPath: (path: string) => string = (p) => relative(process.cwd(), p) || p,
): { reconciliations: Reconciliation[]; problems: LintProblem[] } {
  if (!existsSync(dir)) return { reconciliations: [], problems: [] };
  const files = yamlFiles(dir)
    .map((path) => ({ path, file: displayPath(path), text: readFileSync(path, 'utf8') }))
    .filter((f) => isReconciliationText(f.text));
  const loaded = compileReconciliationFiles(files, env, sideSchemas ? { sideSchemas } : {});
  return {
    reconciliations: loaded.flatMap((l) => (l.reconciliation ? [l.reconciliation] : [])),
    problems: loaded.flatMap((l) => l.problems),
  };
}

/** Counts per status in the target's codes when a compared `status` field maps the source's. */
function statusMap(e: EntityConfig): Pick<RunnerEntity, 'sourceStatus'> {
  const map = e.status ? e.fields.find((f) => f.name === 'status')?.map : undefined;
  if (!map) return {};
  return { sourceStatus: (status) => map[status] ?? status };
}

/** What a process knows of its reconciliations. */
export class FolderReconciler implements Reconciler {
  readonly store: ReconcileStore;
  private readonly byId = new Map<string, Reconciliation>();
  private readonly now: () => Date;
  /** Runs in progress (the engine waits for them before it closes the ledger). */
  private readonly inProgress = new Set<Promise<RunRecord>>();

  constructor(private readonly options: ReconcilerOptions) {
    this.store = options.store;
    this.now = options.now ?? (() => new Date());
    for (const r of options.reconciliations) this.byId.set(r.id, r);
  }

  /** The compiled reconciliation, for the scheduler. */
  reconciliation(id: string): Reconciliation | undefined {
    return this.byId.get(id);
  }

  list(): ReconciliationInfo[] {
    return [...this.byId.values()].map((r) => this.info(r));
  }

  get(id: string): ReconciliationInfo | undefined {
    const r = this.byId.get(id);
    return r ? this.info(r) : undefined;
  }

  private info(r: Reconciliation): ReconciliationInfo {
    const next = nextRun(r.schedule.cron, r.schedule.timezone, this.now());
    return {
      id: r.id,
      ...(r.description ? { description: r.description } : {}),
      file: r.file,
      schedule: { ...r.schedule, ...(next ? { next } : {}) },
      period: r.period,
      entities: r.entities.map((e) => e.name),
    };
  }

  private prepare(id: string, options: StartOptions) {
    const r = this.byId.get(id);
    if (!r) {
      const known = [...this.byId.keys()];
      throw new ReconcileRequestError(
        `no reconciliation ${id}${known.length ? ` (known: ${known.join(', ')})` : ' (the folder holds none)'}`,
        404,
      );
    }
    let period;
    try {
      period = resolvePeriod(options.period ?? r.period, r.timezone, this.now());
    } catch (err) {
      if (err instanceof PeriodError) throw new ReconcileRequestError(err.message);
      throw err;
    }
    const { parts } = this.options;
    const entities: RunnerEntity[] = r.entities.map((e) => ({
      name: e.name,
      fields: e.fields.map((f) => f.name),
      withStatus: e.status,
      ...(e.ledger ? { ledger: e.ledger } : {}),
      alerts: e.alerts,
      critical: e.critical,
      normaliseKey: parts.normaliseKey(e),
      identityNormalise: e.identityNormalise,
      ...statusMap(e),
      rawEqualIsEqual:
        e.pushdown === true && e.fields.every((f) => !f.map && f.sourceFormat === f.targetFormat),
    }));
    const entity = (name: string): EntityConfig => r.entities.find((e) => e.name === name) as EntityConfig;
    return {
      r,
      request: {
        reconciliation: r.id,
        entities,
        period,
        trigger: options.trigger,
        baseDir: r.baseDir,
        reader: (name: string, side: Side) => parts.reader(r, entity(name), side),
        compare: (name: string) => parts.compare(entity(name), r),
        classify: (name: string) => parts.classify(entity(name), r),
      },
    };
  }

  private async finish(r: Reconciliation, run: RunRecord): Promise<RunRecord> {
    const hooks = this.options.hooks;
    const call = async (hook: ((r: Reconciliation, run: RunRecord) => Promise<void>) | undefined) => {
      if (!hook) return;
      try {
        await hook(r, run);
      } catch (err) {
        hooks?.warn?.('reconciliation hook failed', {
          reconciliation: r.id,
          run: run.id,
          error: err instanceof Error ? err.message.split('\n')[0] : String(err),
        });
      }
    };
    await call(hooks?.afterRun?.bind(hooks));
    if (run.status === 'discrepancies') await call(hooks?.discrepancies?.bind(hooks));
    return run;
  }

  async run(id: string, options: StartOptions): Promise<RunRecord> {
    return (await this.start(id, options)).done;
  }

  async start(id: string, options: StartOptions): Promise<{ run: RunRecord; done: Promise<RunRecord> }> {
    const { r, request } = this.prepare(id, options);
    let started!: (run: RunRecord) => void;
    let failedToStart!: (err: unknown) => void;
    const startedPromise = new Promise<RunRecord>((resolve, reject) => {
      started = resolve;
      failedToStart = reject;
    });
    const done = runReconciliation(request, {
      store: this.store,
      ...(this.options.ledger ? { ledger: this.options.ledger } : {}),
      now: this.now,
      onStarted: started,
    }).then(
      (run) => this.finish(r, run),
      (err: unknown) => {
        failedToStart(err);
        throw err;
      },
    );
    this.inProgress.add(done);
    void done.finally(() => this.inProgress.delete(done)).catch(() => undefined);
    const run = await startedPromise;
    return { run, done };
  }

  /** Resolves once no run is in progress. */
  async idle(): Promise<void> {
    while (this.inProgress.size > 0) await Promise.allSettled([...this.inProgress]);
  }

  async repair(runId: string, options: Parameters<Reconciler['repair']>[1]) {
    if (!this.options.ledger) throw new ReconcileRequestError('repair needs the ledger', 409);
    const actions = await repairRun(this.store, this.options.ledger, runId, { now: this.now, ...options });
    if (!options.dryRun && actions.some((a) => a.action === 'replayed')) this.options.hooks?.afterRepair?.();
    return actions;
  }

  async acknowledge(flagId: string, by: string, note?: string): Promise<SyncFlagRecord | undefined> {
    const hooks = this.options.hooks;
    if (hooks?.acknowledge) return hooks.acknowledge(flagId, by, note);
    return this.store.acknowledgeFlag(flagId, by, this.now(), note);
  }
}
