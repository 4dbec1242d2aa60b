export { startEhr, type EhrOptions, type EhrStandin } from './ehr';
export { EhrRepository, loadFhirR4Definitions, type EhrRepositoryOptions } from './ehr-repository';
export { ROUTER_CONDITIONAL_TRANSACTION_LIMIT } from './large-transaction';
export { startPms, type JsonObject, type PmsOptions, type PmsRecord, type PmsStandin } from './pms';
export { PmsDatabase } from './pms-db';
export type { MllpAddress, OutboxEntry, OutboxOptions, PmsNotifyTargets } from './pms-outbox';
export type { Appointment, Charge, Patient } from './pms-records';
export { readConfig, runStandins, type StandinsConfig } from './run';
export type { Failure, FailureOptions, ReceivedRequest } from './http';
