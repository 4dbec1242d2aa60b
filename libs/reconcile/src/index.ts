export * from './types';
export * from './scheduler';
