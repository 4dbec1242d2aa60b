export * from './types';
export * from './period';
export * from './schema';
