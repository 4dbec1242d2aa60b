/**
 * The queue port. The ledger (libs/store) is the system of record; a queue is a rebuildable
 * wake-up list: losing it (a crash of the in-process driver, a Redis restart) costs
 * re-delivery, never a message, because the engine's recovery sweep re-enqueues every
 * non-terminal ledger row under a job id derived from the row's id.
 *
 * Two drivers implement it: `MemoryQueueDriver` (in-process, the embedded default) and
 * `BullMqQueueDriver` (Redis, for scale-out). Both pass `queueConformanceSuite`. A queue keeps
 * no job once it has completed or been given up: what failed for good is the consumer's to
 * record (`ConsumeOptions.onExhausted`).
 */

/** Queue names and job ids: letters, digits, `.`, `_`, `-` only (BullMQ forbids `:`). */
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;

export interface Job<T = unknown> {
  /** The id given to `enqueue`. */
  id: string;
  queue: string;
  data: T;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  /** When the job was first enqueued (ms since epoch). */
  enqueuedAt: number;
}

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialDelayMs: number;
  /** Each further retry waits `multiplier` times longer (default 2; 1 = fixed delay). */
  multiplier?: number;
  /** Upper bound of one delay (default: none). */
  maxDelayMs?: number;
  /** Fraction of random spread added or removed, 0..1 (default 0). */
  jitter?: number;
}

export interface ConsumeOptions<T = unknown> {
  /** Jobs of this queue run at once in this process (default 1). Ignored when `fifo`. */
  concurrency?: number;
  /**
   * Strict FIFO: one job at a time, in enqueue order (delayed jobs in order of their due
   * time), and a failing job is retried *in place*: nothing behind it runs until it succeeds
   * or is given up.
   */
  fifo?: boolean;
  /** Runs in all, first included, before the job is given up (default 1: no retry). */
  attempts?: number;
  backoff?: BackoffPolicy;
  /**
   * Called once for each job the queue gives up: its last attempt failed, its handler threw
   * `DeadLetterError`, or (BullMQ) dying workers abandoned it more than `maxStalledCount`
   * times. `error` is the last error's message; `job.attempt` the number of its last run.
   * The queue keeps no list of such jobs: the caller records the failure where it keeps its
   * records (the engine: in the ledger). The driver waits for the returned promise before it
   * takes the next job of a FIFO queue and before `close` resolves; after a failed attempt
   * it is called while the job still holds its place (BullMQ: its lock), so a crash during
   * the call runs the job again. A callback that throws is reported to the driver's
   * `onError`; the job is dropped all the same and its id is free again.
   */
  onExhausted?: (job: Job<T>, error: string) => void | Promise<void>;
}

/** Thrown by a handler to give a job up at once, without further attempts (`onExhausted` is called). */
export class DeadLetterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeadLetterError';
  }
}

export interface QueueStats {
  /** Ready to run now. */
  waiting: number;
  /** Due later (delay or backoff). */
  delayed: number;
  /** Running now. */
  active: number;
  /** Age of the oldest waiting job (ms), if any. */
  oldestWaitingAgeMs?: number;
}

export type JobHandler<T = unknown> = (job: Job<T>) => Promise<void>;

export interface QueueDriver {
  readonly kind: 'memory' | 'bullmq';
  /**
   * Adds a job. Idempotent by id: while a job with this id is waiting, delayed or active,
   * enqueueing it again does nothing. Once the job has completed or been given up its id is
   * free again (a replay enqueues the same id anew).
   */
  enqueue<T>(queue: string, jobId: string, data: T, options?: { delayMs?: number }): Promise<void>;
  /**
   * Starts running the queue's jobs in this process. At most one consumer per queue per
   * driver. A job whose handler throws is retried (`attempts`, `backoff`), then given up:
   * dropped, after `onExhausted` is told.
   */
  consume<T>(queue: string, handler: JobHandler<T>, options?: ConsumeOptions<T>): Promise<void>;
  stats(queue: string): Promise<QueueStats>;
  /** Resolves when the backing service answers; rejects otherwise. */
  ping(): Promise<void>;
  /**
   * Graceful stop: takes no new jobs, waits up to `timeoutMs` (default 10,000) for running
   * ones, then closes connections. Jobs still running at the deadline are abandoned (their
   * ledger rows stay non-terminal, so recovery picks them up).
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}
