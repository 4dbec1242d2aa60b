export * from './json-schema';
export * from './lint-codes';
export * from './pipeline-steps';
