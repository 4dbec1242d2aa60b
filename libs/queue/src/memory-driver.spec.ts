import { queueConformanceSuite } from './conformance';
import { MemoryQueueDriver } from './memory-driver';

queueConformanceSuite('MemoryQueueDriver', async () => new MemoryQueueDriver(), { recoveryTimeoutMs: 2000 });
