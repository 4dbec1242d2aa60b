import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  compileChannel,
  formatProblem,
  type ChannelEnvironment,
  type CompiledChannel,
  type CompiledDestination,
} from '@sinew/channels';
import {
  DESTINATIONS,
  SOURCES,
  type ChannelHandOff,
  type ChannelHandOffResult,
  type Disposition,
  type Source,
} from '@sinew/connectors';
import type { HubWriter } from '@sinew/hub';
import type { TransformerLibrary } from '@sinew/mapping';
import type { QueueDriver } from '@sinew/queue';
import type { DeliveryRecord, MessageRecord, Store } from '@sinew/store';
import {
  deliveryJobId,
  deliveryQueue,
  DestinationWorker,
  LedgerWrites,
  pipelineJobId,
  pipelineQueue,
  type DeliveryDeps,
  type DeliveryJob,
  type DestinationHealth,
} from './delivery';
import { Handoff } from './handoff';
import { dispositionIssue } from './disposition';
import { pipelineEvent, recordMappingWarnings, recordPipelineEvent } from './events';
import { sourceCursor } from './source-cursor';
import { errorText, GroupCommitter, Ingestor, type LocalMessage, type ProcessedAck } from './ingest';
import { handOffToChannel } from './channel-handoff';
import type { EngineLogger } from './logger';
import { EngineMetrics } from './metrics';
import { ChannelPipeline, isOrdered } from './pipeline';
import { PipelineThreads } from './pipeline-threads';

export type Role = 'sources' | 'workers' | 'scheduler';
export const ROLES: readonly Role[] = ['sources', 'workers', 'scheduler'];

export interface EngineOptions {
  /**
   * Checks an API key a sender gives an HTTP source with `api_keys: true` (see
   * `SourceContext.authorize`); without it such sources refuse every key.
   */
  authorizeIngest?: (
    channelId: string,
    token: string,
    from?: string,
  ) => Promise<'ok' | 'forbidden' | 'unknown'>;
  /** Compiled channels (libs/channels): only channels that passed every check are deployed. */
  channels: CompiledChannel[];
  store: Store;
  queue: QueueDriver;
  transformers: TransformerLibrary;
  logger: EngineLogger;
  /** The environment the channels were compiled in (pipeline threads compile them again). */
  env?: ChannelEnvironment;
  /** Where each channel's file is and its git commit, for the deployment history. */
  origin?: (channel: CompiledChannel) => { filePath: string; gitCommit?: string };
  roles?: readonly Role[];
  metrics?: EngineMetrics;
  /** How often the recovery sweep runs (default 5,000 ms). */
  sweepIntervalMs?: number;
  /** How often a down destination is probed with its oldest retrying delivery (default 2,000 ms). */
  destinationProbeIntervalMs?: number;
  /** Pipeline jobs at once per channel when no destination is ordered (default 32). */
  pipelineConcurrency?: number;
  /**
   * Runs pipelines on this many worker threads started from `script` (the bundled
   * pipeline-worker.js); without it, or with 0 threads, on the main thread. Needs a
   * transformer library loaded from folders.
   */
  pipelineThreads?: { script: string; threads: number };
  /** The clinic data hub that `store` destinations write into. */
  hub?: HubWriter;
}

interface PipelineJob {
  messageId: string;
}

interface Deployed {
  channel: CompiledChannel;
  pipeline: ChannelPipeline;
  ingestor: Ingestor;
  source?: Source;
  workers: Map<string, DestinationWorker>;
}

/**
 * A version of a channel a message runs on: the deployed one, or the earlier one that
 * received it (`version` is its number in the deployment history).
 */
interface Version {
  version?: number;
  channel: CompiledChannel;
  pipeline: ChannelPipeline;
}

/** Earlier versions of a channel kept compiled for the messages they received (least recently used go). */
const EARLIER_VERSIONS = 8;

/** Runs of a pipeline job before its message is recorded `errored`. */
const PIPELINE_ATTEMPTS = 5;

/** An earlier message of an ordered channel failed its pipeline run; `cause` says why. */
class BlockedError extends Error {
  constructor(override readonly cause: unknown) {
    super(`an earlier message of the channel failed its pipeline: ${errorText(cause)}`);
  }
}

/** What one deployment changed. */
export interface DeployReport {
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
  /** Channels whose source kept its socket (the listen address did not change). */
  keptSources: string[];
}

/** Same connector type and settings: a redeploy may keep the running connector. */
function sameSource(a: CompiledChannel, b: CompiledChannel): boolean {
  return a.source.type === b.source.type && isDeepStrictEqual(a.source.config, b.source.config);
}

function sameDestination(a: CompiledDestination, b: CompiledDestination): boolean {
  return a.type === b.type && isDeepStrictEqual(a.config, b.config);
}

/**
 * One engine process: the roles it was asked to run over the shared ledger and queue.
 * `sources` receive and commit; `workers` run pipelines and deliveries; `scheduler` runs the
 * recovery sweep. `sinew start` runs all three. `deploy` swaps channels while it runs.
 */
export class Engine {
  readonly metrics: EngineMetrics;
  readonly roles: ReadonlySet<Role>;
  private readonly deployed = new Map<string, Deployed>();
  /** Queues this process consumes (a queue is consumed once; its handler finds the current version). */
  private readonly consuming = new Set<string>();
  private readonly committer: GroupCommitter;
  /** Whether the ledger records delivery outcomes (shared by every destination). */
  private readonly ledgerWrites: LedgerWrites;
  private readonly waiters = new Map<string, (ack: ProcessedAck | undefined) => void>();
  /** Messages this process committed, for its own pipeline jobs (see `Handoff`). */
  private readonly received = new Handoff<LocalMessage>();
  /** Paused channels (the ledger's `channel_pause`, read every sweep interval by every process). */
  private readonly pausedChannels = new Set<string>();
  private pauseTimer?: NodeJS.Timeout;
  /**
   * Earlier versions of each channel (by channel id, then version), kept or compiled again from
   * the deployment history, so that a message finishes on the version that received it.
   */
  private readonly earlier = new Map<string, Map<number, Promise<Version | undefined>>>();
  /**
   * Workers of destinations an earlier version had and the deployed one does not, by queue
   * name: they deliver what that version's pipeline sent them, with its settings, until no
   * delivery of theirs is open.
   */
  private readonly former = new Map<string, DestinationWorker>();
  /** Failed runs of messages run ahead of a later one (`runInCommitOrder`), by message id. */
  private readonly earlierFailures = new Map<string, number>();
  private threads?: PipelineThreads;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  /** Deployments run one at a time. */
  private deploying: Promise<unknown> = Promise.resolve();
  private started = false;
  private stopping = false;

  constructor(private readonly options: EngineOptions) {
    this.metrics = options.metrics ?? new EngineMetrics();
    this.roles = new Set(options.roles ?? ROLES);
    this.committer = new GroupCommitter(options.store);
    this.ledgerWrites = new LedgerWrites(options.store, options.logger, this.metrics);
    for (const channel of options.channels) {
      if (channel.spec.enabled) this.deployed.set(channel.id, this.build(channel));
    }
  }

  /** A channel's runtime parts: pipeline, ingestor and (for workers) one worker per destination. */
  private build(channel: CompiledChannel, previous?: Deployed): Deployed {
    const { options } = this;
    const ingestor = new Ingestor(channel, {
      store: options.store,
      committer: this.committer,
      metrics: this.metrics,
      logger: options.logger,
      committed: (ch, id, local) => {
        // The parsed message is kept only for a pipeline on this thread (a pipeline thread
        // parses its own copy): held until the job runs, it would only cost memory.
        if (this.roles.has('workers'))
          this.received.put(
            pipelineJobId(id),
            this.threads
              ? {
                  raw: local.raw,
                  contentType: local.contentType,
                  ...(local.channelVersion !== undefined ? { channelVersion: local.channelVersion } : {}),
                }
              : local,
          );
        return this.enqueuePipeline(ch.id, id, isOrdered(ch));
      },
      awaitProcessed: (id, timeoutMs) => this.awaitProcessed(id, timeoutMs),
    });
    ingestor.paused = this.pausedChannels.has(channel.id);
    const entry: Deployed = { channel, pipeline: new ChannelPipeline(channel), ingestor, workers: new Map() };
    if (this.roles.has('workers')) {
      for (const d of channel.destinations) {
        const old = previous?.workers.get(d.name);
        const destination =
          old && sameDestination(old.spec, d)
            ? old.destination
            : d.definition.create(d.config, {
                channelId: channel.id,
                destination: d.name,
                logger: options.logger,
                handOff: (request) => this.handOff(request),
                ...(options.hub ? { hub: options.hub } : {}),
              });
        const worker = new DestinationWorker(channel.id, d, destination, this.workerDeps());
        if (old && old.destination === destination) worker.inherit(old);
        entry.workers.set(d.name, worker);
      }
    }
    return entry;
  }

  /** A `channel` destination's delivery: a commit into the receiving channel (see `channel-handoff.ts`). */
  private handOff(request: ChannelHandOff): Promise<ChannelHandOffResult> {
    return handOffToChannel(
      {
        store: this.options.store,
        deployed: (id) => this.deployed.get(id),
        isPaused: (id) => this.pausedChannels.has(id),
      },
      request,
    );
  }

  private workerDeps(): DeliveryDeps {
    const { options } = this;
    return {
      store: options.store,
      queue: options.queue,
      metrics: this.metrics,
      logger: options.logger,
      ledger: this.ledgerWrites,
      isPaused: (id) => this.pausedChannels.has(id),
      releaseDependents: (finished) => this.releaseDependents(finished),
      ...(options.destinationProbeIntervalMs !== undefined
        ? { probeIntervalMs: options.destinationProbeIntervalMs }
        : {}),
    };
  }

  /** Releases the deliveries that wait for a delivery that just became terminal (`after:`). */
  private async releaseDependents(finished: DeliveryRecord): Promise<void> {
    const workers = this.deployed.get(finished.channelId)?.workers;
    if (!workers || this.pausedChannels.has(finished.channelId)) return;
    for (const w of workers.values()) if (w.spec.after === finished.destination) await w.release(finished);
  }

  get channelIds(): string[] {
    return [...this.deployed.keys()];
  }

  /** The deployed version of a channel. */
  channel(channelId: string): CompiledChannel | undefined {
    return this.deployed.get(channelId)?.channel;
  }

  /** The source of a deployed channel (to read its bound port). */
  source(channelId: string): Source | undefined {
    return this.deployed.get(channelId)?.source;
  }

  /** Hands one received message to a channel directly (tests, `channel` sources). */
  ingestor(channelId: string): Ingestor | undefined {
    return this.deployed.get(channelId)?.ingestor;
  }

  /** Threads running pipelines (0: they run on the main thread). */
  get pipelineThreads(): number {
    return this.threads?.size ?? 0;
  }

  get isStarted(): boolean {
    return this.started && !this.stopping;
  }

  /** Records each channel's deployment in the ledger and stamps its version on new messages. */
  private async recordVersions(entries: Deployed[], by: string): Promise<void> {
    for (const d of entries) {
      const origin = this.options.origin?.(d.channel) ?? { filePath: resolve(d.channel.file) };
      const record = await this.options.store.recordDeployment({
        channelId: d.channel.id,
        content: d.channel.text,
        filePath: origin.filePath,
        ...(origin.gitCommit ? { gitCommit: origin.gitCommit } : {}),
        deployedBy: by,
        deployedAt: new Date(),
        outcome: 'deployed',
      });
      d.ingestor.channelVersion = record.version;
    }
  }

  /** The deployed version (ledger deployment history) of a channel. */
  channelVersion(channelId: string): number | undefined {
    return this.deployed.get(channelId)?.ingestor.channelVersion;
  }

  async start(by = 'startup'): Promise<void> {
    await this.recordVersions([...this.deployed.values()], by);
    await this.refreshPaused();
    this.pauseTimer = setInterval(() => {
      void this.refreshPaused();
      if (this.former.size > 0) void this.closeFinishedFormer();
    }, this.options.sweepIntervalMs ?? 5_000);
    this.pauseTimer.unref();
    if (this.roles.has('workers')) {
      this.threads = await this.startThreads([...this.deployed.values()].map((d) => d.channel));
      for (const d of this.deployed.values()) await this.consumeQueues(d);
    }
    if (this.roles.has('scheduler')) {
      await this.sweep();
      this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs ?? 5_000);
      this.sweepTimer.unref();
    }
    if (this.roles.has('sources')) for (const d of this.deployed.values()) await this.startSource(d);
    this.started = true;
  }

  /** Whether a channel is paused (as this process last read the ledger, or set it itself). */
  isPaused(channelId: string): boolean {
    return this.pausedChannels.has(channelId);
  }

  /**
   * Pauses a channel in every process on the ledger: its source answers each message "send
   * again later" (MLLP AR, CE in enhanced mode; HTTP 503 with Retry-After) and stores nothing;
   * its deliveries hold where they are. Messages already received still run through the
   * pipeline. Other processes see it within one sweep interval.
   */
  async pauseChannel(channelId: string, by: string): Promise<void> {
    await this.options.store.setChannelPaused(channelId, true, by, new Date());
    this.applyPaused(new Set([...this.pausedChannels, channelId]), by);
  }

  /** Resumes a paused channel: its source takes messages again, its held deliveries go now. */
  async resumeChannel(channelId: string, by: string): Promise<void> {
    await this.options.store.setChannelPaused(channelId, false, by, new Date());
    this.applyPaused(new Set([...this.pausedChannels].filter((id) => id !== channelId)), by);
  }

  private async refreshPaused(): Promise<void> {
    try {
      const rows = await this.options.store.listPausedChannels();
      this.applyPaused(new Set(rows.map((r) => r.channelId)), 'ledger');
    } catch (err) {
      this.options.logger.warn(
        { err: errorText(err) },
        'paused channels could not be read; kept as they were',
      );
    }
  }

  private applyPaused(next: Set<string>, by: string): void {
    const resumed = [...this.pausedChannels].filter((id) => !next.has(id));
    for (const id of next)
      if (!this.pausedChannels.has(id)) this.options.logger.info({ channel: id, by }, 'channel paused');
    for (const id of resumed) this.options.logger.info({ channel: id, by }, 'channel resumed');
    this.pausedChannels.clear();
    for (const id of next) this.pausedChannels.add(id);
    for (const d of this.deployed.values()) d.ingestor.paused = next.has(d.channel.id);
    // Held deliveries go at once (the sweep enqueues every open delivery).
    if (resumed.length > 0 && this.started) void this.sweep();
  }

  /**
   * Deploys a set of compiled channels in the running engine: channels not in the set are
   * removed, changed ones (another content hash) are swapped, the others are left alone.
   * Deliveries and pipeline runs under way finish on the version that started them; a source
   * whose type and settings did not change keeps its socket (connected senders see nothing).
   */
  deploy(channels: readonly CompiledChannel[], by = 'deploy'): Promise<DeployReport> {
    const run = this.deploying.then(() => this.doDeploy(channels, by));
    this.deploying = run.catch(() => undefined);
    return run;
  }

  private async doDeploy(channels: readonly CompiledChannel[], by: string): Promise<DeployReport> {
    const report: DeployReport = { added: [], changed: [], removed: [], unchanged: [], keptSources: [] };
    const next = new Map(channels.filter((c) => c.spec.enabled).map((c) => [c.id, c]));
    const retired: Array<Promise<void>> = [];
    for (const [id, old] of [...this.deployed]) {
      if (next.has(id)) continue;
      this.deployed.delete(id);
      report.removed.push(id);
      retired.push(this.retire(old));
    }
    for (const channel of next.values()) {
      const old = this.deployed.get(channel.id);
      if (old && old.channel.hash === channel.hash) {
        report.unchanged.push(channel.id);
        continue;
      }
      const entry = this.build(channel, old);
      await this.recordVersions([entry], by);
      (old ? report.changed : report.added).push(channel.id);
      if (old) this.keepEarlier(old);
      if (old && old.pipeline.ordered !== entry.pipeline.ordered)
        this.options.logger.info(
          { channel: channel.id, ordered: entry.pipeline.ordered },
          'the pipeline changed between ordered and unordered: messages received before run as their version did',
        );
      const keepSource = old?.source !== undefined && sameSource(old.channel, channel);
      if (keepSource) {
        entry.source = old?.source;
        report.keptSources.push(channel.id);
      }
      this.deployed.set(channel.id, entry);
      if (old) retired.push(this.retire(old, entry));
      retired.push(this.retireFormer((w) => w.channelId === channel.id && entry.workers.has(w.spec.name)));
      if (this.started && this.roles.has('workers')) await this.consumeQueues(entry);
      if (this.started && this.roles.has('sources') && !keepSource) {
        if (old?.source) await old.source.stop(this.options.sweepIntervalMs ?? 5_000);
        await this.startSource(entry);
      }
    }
    if (
      this.started &&
      this.roles.has('workers') &&
      (report.added.length || report.changed.length || report.removed.length)
    ) {
      const pool = await this.startThreads([...this.deployed.values()].map((d) => d.channel));
      const old = this.threads;
      this.threads = pool;
      if (old) retired.push(old.retire());
    }
    await Promise.all(retired);
    return report;
  }

  /**
   * Lets the parts of a replaced or removed version finish what they are doing, then closes
   * them. A destination the replacement removed keeps its worker (a former one) while it has
   * open deliveries: nothing already sent its way is lost.
   */
  private async retire(old: Deployed, replacement?: Deployed): Promise<void> {
    if (old.source && replacement?.source !== old.source) await old.source.stop();
    await Promise.all(
      [...old.workers].map(([name, w]) => {
        if (replacement && !replacement.workers.has(name) && !this.stopping) {
          const earlier = this.former.get(w.queueName);
          this.keepFormer(w);
          return earlier?.retire(false) ?? Promise.resolve();
        }
        return w.retire(replacement?.workers.get(name)?.destination === w.destination);
      }),
    );
    if (!replacement) await this.retireFormer((w) => w.channelId === old.channel.id);
  }

  /**
   * Closes the former destinations whose deliveries are all done, or whose channel deploys
   * them again or no more (every process with workers, every sweep interval).
   */
  private async closeFinishedFormer(): Promise<void> {
    try {
      const { store } = this.options;
      const finished = new Set<DestinationWorker>();
      /** Channels whose oldest unprocessed message was received by an earlier version. */
      const waiting = new Map<string, boolean>();
      const earlierPending = async (d: Deployed): Promise<boolean> => {
        let pending = waiting.get(d.channel.id);
        if (pending === undefined) {
          const first = await store.firstUnprocessed(d.channel.id);
          const version = first && (await store.getMessage(first.id))?.channelVersion;
          pending = version !== undefined && version !== d.ingestor.channelVersion;
          waiting.set(d.channel.id, pending);
        }
        return pending;
      };
      for (const w of this.former.values()) {
        const current = this.deployed.get(w.channelId);
        if (!current || current.workers.has(w.spec.name)) finished.add(w);
        else if (
          (await store.listDestinationDeliveries(w.channelId, w.spec.name, 1)).length === 0 &&
          !(await earlierPending(current))
        )
          finished.add(w);
      }
      await this.retireFormer((w) => finished.has(w));
    } catch (err) {
      this.options.logger.warn(
        { err: errorText(err) },
        'former destinations could not be checked; they are looked at again at the next interval',
      );
    }
  }

  /** Closes the former workers that `done` says are finished. */
  private async retireFormer(done: (w: DestinationWorker) => boolean): Promise<void> {
    const finished = [...this.former].filter(([, w]) => done(w));
    for (const [queueName, w] of finished) {
      this.former.delete(queueName);
      this.options.logger.info(
        { channel: w.channelId, destination: w.spec.name },
        'a removed destination has nothing more to deliver; closed',
      );
    }
    await Promise.all(finished.map(([, w]) => w.retire(false)));
  }

  /** Keeps a replaced version compiled for the messages it received that are not through yet. */
  private keepEarlier(old: Deployed): void {
    const version = old.ingestor.channelVersion;
    if (version === undefined) return;
    this.remember(
      old.channel.id,
      version,
      Promise.resolve({ version, channel: old.channel, pipeline: old.pipeline }),
    );
  }

  private remember(channelId: string, version: number, found: Promise<Version | undefined>): void {
    let versions = this.earlier.get(channelId);
    if (!versions) this.earlier.set(channelId, (versions = new Map()));
    versions.delete(version);
    versions.set(version, found);
    while (versions.size > EARLIER_VERSIONS) {
      const oldest = versions.keys().next();
      if (oldest.done) break;
      versions.delete(oldest.value);
    }
  }

  /**
   * The version a message runs on: the one that received it (`version`), kept since it was
   * replaced or compiled again from the deployment history; the deployed one when that is
   * the same, unknown, or cannot be compiled any more (a transformer or value it used is gone).
   */
  private async versionOf(d: Deployed, version: number | undefined): Promise<Version> {
    const current: Version = { channel: d.channel, pipeline: d.pipeline };
    if (d.ingestor.channelVersion !== undefined) current.version = d.ingestor.channelVersion;
    if (version === undefined || version === current.version) return current;
    const versions = this.earlier.get(d.channel.id);
    let found = versions?.get(version);
    if (found) this.remember(d.channel.id, version, found);
    else {
      found = this.compileStored(d.channel.id, version);
      this.remember(d.channel.id, version, found);
      // A ledger that did not answer: the next run asks again.
      found.catch(() => this.earlier.get(d.channel.id)?.delete(version));
    }
    return (await found) ?? current;
  }

  /** Compiles a version from the text the deployment history keeps, as the engine compiled it then. */
  private async compileStored(channelId: string, version: number): Promise<Version | undefined> {
    const { store, transformers, env, logger } = this.options;
    const record = await store.getDeployment(channelId, version);
    let reason: string;
    if (!record || record.outcome !== 'deployed') reason = 'it is not in the deployment history';
    else {
      const result = compileChannel(
        record.content,
        record.filePath,
        { sources: SOURCES, destinations: DESTINATIONS, transformers },
        { env: env ?? { values: process.env, strict: false }, checkFiles: false },
      );
      if (result.channel)
        return { version, channel: result.channel, pipeline: new ChannelPipeline(result.channel) };
      reason = result.problems
        .filter((p) => p.severity === 'error')
        .map(formatProblem)
        .join('; ');
    }
    logger.warn(
      { channel: channelId, version, reason },
      'an earlier channel version cannot run any more: the messages it received run on the deployed version',
    );
    return undefined;
  }

  /**
   * The worker of a destination an earlier version had and the deployed one does not (made
   * from that version's settings when there is none yet); undefined without a spec, or when
   * this process runs no workers.
   */
  private async formerWorker(
    channelId: string,
    spec: CompiledDestination | undefined,
  ): Promise<DestinationWorker | undefined> {
    if (!spec || !this.roles.has('workers') || this.stopping) return undefined;
    const queueName = deliveryQueue(channelId, spec.name);
    let w = this.former.get(queueName);
    if (w) return w;
    const destination = spec.definition.create(spec.config, {
      channelId,
      destination: spec.name,
      logger: this.options.logger,
      handOff: (request) => this.handOff(request),
      ...(this.options.hub ? { hub: this.options.hub } : {}),
    });
    w = new DestinationWorker(channelId, spec, destination, this.workerDeps());
    this.keepFormer(w);
    await this.consumeDeliveries(channelId, spec.name, spec.concurrency);
    return w;
  }

  private keepFormer(w: DestinationWorker): void {
    this.former.set(w.queueName, w);
    this.options.logger.info(
      { channel: w.channelId, destination: w.spec.name },
      "a destination the deployed version removed delivers what an earlier version sent it, with that version's settings",
    );
  }

  /** The worker for an open delivery of a destination the deployed version does not have. */
  private async workerForEarlier(delivery: DeliveryRecord): Promise<DestinationWorker | undefined> {
    const d = this.deployed.get(delivery.channelId);
    if (!d || !this.roles.has('workers')) return undefined;
    const known = this.former.get(deliveryQueue(delivery.channelId, delivery.destination));
    if (known) return known;
    const message = await this.options.store.getMessage(delivery.messageId);
    if (message?.channelVersion === undefined) return undefined;
    const run = await this.versionOf(d, message.channelVersion);
    return this.formerWorker(
      delivery.channelId,
      run.channel.destinations.find((x) => x.name === delivery.destination),
    );
  }

  private async startSource(d: Deployed): Promise<void> {
    const { channel } = d;
    const source = channel.source.definition.create(channel.source.config, {
      channelId: channel.id,
      // The current version's ingestor: a redeploy that keeps the socket swaps what is behind it.
      ingest: (req) => {
        const current = this.deployed.get(channel.id) ?? d;
        return current.ingestor.ingest(req);
      },
      logger: this.options.logger,
      metrics: this.metrics.forSource(channel.id),
      cursor: sourceCursor(this.options.store, channel.id, channel.source.definition.type),
      ...(this.options.authorizeIngest
        ? {
            authorize: (token: string, from?: string) =>
              (this.options.authorizeIngest as NonNullable<EngineOptions['authorizeIngest']>)(
                channel.id,
                token,
                from,
              ),
          }
        : {}),
    });
    await source.start();
    d.source = source;
    this.options.logger.info({ channel: channel.id, source: source.describe() }, 'channel deployed');
  }

  /** Consumes a channel's pipeline queue and its destinations' queues, once each per process. */
  private async consumeQueues(d: Deployed): Promise<void> {
    await this.consumePipeline(d.channel.id, d.pipeline.ordered);
    for (const w of d.workers.values())
      await this.consumeDeliveries(d.channel.id, w.spec.name, w.spec.concurrency);
  }

  /**
   * Consumes a channel's pipeline queue of one mode: ordered (strict FIFO, in commit order) or
   * not (`pipelineConcurrency` at once). A live deploy that switches the mode starts the other
   * queue; the jobs left in the first still run (or move over) there.
   */
  private async consumePipeline(id: string, ordered: boolean): Promise<void> {
    const pq = pipelineQueue(id, ordered);
    if (this.consuming.has(pq)) return;
    this.consuming.add(pq);
    await this.options.queue.consume<PipelineJob>(
      pq,
      async (job) => {
        const current = this.deployed.get(id);
        // A removed channel's messages wait, `received`, for it to come back.
        if (!current) return;
        // Queued before the channel became ordered: its turn comes in commit order.
        if (!ordered && current.pipeline.ordered) {
          await this.enqueuePipeline(id, job.data.messageId, true);
          return;
        }
        try {
          if (ordered) await this.runInCommitOrder(current, job.data.messageId);
          await this.runPipeline(current, job.data.messageId, job.id, ordered);
          this.earlierFailures.delete(job.data.messageId);
        } catch (err) {
          if (err instanceof BlockedError) {
            // An earlier message keeps failing: it is not this message's fault. At the last
            // attempt this one stays `received`, and the recovery sweep brings it back.
            if (job.attempt < PIPELINE_ATTEMPTS) throw err.cause;
            return;
          }
          if (job.attempt < PIPELINE_ATTEMPTS) throw err;
          await this.pipelineFailed(id, job.data.messageId, err);
        }
      },
      {
        ...(ordered ? { fifo: true } : { concurrency: this.options.pipelineConcurrency ?? 32 }),
        attempts: PIPELINE_ATTEMPTS,
        // A job the queue gave up on without a last run here (its worker died each time).
        onExhausted: (job, error) => this.pipelineFailed(id, job.data.messageId, error),
        backoff: { initialDelayMs: 500, multiplier: 2, maxDelayMs: 10_000, jitter: 0.2 },
      },
    );
  }

  /**
   * Consumes one destination's delivery queue. Its jobs go to the deployed version's worker,
   * else to a former one (a destination the deployed version removed).
   */
  private async consumeDeliveries(id: string, name: string, concurrency: number): Promise<void> {
    const queueName = deliveryQueue(id, name);
    if (this.consuming.has(queueName)) return;
    this.consuming.add(queueName);
    await this.options.queue.consume<DeliveryJob>(
      queueName,
      async (job) => {
        let w = this.deployed.get(id)?.workers.get(name) ?? this.former.get(queueName);
        if (!w) {
          const delivery = await this.options.store.getDelivery(job.data.deliveryId);
          if (delivery) w = await this.workerForEarlier(delivery);
        }
        if (w) await w.handle(job.data.deliveryId, job.id);
      },
      {
        concurrency,
        attempts: 3,
        backoff: { initialDelayMs: 1_000, multiplier: 2, maxDelayMs: 10_000, jitter: 0.2 },
      },
    );
  }

  private async startThreads(channels: CompiledChannel[]): Promise<PipelineThreads | undefined> {
    const { pipelineThreads, transformers, logger, env } = this.options;
    if (!pipelineThreads || pipelineThreads.threads <= 0 || channels.length === 0) return undefined;
    if (transformers.dirs.length === 0) {
      logger.warn(
        {},
        'pipelines run on the main thread: the transformer library was not loaded from folders',
      );
      return undefined;
    }
    return PipelineThreads.start({
      script: pipelineThreads.script,
      threads: pipelineThreads.threads,
      channels,
      env: env ?? { values: process.env, strict: false },
      transformerDirs: transformers.dirs,
      logger,
    });
  }

  /** Enqueues a message's pipeline job, by default on the queue of the deployed version's mode. */
  private async enqueuePipeline(channelId: string, messageId: string, ordered?: boolean): Promise<void> {
    const mode = ordered ?? this.deployed.get(channelId)?.pipeline.ordered ?? false;
    await this.options.queue.enqueue(pipelineQueue(channelId, mode), pipelineJobId(messageId), {
      messageId,
    } satisfies PipelineJob);
  }

  /**
   * An ordered channel's pipeline follows the ledger's commit order, whatever order the queue
   * hands jobs out in: a message committed while the queue was down (enqueued later by the
   * recovery sweep) runs before any message committed after it. Runs the channel's earlier
   * unprocessed messages, oldest first, until `messageId` is the oldest. (Pipeline jobs of an
   * ordered channel run one at a time across processes, so nothing runs beside this.)
   */
  private async runInCommitOrder(d: Deployed, messageId: string): Promise<void> {
    const { store } = this.options;
    let previous: string | undefined;
    let seq: number | undefined;
    for (;;) {
      const first = await store.firstUnprocessed(d.channel.id);
      if (!first || first.id === messageId) return;
      // Only messages committed before this one (it may be finished already, or not yet visible).
      if (seq === undefined) {
        const own = await store.getMessage(messageId);
        if (!own || own.status !== 'received') return;
        seq = own.seq;
      }
      if (first.seq > seq) return;
      // Still the oldest after running it: its run left it `received` (should not happen).
      if (first.id === previous)
        throw new Error(`message ${first.id} stayed unprocessed after its pipeline ran`);
      previous = first.id;
      try {
        await this.runPipeline(d, first.id, pipelineJobId(first.id), true);
        this.earlierFailures.delete(first.id);
      } catch (err) {
        const failures = (this.earlierFailures.get(first.id) ?? 0) + 1;
        if (failures < PIPELINE_ATTEMPTS) {
          this.earlierFailures.set(first.id, failures);
          throw new BlockedError(err);
        }
        this.earlierFailures.delete(first.id);
        await this.pipelineFailed(d.channel.id, first.id, err);
      }
    }
  }

  /**
   * Runs one message's pipeline on the version that received it (see `versionOf`); a message
   * reprocessed by `sinew reprocess` runs on the deployed version. `inOrder`: the job came
   * from the ordered queue; a message of an ordered version found elsewhere moves there.
   */
  private async runPipeline(d: Deployed, messageId: string, jobId: string, inOrder: boolean): Promise<void> {
    const { store } = this.options;
    // Committed by this process a moment ago (and still `received`: this job is its first
    // pipeline run), or else read back from the ledger.
    let local = this.received.take(jobId);
    const fresh = local !== undefined;
    /** The sender was answered already (a reprocessed message): its ACK stays what it was. */
    let answered = false;
    let receivedOn = local?.channelVersion;
    if (!local) {
      const message = await store.getMessage(messageId);
      if (!message) return;
      if (message.status !== 'received') {
        this.resolveWaiter(messageId, await this.processedAck(message));
        return;
      }
      answered = message.ackCode !== undefined;
      receivedOn = message.channelVersion;
      // Reprocessed (it has an earlier outcome): it runs on the version deployed now.
      if (
        receivedOn !== undefined &&
        receivedOn !== d.ingestor.channelVersion &&
        (await store.getOutcomes(messageId)).length > 0
      )
        receivedOn = undefined;
      const raw = await store.getContent(messageId, 'raw');
      if (!raw) throw new Error(`message ${messageId} has no raw content`);
      local = { raw, contentType: message.contentType };
    }
    const run = await this.versionOf(d, receivedOn);
    if (run.pipeline.ordered && !inOrder) {
      // Received by an ordered version (the deployed one is not): it runs in commit order.
      if (fresh) this.received.put(jobId, local);
      if (this.roles.has('workers')) await this.consumePipeline(d.channel.id, true);
      await this.enqueuePipeline(d.channel.id, messageId, true);
      return;
    }
    // Threads run the deployed version; an earlier one, or a changed channel while a
    // redeploy starts new threads, runs on this thread.
    const threads = run.channel === d.channel && this.threads?.runs(d.channel) ? this.threads : undefined;
    const result = threads
      ? await threads.run(d.channel.id, local.raw, local.contentType, messageId)
      : run.pipeline.run(local.raw, local.contentType, local.message, messageId);
    if (answered) delete result.ack;
    if (run.version !== undefined) result.channelVersion = run.version;
    const deliveries = await store.completePipeline(messageId, result);
    const event = pipelineEvent(d.channel.id, messageId, result);
    if (event) recordPipelineEvent(event, this.metrics, this.options.logger);
    recordMappingWarnings(d.channel.id, result, this.metrics);
    if (result.ack) {
      const first = result.issues.find((i) => i.severity === 'error');
      this.resolveWaiter(messageId, {
        bytes: result.ack.bytes,
        disposition: dispositionOf(result.status, first),
      });
    } else this.resolveWaiter(messageId, undefined);
    for (const delivery of deliveries) {
      if (delivery.status !== 'pending' && delivery.status !== 'parked') continue;
      // A destination the deployed version removed still gets what this version sent it.
      const w =
        d.workers.get(delivery.destination) ??
        (await this.formerWorker(
          d.channel.id,
          run.channel.destinations.find((x) => x.name === delivery.destination),
        ));
      if (!w) continue;
      // Deliveries this run created: their first attempt may use the payload in hand.
      const created = fresh && result.deliveries.find((n) => n.destination === delivery.destination);
      if (created && delivery.status === 'pending' && delivery.attempts === 0)
        await w.enqueueCreated(delivery, { body: created.payload, contentType: created.payloadType });
      else await w.enqueue(delivery.id, delivery.attempts + 1);
    }
  }

  /**
   * A pipeline that kept failing (not bad data, which the pipeline records itself: a thread
   * that died, a ledger that refused the write): the message becomes `errored` with the reason,
   * visible and reprocessable, instead of being retried for ever.
   */
  private async pipelineFailed(channelId: string, messageId: string, err: unknown): Promise<void> {
    const reason = typeof err === 'string' ? err : errorText(err);
    await this.options.store.completePipeline(messageId, {
      status: 'errored',
      issues: [
        {
          severity: 'error',
          code: 'pipeline.failed',
          message: `the pipeline failed ${PIPELINE_ATTEMPTS} times: ${reason}`,
          step: 'pipeline',
        },
      ],
      deliveries: [],
    });
    recordPipelineEvent(
      { kind: 'failed', channel: channelId, messageId, attempts: PIPELINE_ATTEMPTS, reason },
      this.metrics,
      this.options.logger,
    );
    this.resolveWaiter(messageId, undefined);
  }

  /** The ACK a finished message was answered with, and what it stood for. */
  private async processedAck(message: MessageRecord): Promise<ProcessedAck | undefined> {
    const bytes = await this.options.store.getContent(message.id, 'ack');
    if (!bytes) return undefined;
    const first = message.issues.find((i) => i.severity === 'error');
    return { bytes, disposition: dispositionOf(message.status, first) };
  }

  private resolveWaiter(messageId: string, ack: ProcessedAck | undefined): void {
    const w = this.waiters.get(messageId);
    if (w) {
      this.waiters.delete(messageId);
      w(ack);
    }
  }

  private awaitProcessed(messageId: string, timeoutMs: number): Promise<ProcessedAck | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(messageId);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(messageId, (ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
      if (!this.roles.has('workers')) void this.pollProcessed(messageId, timeoutMs);
    });
  }

  /** Without a local pipeline, the ledger tells when another process has finished it. */
  private async pollProcessed(messageId: string, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.waiters.has(messageId) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
      const m = await this.options.store.getMessage(messageId).catch(() => undefined);
      if (m && m.status !== 'received') {
        this.resolveWaiter(messageId, await this.processedAck(m));
        return;
      }
    }
  }

  /**
   * Re-enqueues every non-terminal ledger row of the deployed channels: messages not through
   * the pipeline, deliveries pending, parked or due. Job ids make this idempotent.
   */
  sweep(): Promise<void> {
    this.sweeping ??= this.doSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async doSweep(): Promise<void> {
    const { store, queue, logger } = this.options;
    try {
      for (const m of await store.listUnprocessed(5_000)) {
        if (this.deployed.has(m.channelId)) await this.enqueuePipeline(m.channelId, m.id);
      }
      for (const d of await store.listOpenDeliveries(new Date(), 5_000)) {
        if (this.pausedChannels.has(d.channelId)) continue;
        const w =
          this.deployed.get(d.channelId)?.workers.get(d.destination) ?? (await this.workerForEarlier(d));
        if (w) await w.enqueue(d.id, d.attempts + 1);
        else if (this.deployed.has(d.channelId))
          await queue.enqueue(
            deliveryQueue(d.channelId, d.destination),
            deliveryJobId(d.id, d.attempts + 1),
            { deliveryId: d.id },
          );
      }
    } catch (err) {
      logger.warn({ err: errorText(err) }, 'recovery sweep failed; it runs again at the next interval');
    }
  }

  /**
   * Readiness: the ledger and the queue answer, and every channel is deployed. The details
   * also show whether the ledger records delivery outcomes and each destination's state; a
   * destination that is down, or a ledger that refuses writes, does not make the process
   * unready (it still takes messages, or refuses them itself; another process would not help).
   * `sync` lists the reconciliations' open sync-error flags (`ok` when none), unready never.
   */
  async readiness(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    const timeout = <T>(p: Promise<T>) =>
      Promise.race([
        p,
        new Promise<T>((_r, rej) => setTimeout(() => rej(new Error('timed out')), 2_000).unref()),
      ]);
    await timeout(this.options.store.ping()).then(
      () => (checks.store = 'ok'),
      (e: unknown) => (checks.store = errorText(e)),
    );
    await timeout(this.options.queue.ping()).then(
      () => (checks.queue = 'ok'),
      (e: unknown) => (checks.queue = errorText(e)),
    );
    checks.channels = this.isStarted ? `${this.deployed.size} deployed` : 'not started';
    // Open sync-error flags of the reconciliations: shown, never a reason to be unready (the
    // flag is about the systems around the engine; another process would not clear it).
    await timeout(Promise.resolve().then(() => this.options.store.reconcile.listFlags({ open: true }))).then(
      (flags) =>
        (checks.sync =
          flags.length === 0
            ? 'ok'
            : `${flags.length} open sync-error flag${flags.length === 1 ? '' : 's'}: ` +
              flags.map((f) => `${f.reconciliation}/${f.entity} ${f.class} (${f.count})`).join(', ')),
      (e: unknown) => (checks.sync = `flags not read: ${errorText(e)}`),
    );
    if (this.roles.has('workers')) {
      const ledger = this.ledgerWrites.state;
      checks.deliveries = ledger
        ? `outcomes not recorded since ${ledger.since.toISOString()} (${ledger.code}); ${ledger.held} held, sends wait`
        : 'ok';
      for (const [channelId, destinations] of this.destinationHealth() ?? []) {
        for (const [name, h] of destinations) {
          checks[`destination:${channelId}/${name}`] = h.up
            ? 'up'
            : `down since ${h.since?.toISOString()} (${h.code}, ${h.failedAttempts} failed attempts)`;
        }
      }
    }
    return { ready: checks.store === 'ok' && checks.queue === 'ok' && this.isStarted, checks };
  }

  /**
   * Each deployed destination's health as this process's workers see it, by channel id then
   * destination name; undefined when this process does not run the workers role (it sends
   * nothing, so it cannot know).
   */
  destinationHealth(): Map<string, Map<string, DestinationHealth>> | undefined {
    if (!this.roles.has('workers')) return undefined;
    const out = new Map<string, Map<string, DestinationHealth>>();
    for (const d of this.deployed.values()) {
      out.set(d.channel.id, new Map([...d.workers].map(([name, w]) => [name, w.health] as const)));
    }
    return out;
  }

  /** Refreshes the queue gauges (called before /metrics answers). */
  async collectQueueMetrics(): Promise<void> {
    const names: string[] = [];
    for (const d of this.deployed.values()) {
      names.push(pipelineQueue(d.channel.id, d.pipeline.ordered));
      const other = pipelineQueue(d.channel.id, !d.pipeline.ordered);
      if (this.consuming.has(other)) names.push(other);
      for (const dest of d.channel.destinations) names.push(deliveryQueue(d.channel.id, dest.name));
    }
    for (const name of names) {
      const s = await this.options.queue.stats(name).catch(() => undefined);
      if (!s) continue;
      this.metrics.queueDepth.set({ queue: name, state: 'waiting' }, s.waiting);
      this.metrics.queueDepth.set({ queue: name, state: 'delayed' }, s.delayed);
      this.metrics.queueDepth.set({ queue: name, state: 'active' }, s.active);
      this.metrics.queueOldest.set({ queue: name }, (s.oldestWaitingAgeMs ?? 0) / 1000);
    }
  }

  /**
   * Graceful stop: sources stop accepting (in-flight replies finish), then the queue finishes
   * running jobs within the deadline, then destinations and the ledger close.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(100, deadline - Date.now());
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.pauseTimer) clearInterval(this.pauseTimer);
    await Promise.allSettled(
      [...this.deployed.values()].map((d) => d.source?.stop(left()) ?? Promise.resolve()),
    );
    await this.sweeping?.catch(() => undefined);
    await this.options.queue.close({ timeoutMs: left() }).catch(() => undefined);
    await this.threads?.close();
    await Promise.allSettled(
      [...this.deployed.values()]
        .flatMap((d) => [...d.workers.values()])
        .concat([...this.former.values()])
        .map((w) => w.close()),
    );
    this.received.clear();
    await this.options.store.close().catch(() => undefined);
  }
}

/** What a finished pipeline stands for, for the ACK of `ack.when: processed`. */
function dispositionOf(
  status: string,
  first: { code: string; message: string; location?: string } | undefined,
): Disposition {
  if (status !== 'rejected' && status !== 'errored') return { kind: 'accepted' };
  const issue = dispositionIssue(
    {
      severity: 'error',
      code: first?.code ?? 'pipeline.failed',
      message: first?.message ?? 'the pipeline failed',
      ...(first?.location ? { location: first.location } : {}),
    },
    '207',
  );
  return status === 'rejected' ? { kind: 'rejected', reason: 'invalid', issue } : { kind: 'errored', issue };
}
