export * from './types';
export * from './adapters/registry';
export * from './adapters/fhir';
export * from './adapters/fhir-path';
export * from './adapters/http-json';
export * from './adapters/sql';
export * from './adapters/sql-checksum';
export * from './adapters/csv';
