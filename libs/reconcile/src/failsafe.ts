import type { DiscrepancyClass, ReconcileStore, RunRecord, SyncFlagRecord } from './types';

/**
 * The fail-safe of a reconciliation: a critical class found raises a sync-error flag (shown in
 * `/ready`'s details and at `GET /api/v1/sync-status`, for a PMS to read before it books) and
 * pauses the channels it names, until an operator acknowledges the flag. Channels are paused
 * `by: reconcile:<id>`; acknowledging the last open flag of the reconciliation resumes the
 * channels still paused by it (a channel someone else paused stays paused).
 */

/** What the fail-safe needs of a reconciliation's declaration. */
export interface FailSafeDeclaration {
  id: string;
  /** The classes that raise a flag, per entity name (entities without any may be left out). */
  critical: Readonly<Record<string, readonly DiscrepancyClass[] | undefined>>;
  /** `fail_safe.pause_channels`. */
  pauseChannels: readonly string[];
}

/** Pausing and resuming channels: the engine's (`engine.pauseChannel`), or the ledger's alone. */
export interface ChannelControl {
  pause(channelId: string, by: string): Promise<void>;
  resume(channelId: string, by: string): Promise<void>;
  /** The channels paused now, and by whom. */
  paused(): Promise<ReadonlyArray<{ channelId: string; pausedBy: string }>>;
}

interface PauseLedger {
  setChannelPaused(channelId: string, paused: boolean, by: string, at: Date): Promise<void>;
  listPausedChannels(): Promise<Array<{ channelId: string; pausedBy: string }>>;
}

/**
 * Channel control through the ledger's `channel_pause` rows only (a CLI run, a process without
 * the channels): every engine process applies them within one sweep interval.
 */
export function ledgerChannelControl(store: PauseLedger, now: () => Date = () => new Date()): ChannelControl {
  return {
    pause: (channelId, by) => store.setChannelPaused(channelId, true, by, now()),
    resume: (channelId, by) => store.setChannelPaused(channelId, false, by, now()),
    paused: () => store.listPausedChannels(),
  };
}

/** Channel control through a running engine (applied in this process at once, in the others within a sweep). */
export function engineChannelControl(
  engine: {
    pauseChannel(channelId: string, by: string): Promise<void>;
    resumeChannel(channelId: string, by: string): Promise<void>;
  },
  store: PauseLedger,
): ChannelControl {
  return {
    pause: (channelId, by) => engine.pauseChannel(channelId, by),
    resume: (channelId, by) => engine.resumeChannel(channelId, by),
    paused: () => store.listPausedChannels(),
  };
}

export interface FailSafeLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface FailSafeOptions {
  store: Pick<ReconcileStore, 'raiseFlag' | 'listFlags' | 'acknowledgeFlag'>;
  channels: ChannelControl;
  now?: () => Date;
  logger?: FailSafeLogger;
}

/** Who pauses channels for a reconciliation. */
export const pausedBy = (reconciliation: string) => `reconcile:${reconciliation}`;

/** Open flags in all, at most (more is a reconciliation gone wrong; the oldest are listed). */
const FLAG_LIMIT = 10_000;

export class FailSafe {
  private readonly now: () => Date;

  constructor(private readonly options: FailSafeOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * After a run: raises a flag for each critical class it found (or moves the open one to this
   * run), and pauses the declared channels when any was raised. Resolves with the flags.
   */
  async afterRun(declaration: FailSafeDeclaration, run: RunRecord): Promise<SyncFlagRecord[]> {
    const flags: SyncFlagRecord[] = [];
    for (const entity of run.summary?.entities ?? []) {
      for (const cls of declaration.critical[entity.name] ?? []) {
        const count = entity.byClass[cls] ?? 0;
        if (count <= 0) continue;
        flags.push(
          await this.options.store.raiseFlag({
            reconciliation: declaration.id,
            entity: entity.name,
            class: cls,
            count,
            runId: run.id,
            raisedAt: this.now(),
          }),
        );
      }
    }
    if (flags.length > 0) {
      this.options.logger?.warn(
        {
          reconciliation: declaration.id,
          runId: run.id,
          flags: flags.map((f) => `${f.entity}.${f.class}`),
          pausing: declaration.pauseChannels,
        },
        'sync-error flag raised',
      );
      await this.pause(declaration);
    }
    return flags;
  }

  /**
   * Acknowledges a flag. When it was the last open flag of its reconciliation, the channels
   * that reconciliation paused are resumed. Undefined when there is no such flag.
   */
  async acknowledge(flagId: string, by: string, note?: string): Promise<SyncFlagRecord | undefined> {
    const flag = await this.options.store.acknowledgeFlag(flagId, by, this.now(), note);
    if (!flag) return undefined;
    const open = await this.options.store.listFlags({ open: true, limit: FLAG_LIMIT });
    if (open.some((f) => f.reconciliation === flag.reconciliation)) return flag;
    const pauser = pausedBy(flag.reconciliation);
    for (const p of await this.options.channels.paused()) {
      if (p.pausedBy !== pauser) continue;
      await this.options.channels.resume(p.channelId, pauser);
      this.options.logger?.info(
        { reconciliation: flag.reconciliation, channel: p.channelId, by },
        'sync-error flags acknowledged: channel resumed',
      );
    }
    return flag;
  }

  /** The open flags, for `/api/v1/sync-status` (`ok` when there is none). */
  async status(): Promise<{ ok: boolean; flags: SyncFlagRecord[] }> {
    const flags = await this.options.store.listFlags({ open: true, limit: FLAG_LIMIT });
    return { ok: flags.length === 0, flags };
  }

  private async pause(declaration: FailSafeDeclaration): Promise<void> {
    if (declaration.pauseChannels.length === 0) return;
    const already = new Set((await this.options.channels.paused()).map((p) => p.channelId));
    for (const channelId of declaration.pauseChannels) {
      // Paused already (by an operator, or by this flag's earlier run): left as it is, so
      // acknowledging the flag never resumes a channel someone else paused.
      if (already.has(channelId)) continue;
      await this.options.channels.pause(channelId, pausedBy(declaration.id));
    }
  }
}
