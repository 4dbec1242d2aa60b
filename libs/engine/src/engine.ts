import type { DestinationDefinition, Source, SourceDefinition } from '@sinew/connectors';
import type { TransformerLibrary } from '@sinew/mapping';
import type { QueueDriver } from '@sinew/queue';
import type { Store } from '@sinew/store';
import { ChannelError, type Channel, type ChannelProblem } from './channel';
import {
  deliveryJobId,
  deliveryQueue,
  DestinationWorker,
  pipelineJobId,
  pipelineQueue,
  type DeliveryJob,
} from './delivery';
import { Handoff } from './handoff';
import { errorText, GroupCommitter, Ingestor, type LocalMessage } from './ingest';
import type { EngineLogger } from './logger';
import { EngineMetrics } from './metrics';
import { ChannelPipeline } from './pipeline';
import { PipelineThreads } from './pipeline-threads';

export type Role = 'sources' | 'workers' | 'scheduler';
export const ROLES: readonly Role[] = ['sources', 'workers', 'scheduler'];

export interface EngineOptions {
  channels: Channel[];
  store: Store;
  queue: QueueDriver;
  transformers: TransformerLibrary;
  logger: EngineLogger;
  sources: Record<string, SourceDefinition>;
  destinations: Record<string, DestinationDefinition>;
  roles?: readonly Role[];
  metrics?: EngineMetrics;
  /** How often the recovery sweep runs (default 5,000 ms). */
  sweepIntervalMs?: number;
  /** Pipeline jobs at once per channel when no destination is ordered (default 32). */
  pipelineConcurrency?: number;
  /**
   * Runs pipelines on this many worker threads started from `script` (the bundled
   * pipeline-worker.js); without it, or with 0 threads, on the main thread. Needs a
   * transformer library loaded from folders.
   */
  pipelineThreads?: { script: string; threads: number };
}

interface PipelineJob {
  messageId: string;
}

interface Deployed {
  channel: Channel;
  pipeline: ChannelPipeline;
  ingestor: Ingestor;
  source?: Source;
  sourceConfig?: unknown;
  workers: Map<string, DestinationWorker>;
}

/**
 * One engine process: the roles it was asked to run over the shared ledger and queue.
 * `sources` receive and commit; `workers` run pipelines and deliveries; `scheduler` runs the
 * recovery sweep. `sinew start` runs all three.
 */
export class Engine {
  readonly metrics: EngineMetrics;
  readonly roles: ReadonlySet<Role>;
  private readonly deployed = new Map<string, Deployed>();
  private readonly committer: GroupCommitter;
  private readonly waiters = new Map<string, (ack: Buffer | undefined) => void>();
  /** Messages this process committed, for its own pipeline jobs (see `Handoff`). */
  private readonly received = new Handoff<LocalMessage>();
  private threads?: PipelineThreads;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private started = false;
  private stopping = false;

  constructor(private readonly options: EngineOptions) {
    this.metrics = options.metrics ?? new EngineMetrics();
    this.roles = new Set(options.roles ?? ROLES);
    this.committer = new GroupCommitter(options.store);
    const problems: ChannelProblem[] = [];
    for (const channel of options.channels) {
      if (!channel.spec.enabled) continue;
      try {
        this.deploy(channel);
      } catch (err) {
        const p = (err as { problems?: ChannelProblem[] }).problems;
        if (p) problems.push(...p);
        else throw err;
      }
    }
    if (problems.length) throw new ChannelError(problems);
  }

  private deploy(channel: Channel): void {
    const { options } = this;
    const problems: ChannelProblem[] = [];
    const at = (path: Array<string | number>, message: string) =>
      problems.push({ file: channel.file, ...channel.locate(path), path: path.join('.'), message });
    let pipeline: ChannelPipeline | undefined;
    try {
      pipeline = new ChannelPipeline(channel, options.transformers);
    } catch (err) {
      const p = (err as { problems?: ChannelProblem[] }).problems;
      if (!p) throw err;
      problems.push(...p);
    }
    const sourceDef = options.sources[channel.source.type];
    let sourceConfig: unknown;
    if (!sourceDef)
      at(
        ['source', 'type'],
        `unknown source type ${channel.source.type} (known: ${Object.keys(options.sources).join(', ')})`,
      );
    else {
      const parsed = sourceDef.configSchema.safeParse(channel.source.config);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          at(
            ['source', ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')],
            issue.message,
          );
        }
      } else sourceConfig = parsed.data;
    }
    const destConfigs = new Map<string, unknown>();
    channel.destinations.forEach((d, i) => {
      const def = options.destinations[d.type];
      if (!def) {
        at(
          ['destinations', i, 'type'],
          `unknown destination type ${d.type} (known: ${Object.keys(options.destinations).join(', ')})`,
        );
        return;
      }
      const parsed = def.configSchema.safeParse(d.config);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          at(
            ['destinations', i, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')],
            issue.message,
          );
        }
      } else destConfigs.set(d.name, parsed.data);
    });
    if (problems.length || !pipeline) throw Object.assign(new Error('channel'), { problems });

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
            this.threads ? { raw: local.raw, contentType: local.contentType } : local,
          );
        return this.enqueuePipeline(ch.spec.id, id);
      },
      awaitProcessed: (id, timeoutMs) => this.awaitProcessed(id, timeoutMs),
    });
    const entry: Deployed = { channel, pipeline, ingestor, workers: new Map() };
    if (sourceConfig !== undefined) entry.sourceConfig = sourceConfig;
    if (this.roles.has('workers')) {
      for (const d of channel.destinations) {
        const def = options.destinations[d.type] as DestinationDefinition;
        const destination = def.create(destConfigs.get(d.name), {
          channelId: channel.spec.id,
          destination: d.name,
          logger: options.logger,
        });
        entry.workers.set(
          d.name,
          new DestinationWorker(channel.spec.id, d, destination, {
            store: options.store,
            queue: options.queue,
            metrics: this.metrics,
            logger: options.logger,
          }),
        );
      }
    }
    this.deployed.set(channel.spec.id, entry);
  }

  get channelIds(): string[] {
    return [...this.deployed.keys()];
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

  async start(): Promise<void> {
    const { options } = this;
    if (this.roles.has('workers')) {
      await this.startThreads();
      for (const d of this.deployed.values()) {
        await options.queue.consume<PipelineJob>(
          pipelineQueue(d.channel.spec.id),
          (job) => this.runPipeline(d, job.data.messageId, job.id),
          {
            ...(d.pipeline.ordered ? { fifo: true } : { concurrency: options.pipelineConcurrency ?? 32 }),
            attempts: 5,
            backoff: { initialDelayMs: 500, multiplier: 2, maxDelayMs: 10_000, jitter: 0.2 },
          },
        );
        for (const w of d.workers.values()) {
          await options.queue.consume<DeliveryJob>(
            w.queueName,
            (job) => w.handle(job.data.deliveryId, job.id),
            {
              concurrency: w.spec.concurrency,
              attempts: 3,
              backoff: { initialDelayMs: 1_000, multiplier: 2, maxDelayMs: 10_000, jitter: 0.2 },
            },
          );
        }
      }
    }
    if (this.roles.has('scheduler')) {
      await this.sweep();
      this.sweepTimer = setInterval(() => void this.sweep(), options.sweepIntervalMs ?? 5_000);
      this.sweepTimer.unref();
    }
    if (this.roles.has('sources')) {
      for (const d of this.deployed.values()) {
        const def = options.sources[d.channel.source.type] as SourceDefinition;
        const source = def.create(d.sourceConfig, {
          channelId: d.channel.spec.id,
          ingest: (req) => d.ingestor.ingest(req),
          logger: options.logger,
        });
        await source.start();
        d.source = source;
        options.logger.info({ channel: d.channel.spec.id, source: source.describe() }, 'channel deployed');
      }
    }
    this.started = true;
  }

  private async startThreads(): Promise<void> {
    const { pipelineThreads, transformers, logger } = this.options;
    if (!pipelineThreads || pipelineThreads.threads <= 0 || this.deployed.size === 0) return;
    if (transformers.dirs.length === 0) {
      logger.warn(
        {},
        'pipelines run on the main thread: the transformer library was not loaded from folders',
      );
      return;
    }
    this.threads = await PipelineThreads.start({
      script: pipelineThreads.script,
      threads: pipelineThreads.threads,
      channels: [...this.deployed.values()].map((d) => d.channel),
      transformerDirs: transformers.dirs,
      logger,
    });
  }

  private async enqueuePipeline(channelId: string, messageId: string): Promise<void> {
    await this.options.queue.enqueue(pipelineQueue(channelId), pipelineJobId(messageId), {
      messageId,
    } satisfies PipelineJob);
  }

  private async runPipeline(d: Deployed, messageId: string, jobId: string): Promise<void> {
    const { store } = this.options;
    // Committed by this process a moment ago (and still `received`: this job is its first
    // pipeline run), or else read back from the ledger.
    let local = this.received.take(jobId);
    const fresh = local !== undefined;
    if (!local) {
      const message = await store.getMessage(messageId);
      if (!message) return;
      if (message.status !== 'received') {
        this.resolveWaiter(messageId, await store.getContent(messageId, 'ack'));
        return;
      }
      const raw = await store.getContent(messageId, 'raw');
      if (!raw) throw new Error(`message ${messageId} has no raw content`);
      local = { raw, contentType: message.contentType };
    }
    const result = this.threads
      ? await this.threads.run(d.channel.spec.id, local.raw, local.contentType)
      : d.pipeline.run(local.raw, local.contentType, local.message);
    const deliveries = await store.completePipeline(messageId, result);
    const labels = { channel: d.channel.spec.id };
    if (result.status === 'filtered') this.metrics.filtered.inc(labels);
    else if (result.status === 'rejected') this.metrics.rejected.inc(labels);
    else if (result.status === 'errored') {
      this.metrics.errored.inc(labels);
      this.options.logger.warn(
        { channel: d.channel.spec.id, messageId, issues: result.issues.map((i) => i.code) },
        'message errored in the pipeline',
      );
    }
    this.resolveWaiter(messageId, result.ack?.bytes);
    for (const delivery of deliveries) {
      const w = d.workers.get(delivery.destination);
      if (!w || (delivery.status !== 'pending' && delivery.status !== 'parked')) continue;
      // Deliveries this run created: their first attempt may use the payload in hand.
      const created = fresh && result.deliveries.find((n) => n.destination === delivery.destination);
      if (created && delivery.status === 'pending' && delivery.attempts === 0)
        await w.enqueueCreated(delivery, { body: created.payload, contentType: created.payloadType });
      else await w.enqueue(delivery.id, delivery.attempts + 1);
    }
  }

  private resolveWaiter(messageId: string, ack: Buffer | undefined): void {
    const w = this.waiters.get(messageId);
    if (w) {
      this.waiters.delete(messageId);
      w(ack);
    }
  }

  private awaitProcessed(messageId: string, timeoutMs: number): Promise<Buffer | undefined> {
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
        this.resolveWaiter(messageId, await this.options.store.getContent(messageId, 'ack'));
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
        const w = this.deployed.get(d.channelId)?.workers.get(d.destination);
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

  /** Readiness: the ledger and the queue answer, and every channel is deployed. */
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
    return { ready: checks.store === 'ok' && checks.queue === 'ok' && this.isStarted, checks };
  }

  /** Refreshes the queue gauges (called before /metrics answers). */
  async collectQueueMetrics(): Promise<void> {
    const names: string[] = [];
    for (const d of this.deployed.values()) {
      names.push(pipelineQueue(d.channel.spec.id));
      for (const dest of d.channel.destinations) names.push(deliveryQueue(d.channel.spec.id, dest.name));
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
    await Promise.allSettled(
      [...this.deployed.values()].map((d) => d.source?.stop(left()) ?? Promise.resolve()),
    );
    await this.sweeping?.catch(() => undefined);
    await this.options.queue.close({ timeoutMs: left() }).catch(() => undefined);
    await this.threads?.close();
    await Promise.allSettled(
      [...this.deployed.values()].flatMap((d) => [...d.workers.values()].map((w) => w.close())),
    );
    this.received.clear();
    await this.options.store.close().catch(() => undefined);
  }
}
