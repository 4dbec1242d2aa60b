import { Queue, UnrecoverableError, WaitingError, Worker, type Job as BullJob } from 'bullmq';
import Redis from 'ioredis';
import type { ConsumeOptions, Job, JobHandler, QueueDriver, QueueStats } from './driver';
import {
  backoffDelay,
  checkDelay,
  checkJobId,
  checkQueueName,
  errorMessage,
  isDeadLetterError,
  resolveConsumeOptions,
  type ResolvedConsumeOptions,
} from './options';

export interface BullMqQueueDriverOptions {
  /** Redis URL (`redis://` or `rediss://`, with user, password and database as needed). */
  url: string;
  /** Key prefix of every key the driver writes (default `sinew`): one per deployment or test run. */
  prefix?: string;
  /** How often a worker looks for jobs whose worker died (default 30,000 ms). */
  stalledIntervalMs?: number;
  /** A running job's lock; renewed at half this period, it expires when its worker dies (default 30,000 ms). */
  lockDurationMs?: number;
  /** Times a job may be abandoned by a dying worker before it is given up (default 1). */
  maxStalledCount?: number;
  /**
   * `enqueue` and `ping` reject when Redis has not answered within this time (default 2,000
   * ms), so that a source can refuse a message at once rather than hang while Redis is down.
   */
  commandTimeoutMs?: number;
  /**
   * Receives errors no caller can be given (connection loss, an `onExhausted` callback that
   * threw), each distinct message at most once a minute. Default: `process.emitWarning`.
   */
  onError?: (err: Error) => void;
}

/** The job as stored in Redis: the caller's data and the failures retried in place (FIFO). */
interface Stored {
  d: unknown;
  f?: number;
}

/** BullMQ's own limit on attempts is never reached: the driver decides when a job is done. */
const UNBOUNDED_ATTEMPTS = 2 ** 31 - 1;
const BACKOFF_TYPE = 'sinew';
/**
 * Entries kept in a queue's BullMQ event stream (BullMQ's default: 10,000). Nothing in Sinew
 * reads that stream (the driver listens to its own workers), so it is kept short.
 */
const EVENTS_MAX_LEN = 100;
/** A socket still open this long after QUIT (e.g. still connecting) is destroyed. */
const DISCONNECT_TIMEOUT_MS = 500;

/**
 * BullMQ refuses custom ids that read as integers ("42"). Such ids are stored with a leading
 * `#`, which the id pattern never allows, so the mapping cannot collide.
 */
function toBullId(id: string): string {
  return `${parseInt(id, 10)}` === id ? `#${id}` : id;
}

function fromBullId(id: string | undefined): string {
  if (id === undefined) return '';
  return id.startsWith('#') ? id.slice(1) : id;
}

interface Consumer {
  worker: Worker<Stored>;
  client: Redis;
  options: ResolvedConsumeOptions;
  /** Ids of jobs this worker runs or is finishing (until BullMQ reports them completed or failed). */
  running: Set<string>;
  /** FIFO jobs waiting out a backoff in place. */
  backingOff: number;
}

/**
 * The Redis driver, on BullMQ 5: one BullMQ queue and, once consumed, one worker per queue
 * name. Jobs are added with the caller's id (so enqueueing is idempotent while the job
 * exists) and removed when they complete or fail for good, which frees the id: Redis holds
 * only jobs still to run.
 *
 * - Attempts and backoff are decided by the consumer: non-FIFO failures go back to BullMQ with
 *   a custom backoff strategy; FIFO queues (global concurrency 1) retry in place inside the
 *   processor, because a BullMQ retry moves a job behind later ones.
 * - A job given up is handed to `onExhausted` inside the processor (the job still locked),
 *   then failed for good; one that dying workers abandoned too often is failed by BullMQ
 *   before it reaches the processor, and handed to `onExhausted` once BullMQ reports it.
 * - A job whose worker died is taken back by BullMQ's stalled-job check once its lock expires,
 *   and put at the head of the queue.
 */
export class BullMqQueueDriver implements QueueDriver {
  readonly kind = 'bullmq' as const;

  private readonly url: string;
  private readonly prefix: string;
  private readonly stalledIntervalMs: number;
  private readonly lockDurationMs: number;
  private readonly maxStalledCount: number;
  private readonly commandTimeoutMs: number;
  private readonly reportError: (err: Error) => void;
  /** Shared by every queue: enqueues and stats. Fails a command fast when Redis is down. */
  private readonly client: Redis;
  private readonly queues = new Map<string, Queue<Stored>>();
  private readonly consumers = new Map<string, Consumer>();
  /** Queues `consume` was called for (set before its first await). */
  private readonly consumed = new Set<string>();
  /** Errors the processor handed to BullMQ after `onExhausted` was told of the job. */
  private readonly decided = new WeakSet<Error>();
  /** `onExhausted` calls under way outside a processor (`close` waits for them). */
  private readonly pendingCallbacks = new Set<Promise<void>>();
  private readonly sleepers = new Set<() => void>();
  private closing = false;
  private closePromise: Promise<void> | undefined;

  constructor(options: BullMqQueueDriverOptions) {
    if (!options || typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
      throw new Error('queue (bullmq): options.url must be a redis:// or rediss:// URL');
    }
    this.url = options.url;
    this.prefix = options.prefix ?? 'sinew';
    if (!this.prefix || this.prefix.includes(':')) {
      throw new Error(
        `queue (bullmq): invalid prefix ${JSON.stringify(this.prefix)}: non-empty, without ':'`,
      );
    }
    this.stalledIntervalMs = positive(options.stalledIntervalMs, 'stalledIntervalMs', 30_000);
    this.lockDurationMs = positive(options.lockDurationMs, 'lockDurationMs', 30_000);
    this.maxStalledCount = positive(options.maxStalledCount, 'maxStalledCount', 1);
    this.commandTimeoutMs = positive(options.commandTimeoutMs, 'commandTimeoutMs', 2000);
    this.reportError = throttled(
      options.onError ?? ((err) => process.emitWarning(`queue (bullmq): ${err.message}`)),
    );
    this.client = new Redis(this.url, { maxRetriesPerRequest: 1, disconnectTimeout: DISCONNECT_TIMEOUT_MS });
    // One listener per BullMQ queue sharing this client.
    this.client.setMaxListeners(0);
    this.client.on('error', (err: Error) => this.reportError(err));
  }

  async enqueue<T>(queue: string, jobId: string, data: T, options?: { delayMs?: number }): Promise<void> {
    checkQueueName(queue);
    checkJobId(jobId);
    const delay = checkDelay(options?.delayMs);
    if (this.closing) throw new Error('queue: the driver is closed');
    const stored: Stored = { d: data };
    const added = this.queue(queue).add(
      'job',
      stored,
      delay > 0 ? { jobId: toBullId(jobId), delay: Math.round(delay) } : { jobId: toBullId(jobId) },
    );
    await this.withTimeout(added, 'enqueue');
  }

  async consume<T>(queue: string, handler: JobHandler<T>, options?: ConsumeOptions<T>): Promise<void> {
    checkQueueName(queue);
    if (typeof handler !== 'function') throw new Error('queue: the handler must be a function');
    const resolved = resolveConsumeOptions(options);
    if (this.closing) throw new Error('queue: the driver is closed');
    if (this.consumed.has(queue)) throw new Error(`queue: ${queue} already has a consumer in this driver`);
    this.consumed.add(queue);
    const q = this.queue(queue);
    try {
      // FIFO holds across every process consuming the queue: one job at a time in all.
      if (resolved.fifo) await this.withTimeout(q.setGlobalConcurrency(1), 'consume');
      else await this.withTimeout(q.removeGlobalConcurrency(), 'consume');
      if (this.closing) throw new Error('queue: the driver is closed');
    } catch (err) {
      this.consumed.delete(queue);
      throw err;
    }

    const client = new Redis(this.url, {
      maxRetriesPerRequest: null,
      disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    });
    client.on('error', (err: Error) => this.reportError(err));
    const running = new Set<string>();
    const consumer = {} as Consumer;
    const worker = new Worker<Stored>(
      queue,
      (job, token) => this.process(queue, consumer, handler as JobHandler<unknown>, job, token),
      {
        connection: client,
        prefix: this.prefix,
        concurrency: resolved.concurrency,
        lockDuration: this.lockDurationMs,
        stalledInterval: this.stalledIntervalMs,
        maxStalledCount: this.maxStalledCount,
        settings: { backoffStrategy: (failures: number) => backoffDelay(resolved.backoff, failures) },
      },
    );
    Object.assign(consumer, { worker, client, options: resolved, running, backingOff: 0 });
    this.consumers.set(queue, consumer);
    worker.on('error', (err) => this.reportError(err));
    worker.on('completed', (job) => running.delete(job.id ?? ''));
    worker.on('failed', (job, err) => {
      if (job) running.delete(job.id ?? '');
      if (job) this.failed(queue, consumer, job, err);
    });
  }

  async stats(queue: string): Promise<QueueStats> {
    checkQueueName(queue);
    const q = this.queue(queue);
    const [counts, oldestId] = await Promise.all([
      q.getJobCounts('wait', 'paused', 'prioritized', 'delayed', 'active'),
      this.client.lindex(q.keys.wait as string, -1),
    ]);
    const backingOff = this.consumers.get(queue)?.backingOff ?? 0;
    const active = Math.max(0, (counts.active ?? 0) - backingOff);
    const stats: QueueStats = {
      waiting: (counts.wait ?? 0) + (counts.paused ?? 0) + (counts.prioritized ?? 0),
      delayed: (counts.delayed ?? 0) + ((counts.active ?? 0) - active),
      active,
    };
    if (oldestId) {
      const [timestamp, processedOn, delay] = await this.client.hmget(
        q.toKey(oldestId),
        'timestamp',
        'processedOn',
        'delay',
      );
      if (timestamp) {
        // Ready since its last start (or its enqueue) plus the delay it then waited out.
        const readySince = Number(processedOn || timestamp) + Number(delay || 0);
        stats.oldestWaitingAgeMs = Math.max(0, Date.now() - readySince);
      }
    }
    return stats;
  }

  async ping(): Promise<void> {
    if (this.closing) throw new Error('queue: the driver is closed');
    await this.withTimeout(this.client.ping(), 'PING');
  }

  /** `work`, or a rejection once Redis has not answered within `commandTimeoutMs`. */
  private async withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`queue (bullmq): Redis did not answer ${what} within ${this.commandTimeoutMs} ms`),
          ),
        this.commandTimeoutMs,
      );
    });
    // A late answer or failure after the timeout has nowhere to go.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(options?: { timeoutMs?: number }): Promise<void> {
    const timeoutMs = options?.timeoutMs ?? 10_000;
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      return Promise.reject(new Error(`queue: timeoutMs must be ≥ 0, got ${String(timeoutMs)}`));
    }
    this.closePromise ??= this.shutdown(timeoutMs);
    return this.closePromise;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closing = true;
    const deadline = Date.now() + timeoutMs;
    // FIFO jobs waiting out a backoff go back to the head of their queue at once.
    for (const wake of [...this.sleepers]) wake();
    const consumers = [...this.consumers.values()];
    // Stop fetching; jobs fetched meanwhile are put back (see `process`).
    await Promise.all(consumers.map((c) => c.worker.pause(true)));
    const idle = () => consumers.every((c) => c.running.size === 0) && this.pendingCallbacks.size === 0;
    while (!idle() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(10, Math.max(1, deadline - Date.now()))));
    }
    // Forced: jobs still running are abandoned (their locks expire; another worker takes them).
    await Promise.all(consumers.map((c) => c.worker.close(true).catch((err) => this.reportError(err))));
    await Promise.all([...this.queues.values()].map((q) => q.close().catch((err) => this.reportError(err))));
    await Promise.all([...consumers.map((c) => c.client), this.client].map((client) => quit(client)));
  }

  private queue(name: string): Queue<Stored> {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue<Stored>(name, {
        connection: this.client,
        prefix: this.prefix,
        streams: { events: { maxLen: EVENTS_MAX_LEN } },
        defaultJobOptions: {
          removeOnComplete: true,
          removeOnFail: true,
          attempts: UNBOUNDED_ATTEMPTS,
          backoff: { type: BACKOFF_TYPE },
        },
      });
      q.on('error', (err) => this.reportError(err));
      this.queues.set(name, q);
    }
    return q;
  }

  private toJob(queue: string, job: BullJob<Stored>, attempt: number): Job<unknown> {
    return { id: fromBullId(job.id), queue, data: job.data?.d, attempt, enqueuedAt: job.timestamp };
  }

  /** BullMQ's processor for one job of `queue`. */
  private async process(
    queue: string,
    consumer: Consumer,
    handler: JobHandler<unknown>,
    job: BullJob<Stored>,
    token: string | undefined,
  ): Promise<void> {
    if (this.closing) return this.putBack(job, token);
    consumer.running.add(job.id ?? '');
    const { attempts, backoff, fifo } = consumer.options;
    let failures = job.data?.f ?? 0;
    for (;;) {
      const attempt = job.attemptsMade + failures + 1;
      try {
        await handler(this.toJob(queue, job, attempt));
        return;
      } catch (err) {
        if (isDeadLetterError(err) || attempt >= attempts) {
          throw await this.giveUp(consumer, this.toJob(queue, job, attempt), err);
        }
        if (!fifo) throw err instanceof Error ? err : new Error(errorMessage(err));
      }
      // FIFO: retry in place, so that nothing behind this job runs before it.
      failures++;
      await job.updateData({ d: job.data?.d, f: failures });
      consumer.backingOff++;
      let woken: boolean;
      try {
        woken = await this.sleep(backoffDelay(backoff, failures));
      } finally {
        consumer.backingOff--;
      }
      if (woken) {
        consumer.running.delete(job.id ?? '');
        return this.putBack(job, token);
      }
    }
  }

  /** Puts a fetched job back at the head of its queue, as it was (the worker is closing). */
  private async putBack(job: BullJob<Stored>, token: string | undefined): Promise<never> {
    await job.moveToWait(token);
    throw new WaitingError();
  }

  /** Waits `ms`; resolves `true` early when the driver starts closing. */
  private sleep(ms: number): Promise<boolean> {
    if (this.closing) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.sleepers.delete(wake);
        resolve(false);
      }, ms);
      this.sleepers.add(wake);
    });
  }

  /**
   * Tells `onExhausted` of a job the processor gives up (the job still locked), and returns
   * the error that makes BullMQ fail it for good (and remove it: `removeOnFail`).
   */
  private async giveUp(consumer: Consumer, job: Job<unknown>, err: unknown): Promise<Error> {
    const final = new UnrecoverableError(errorMessage(err));
    this.decided.add(final);
    await this.tell(consumer, job, final.message);
    return final;
  }

  /** BullMQ reported a failure: a final one the processor did not decide is told here. */
  private failed(queue: string, consumer: Consumer, job: BullJob<Stored>, err: Error): void {
    if (this.decided.has(err)) return;
    // BullMQ's own final failures (a job abandoned by dying workers too often).
    if (err.name !== 'UnrecoverableError') return;
    const attempt = Math.max(1, job.attemptsMade + (job.data?.f ?? 0));
    const call: Promise<void> = this.tell(consumer, this.toJob(queue, job, attempt), err.message).finally(
      () => this.pendingCallbacks.delete(call),
    );
    this.pendingCallbacks.add(call);
  }

  /** Calls the consumer's `onExhausted`, reporting (not throwing) its failure. */
  private async tell(consumer: Consumer, job: Job<unknown>, error: string): Promise<void> {
    const onExhausted = consumer.options.onExhausted;
    if (!onExhausted) return;
    try {
      await onExhausted(job, error);
    } catch (err) {
      this.reportError(
        new Error(`onExhausted of queue ${job.queue} threw: ${errorMessage(err)}`, { cause: err }),
      );
    }
  }
}

function positive(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`queue (bullmq): ${name} must be a number > 0, got ${String(value)}`);
  }
  return value;
}

/** Reports each distinct message at most once a minute (a Redis outage repeats itself). */
function throttled(report: (err: Error) => void): (err: Error) => void {
  const last = new Map<string, number>();
  return (err) => {
    const now = Date.now();
    const at = last.get(err.message);
    if (at !== undefined && now - at < 60_000) return;
    if (last.size > 1000) last.clear();
    last.set(err.message, now);
    report(err);
  };
}

/** QUIT, or a hard disconnect when Redis does not answer within a second. */
async function quit(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.quit().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000))),
  ]);
  clearTimeout(timer);
  client.disconnect();
}
