/**
 * The queue port. The ledger (libs/store) is the system of record; a queue is a rebuildable
 * wake-up list: losing it (a crash of the in-process driver, a Redis restart) costs
 * re-delivery, never a message, because the engine's recovery sweep re-enqueues every
 * non-terminal ledger row under a job id derived from the row's id.
 *
 * Two drivers implement it: `MemoryQueueDriver` (in-process, the embedded default) and
 * `BullMqQueueDriver` (Redis, for scale-out). Both pass `queueConformanceSuite`.
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

export interface ConsumeOptions {
  /** Jobs of this queue run at once in this process (default 1). Ignored when `fifo`. */
  concurrency?: number;
  /**
   * Strict FIFO: one job at a time, in enqueue order (delayed jobs in order of their due
   * time), and a failing job is retried *in place*: nothing behind it runs until it succeeds
   * or is dead-lettered.
   */
  fifo?: boolean;
  /** Runs in all, first included, before the job is dead-lettered (default 1: no retry). */
  attempts?: number;
  backoff?: BackoffPolicy;
}

/** A job that exhausted its attempts (or threw `DeadLetterError`). */
export interface DeadJob<T = unknown> {
  job: Job<T>;
  /** The last error's message. */
  error: string;
  failedAt: number;
}

/** Thrown by a handler to dead-letter a job at once, without further attempts. */
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
  deadLettered: number;
  /** Age of the oldest waiting job (ms), if any. */
  oldestWaitingAgeMs?: number;
}

export type JobHandler<T = unknown> = (job: Job<T>) => Promise<void>;

export interface QueueDriver {
  readonly kind: 'memory' | 'bullmq';
  /**
   * Adds a job. Idempotent by id: while a job with this id is waiting, delayed or active,
   * enqueueing it again does nothing. Once the job has completed or been dead-lettered its id
   * is free again (a replay enqueues the same id anew).
   */
  enqueue<T>(queue: string, jobId: string, data: T, options?: { delayMs?: number }): Promise<void>;
  /** Starts running the queue's jobs in this process. At most one consumer per queue per driver. */
  consume<T>(queue: string, handler: JobHandler<T>, options?: ConsumeOptions): Promise<void>;
  /** Called for every job that is dead-lettered (after its last attempt, or `DeadLetterError`). */
  onDeadLetter(listener: (dead: DeadJob) => void): void;
  deadLetters(queue: string): Promise<DeadJob[]>;
  /** Removes a job from the dead-letter list (e.g. before a replay); no-op if absent. */
  removeDeadLetter(queue: string, jobId: string): Promise<void>;
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
