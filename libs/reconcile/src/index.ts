export * from './types';
export * from './scheduler';
export * from './alerts';
export * from './failsafe';
