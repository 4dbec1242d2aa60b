export * from './types';
export * from './events';
export * from './criteria';
export * from './fanout';
export * from './service';
export * from './dispatcher';
export * from './fhir-subscriptions';
export * from './reconcile-events';
