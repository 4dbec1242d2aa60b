import type { ConsumeOptions, Job, JobHandler, QueueDriver, QueueStats } from './driver';
import { DueHeap, type DueItem } from './due-heap';
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

export interface MemoryQueueDriverOptions {
  /**
   * Receives errors the driver cannot hand to a caller (an `onExhausted` callback that threw).
   * Default: `process.emitWarning`.
   */
  onError?: (err: Error) => void;
}

/** Jobs started straight from a completion before the driver yields to the event loop. */
const BURST = 256;
/** Node timers hold at most 2^31-1 ms; longer delays are re-armed on expiry. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry extends DueItem {
  id: string;
  data: unknown;
  enqueuedAt: number;
  /** Runs started so far (the running attempt's number while active). */
  runs: number;
  state: 'waiting' | 'delayed' | 'active';
  /** When the job became ready to run. */
  readySince: number;
}

/** FIFO list of ready entries: an array with a moving head, compacted now and then. */
class ReadyList {
  private items: Entry[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): Entry | undefined {
    return this.items[this.head];
  }

  push(entry: Entry): void {
    this.items.push(entry);
  }

  shift(): Entry | undefined {
    const entry = this.items[this.head];
    if (entry === undefined) return undefined;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

interface Consumer {
  handler: JobHandler<unknown>;
  options: ResolvedConsumeOptions;
}

interface QueueState {
  name: string;
  /** Live jobs (waiting, delayed or active) by id. */
  jobs: Map<string, Entry>;
  ready: ReadyList;
  delayed: DueHeap<Entry>;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
  consumer: Consumer | undefined;
  active: number;
  /** FIFO only: the head job waiting out its backoff; nothing else runs meanwhile. */
  blocked: { entry: Entry; timer: NodeJS.Timeout } | undefined;
  pumpScheduled: boolean;
  burst: number;
}

/**
 * The in-process queue: the embedded default. Jobs live in this process's memory only; a
 * crash loses them, and the engine's recovery sweep re-enqueues them from the ledger.
 *
 * Ready jobs are kept in a list and started from completions (up to {@link BURST} in a row,
 * then after a `setImmediate`), so no timer is created for a job that can run now. Delayed
 * jobs and backoffs share one timer per queue, armed for the earliest due job.
 */
export class MemoryQueueDriver implements QueueDriver {
  readonly kind = 'memory' as const;

  private readonly queues = new Map<string, QueueState>();
  private readonly onError: (err: Error) => void;
  private seq = 0;
  private running = 0;
  private closing = false;
  /** Set at the end of `close`: results of jobs still running are ignored from then on. */
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private whenIdle: (() => void) | undefined;

  constructor(options: MemoryQueueDriverOptions = {}) {
    this.onError = options.onError ?? ((err) => process.emitWarning(`queue (memory): ${err.message}`));
  }

  async enqueue<T>(queue: string, jobId: string, data: T, options?: { delayMs?: number }): Promise<void> {
    checkQueueName(queue);
    checkJobId(jobId);
    const delay = checkDelay(options?.delayMs);
    if (this.closing) throw new Error('queue: the driver is closed');
    const q = this.state(queue);
    if (q.jobs.has(jobId)) return;
    const now = Date.now();
    const entry: Entry = {
      id: jobId,
      data,
      enqueuedAt: now,
      runs: 0,
      state: 'waiting',
      readySince: now,
      dueAt: now + delay,
      seq: ++this.seq,
    };
    q.jobs.set(jobId, entry);
    if (delay > 0) {
      this.addDelayed(q, entry);
    } else {
      q.ready.push(entry);
      this.schedule(q);
    }
  }

  async consume<T>(queue: string, handler: JobHandler<T>, options?: ConsumeOptions<T>): Promise<void> {
    checkQueueName(queue);
    if (typeof handler !== 'function') throw new Error('queue: the handler must be a function');
    const resolved = resolveConsumeOptions(options);
    if (this.closing) throw new Error('queue: the driver is closed');
    const q = this.state(queue);
    if (q.consumer) throw new Error(`queue: ${queue} already has a consumer in this driver`);
    q.consumer = { handler: handler as JobHandler<unknown>, options: resolved };
    this.schedule(q);
  }

  async stats(queue: string): Promise<QueueStats> {
    checkQueueName(queue);
    const q = this.queues.get(queue);
    if (!q) return { waiting: 0, delayed: 0, active: 0 };
    const stats: QueueStats = {
      waiting: q.ready.length,
      delayed: q.delayed.size + (q.blocked ? 1 : 0),
      active: q.active,
    };
    const oldest = q.ready.peek();
    if (oldest) stats.oldestWaitingAgeMs = Math.max(0, Date.now() - oldest.readySince);
    return stats;
  }

  async ping(): Promise<void> {
    if (this.closing) throw new Error('queue: the driver is closed');
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
    for (const q of this.queues.values()) {
      if (q.timer) clearTimeout(q.timer);
      q.timer = undefined;
      if (q.blocked) clearTimeout(q.blocked.timer);
      q.blocked = undefined;
    }
    if (this.running > 0) {
      let deadline: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.whenIdle = resolve;
        deadline = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(deadline);
      this.whenIdle = undefined;
    }
    this.closed = true;
    for (const q of this.queues.values()) {
      q.ready.clear();
      q.delayed.clear();
    }
  }

  private state(name: string): QueueState {
    let q = this.queues.get(name);
    if (!q) {
      q = {
        name,
        jobs: new Map(),
        ready: new ReadyList(),
        delayed: new DueHeap<Entry>(),
        timer: undefined,
        timerAt: 0,
        consumer: undefined,
        active: 0,
        blocked: undefined,
        pumpScheduled: false,
        burst: 0,
      };
      this.queues.set(name, q);
    }
    return q;
  }

  /** Runs `pump` on the next turn of the event loop (once, however often asked). */
  private schedule(q: QueueState): void {
    if (!q.consumer || q.pumpScheduled || this.closing) return;
    q.pumpScheduled = true;
    setImmediate(() => {
      q.pumpScheduled = false;
      q.burst = 0;
      this.pump(q);
    });
  }

  /** Starts ready jobs while the queue has room. */
  private pump(q: QueueState): void {
    const consumer = q.consumer;
    if (!consumer || this.closing) return;
    const limit = consumer.options.concurrency;
    while (q.active < limit && q.blocked === undefined) {
      const entry = q.ready.shift();
      if (entry === undefined) return;
      this.run(q, consumer, entry);
    }
  }

  /** After a job ended: start the next one now, or yield to the event loop first. */
  private next(q: QueueState): void {
    if (this.closing || q.ready.length === 0) return;
    if (q.burst < BURST) {
      q.burst++;
      this.pump(q);
    } else {
      this.schedule(q);
    }
  }

  private run(q: QueueState, consumer: Consumer, entry: Entry): void {
    entry.state = 'active';
    entry.runs++;
    q.active++;
    this.running++;
    const job: Job<unknown> = {
      id: entry.id,
      queue: q.name,
      data: entry.data,
      attempt: entry.runs,
      enqueuedAt: entry.enqueuedAt,
    };
    let result: Promise<void>;
    try {
      result = Promise.resolve(consumer.handler(job));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      () => this.succeeded(q, entry),
      (err: unknown) => this.failed(q, consumer, entry, err),
    );
  }

  private ended(q: QueueState): void {
    q.active--;
    this.running--;
    if (this.running === 0) this.whenIdle?.();
  }

  private succeeded(q: QueueState, entry: Entry): void {
    this.ended(q);
    if (this.closed) return;
    q.jobs.delete(entry.id);
    this.next(q);
  }

  private failed(q: QueueState, consumer: Consumer, entry: Entry, err: unknown): void {
    if (this.closed) {
      this.ended(q);
      return;
    }
    const { attempts, backoff, fifo } = consumer.options;
    if (isDeadLetterError(err) || entry.runs >= attempts) {
      void this.giveUp(q, consumer, entry, err);
      return;
    }
    this.ended(q);
    // Closing: the job is abandoned as it stands; recovery re-enqueues it.
    if (this.closing) return;
    const delay = backoffDelay(backoff, entry.runs);
    if (fifo) {
      entry.state = 'delayed';
      const timer = setTimeout(() => {
        q.blocked = undefined;
        if (this.closing) return;
        this.run(q, consumer, entry);
      }, delay);
      q.blocked = { entry, timer };
    } else if (delay > 0) {
      entry.dueAt = Date.now() + delay;
      entry.seq = ++this.seq;
      this.addDelayed(q, entry);
      this.next(q);
    } else {
      entry.state = 'waiting';
      entry.readySince = Date.now();
      q.ready.push(entry);
      this.next(q);
    }
  }

  /**
   * Tells `onExhausted`, then drops the job. Until the callback settles the job keeps its id
   * and its place (it counts as active), so a FIFO queue does not move on and `close` waits.
   */
  private async giveUp(q: QueueState, consumer: Consumer, entry: Entry, err: unknown): Promise<void> {
    const onExhausted = consumer.options.onExhausted;
    if (onExhausted) {
      const job: Job<unknown> = {
        id: entry.id,
        queue: q.name,
        data: entry.data,
        attempt: entry.runs,
        enqueuedAt: entry.enqueuedAt,
      };
      try {
        await onExhausted(job, errorMessage(err));
      } catch (callbackErr) {
        this.onError(
          new Error(`onExhausted of queue ${q.name} threw: ${errorMessage(callbackErr)}`, {
            cause: callbackErr,
          }),
        );
      }
    }
    this.ended(q);
    if (this.closed) return;
    q.jobs.delete(entry.id);
    this.next(q);
  }

  private addDelayed(q: QueueState, entry: Entry): void {
    entry.state = 'delayed';
    q.delayed.push(entry);
    this.arm(q);
  }

  /** Sets the queue's timer for its earliest due job (if not already set for that time). */
  private arm(q: QueueState): void {
    if (this.closing) return;
    const first = q.delayed.peek();
    if (first === undefined) {
      if (q.timer) clearTimeout(q.timer);
      q.timer = undefined;
      return;
    }
    if (q.timer && q.timerAt <= first.dueAt) return;
    if (q.timer) clearTimeout(q.timer);
    q.timerAt = first.dueAt;
    const wait = Math.min(Math.max(0, first.dueAt - Date.now()), MAX_TIMER_MS);
    q.timer = setTimeout(() => this.promote(q), wait);
  }

  /** Moves every due delayed job to the ready list, in due order. */
  private promote(q: QueueState): void {
    q.timer = undefined;
    const now = Date.now();
    for (let first = q.delayed.peek(); first && first.dueAt <= now; first = q.delayed.peek()) {
      q.delayed.pop();
      first.state = 'waiting';
      first.readySince = now;
      q.ready.push(first);
    }
    this.arm(q);
    this.pump(q);
  }
}
