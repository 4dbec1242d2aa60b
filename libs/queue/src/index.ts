export * from './driver';
export { MemoryQueueDriver, type MemoryQueueDriverOptions } from './memory-driver';
export { backoffDelay } from './options';
