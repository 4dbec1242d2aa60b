export * from './types';
export * from './period';
export * from './schema';
export * from './ledger';
export * from './repair';
export * from './runner';
export * from './service-types';
export * from './reconciler';
