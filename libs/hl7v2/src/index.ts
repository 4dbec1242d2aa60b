export * from './errors';
export * from './delimiters';
export * from './escape';
export * from './charset';
export * from './path';
export * from './segment';
export * from './message';
