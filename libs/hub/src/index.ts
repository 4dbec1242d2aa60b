export * from './types';
export { openHub } from './open-hub';
export { SqlHubStore, HubWriteError } from './sql-hub-store';
export { dateRange, normalise } from './search-params';
