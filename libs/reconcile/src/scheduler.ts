import { Cron } from 'croner';
import type { ReconcileStore, RunRecord } from './types';

/** A reconciliation as the scheduler sees it: when it is due. */
export interface ScheduledReconciliation {
  id: string;
  /** 5-field cron expression. */
  cron: string;
  /** IANA time zone the expression is read in. */
  timezone: string;
}

/** Time as the scheduler reads it (a test gives its own). */
export interface SchedulerClock {
  now(): Date;
  /** Calls `fn` once after `ms`; returns what cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: SchedulerClock = {
  now: () => new Date(),
  setTimer: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    // The engine's servers keep the process alive; a pending schedule alone does not.
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface SchedulerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ReconcileSchedulerOptions {
  reconciliations: readonly ScheduledReconciliation[];
  store: Pick<ReconcileStore, 'claimSchedule' | 'lastClaimed'>;
  /**
   * Runs one reconciliation and records it (a failure is recorded by the callee: whatever it
   * throws is logged here and the schedule goes on).
   */
  run(
    id: string,
    trigger: Extract<RunRecord['trigger'], 'schedule' | 'catch_up'>,
    dueAt: Date,
  ): Promise<unknown>;
  /** Who claims the runs (`host:pid`), kept with each claim. */
  owner: string;
  clock?: SchedulerClock;
  logger?: SchedulerLogger;
  /**
   * At start, run the latest due time before now that no process claimed (a run missed while
   * no scheduler was up). Default true.
   */
  catchUp?: boolean;
}

/** Longest single wait: the due time is checked against the clock again after it. */
const MAX_WAIT_MS = 60_000;

function cronOf(r: ScheduledReconciliation): Cron {
  return new Cron(r.cron, { timezone: r.timezone, mode: '5-part', paused: true });
}

/** The first due time strictly after `after`. */
export function nextDue(r: ScheduledReconciliation, after: Date): Date | undefined {
  const job = cronOf(r);
  try {
    return job.nextRun(after) ?? undefined;
  } finally {
    job.stop();
  }
}

/** The last due time strictly before `before`. */
export function previousDue(r: ScheduledReconciliation, before: Date): Date | undefined {
  const job = cronOf(r);
  try {
    return job.previousRuns(2, before).find((d) => d.getTime() < before.getTime());
  } finally {
    job.stop();
  }
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n')[0] ?? '').slice(0, 300);
}

/**
 * Runs each reconciliation at its due times. Every due time is claimed in the ledger first
 * (`claimSchedule`, a unique row), so however many schedulers are up, exactly one runs it.
 * At start, a due time missed while no scheduler was up is run once (`catch_up`). Runs of one
 * reconciliation follow each other in this process; a run that fails never stops the schedule.
 */
export class ReconcileScheduler {
  private readonly clock: SchedulerClock;
  private readonly cancels = new Map<string, () => void>();
  /** The last run started per reconciliation (the next one waits for it). */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<void>>();
  private started = false;
  private stopped = false;

  constructor(private readonly options: ReconcileSchedulerOptions) {
    this.clock = options.clock ?? systemClock;
    for (const r of options.reconciliations) cronOf(r).stop();
  }

  /** The next due time of a reconciliation this scheduler runs. */
  nextRun(id: string): Date | undefined {
    const r = this.options.reconciliations.find((x) => x.id === id);
    return r && nextDue(r, this.clock.now());
  }

  /**
   * Claims and starts the catch-up runs (without waiting for them to finish), then waits for
   * each reconciliation's next due time.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const r of this.options.reconciliations) {
      const now = this.clock.now();
      if (this.options.catchUp !== false) await this.catchUp(r, now);
      this.arm(r, nextDue(r, now));
    }
  }

  /** Stops scheduling; resolves once the runs in progress have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.cancels.values()) cancel();
    this.cancels.clear();
    await this.idle();
  }

  /** Resolves when no claim or run is under way. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private async catchUp(r: ScheduledReconciliation, now: Date): Promise<void> {
    try {
      const missed = previousDue(r, now);
      if (!missed) return;
      const last = await this.options.store.lastClaimed(r.id);
      // Never scheduled before (a new file): nothing was missed; it runs at its first due time.
      if (!last || last.getTime() >= missed.getTime()) return;
      if (await this.options.store.claimSchedule(r.id, missed, this.options.owner)) {
        this.options.logger?.info(
          { reconciliation: r.id, dueAt: missed.toISOString() },
          'reconciliation missed while no scheduler was up: running it now',
        );
        this.launch(r.id, 'catch_up', missed);
      }
    } catch (err) {
      this.options.logger?.warn(
        { reconciliation: r.id, err: errorText(err) },
        'the missed run could not be claimed; it is not run',
      );
    }
  }

  private arm(r: ScheduledReconciliation, due: Date | undefined): void {
    if (this.stopped || !due) return;
    const wait = Math.min(Math.max(0, due.getTime() - this.clock.now().getTime()), MAX_WAIT_MS);
    this.cancels.set(
      r.id,
      this.clock.setTimer(() => this.track(this.tick(r, due)), wait),
    );
  }

  private async tick(r: ScheduledReconciliation, due: Date): Promise<void> {
    if (this.stopped) return;
    const now = this.clock.now();
    if (now.getTime() < due.getTime()) {
      this.arm(r, due);
      return;
    }
    // The following due time is armed before this one runs: a long run delays nothing. After a
    // long sleep (a suspended host) the due times slept through are not run one by one.
    this.arm(r, nextDue(r, now));
    try {
      if (await this.options.store.claimSchedule(r.id, due, this.options.owner))
        this.launch(r.id, 'schedule', due);
    } catch (err) {
      this.options.logger?.warn(
        { reconciliation: r.id, dueAt: due.toISOString(), err: errorText(err) },
        'the scheduled run could not be claimed; the next start catches it up',
      );
    }
  }

  private launch(id: string, trigger: 'schedule' | 'catch_up', dueAt: Date): void {
    const previous = this.chains.get(id) ?? Promise.resolve();
    const run = previous.then(async () => {
      try {
        await this.options.run(id, trigger, dueAt);
      } catch (err) {
        this.options.logger?.warn(
          { reconciliation: id, trigger, dueAt: dueAt.toISOString(), err: errorText(err) },
          'scheduled reconciliation failed',
        );
      }
    });
    this.chains.set(id, run);
    this.track(run);
  }

  private track(p: Promise<void>): void {
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}
