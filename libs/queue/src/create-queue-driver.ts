import type * as BullMqDriverModule from './bullmq-driver';
import type { QueueDriver } from './driver';
import { MemoryQueueDriver } from './memory-driver';

export interface QueueDriverFactoryOptions {
  /** Redis URL: given, the BullMQ driver; absent, the in-process driver. */
  redisUrl?: string;
  /** Key prefix for the BullMQ driver (default `sinew`). */
  prefix?: string;
  /**
   * BullMQ: a running job's lock (default 30,000 ms); a job whose process died runs again
   * once its lock has expired and a stalled check has run.
   */
  lockDurationMs?: number;
  /** BullMQ: how often stalled jobs are looked for (default 30,000 ms). */
  stalledIntervalMs?: number;
  /** Errors no caller can be given (connection loss, a dead-letter listener that threw). */
  onError?: (err: Error) => void;
}

/** BullMQ on Redis when `redisUrl` is given (scale-out), else the in-process driver (embedded). */
export function createQueueDriver(options: QueueDriverFactoryOptions = {}): QueueDriver {
  if (options.redisUrl) {
    // Loaded only here: BullMQ and ioredis cost an embedded engine ≈6 MB of heap it never uses.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { BullMqQueueDriver } = require('./bullmq-driver') as typeof BullMqDriverModule;
    return new BullMqQueueDriver({
      url: options.redisUrl,
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
      ...(options.lockDurationMs !== undefined ? { lockDurationMs: options.lockDurationMs } : {}),
      ...(options.stalledIntervalMs !== undefined ? { stalledIntervalMs: options.stalledIntervalMs } : {}),
    });
  }
  return new MemoryQueueDriver(options.onError ? { onError: options.onError } : {});
}
