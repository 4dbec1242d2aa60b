export * from './driver';
export { MemoryQueueDriver, type MemoryQueueDriverOptions } from './memory-driver';
// The BullMQ driver is reached through createQueueDriver (which loads it only when asked for),
// or imported from './bullmq-driver' directly.
export type { BullMqQueueDriverOptions } from './bullmq-driver';
export { createQueueDriver, type QueueDriverFactoryOptions } from './create-queue-driver';
export { backoffDelay } from './options';
