export * from './driver';
export { MemoryQueueDriver, type MemoryQueueDriverOptions } from './memory-driver';
export { BullMqQueueDriver, type BullMqQueueDriverOptions } from './bullmq-driver';
export { createQueueDriver, type QueueDriverFactoryOptions } from './create-queue-driver';
export { backoffDelay } from './options';
