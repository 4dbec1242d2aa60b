export * from './types';
export * from './ledger';
export * from './repair';
export * from './runner';
export * from './service-types';
