export * from './connector';
export * from './acker';
export * from './operation-outcome';
export { serverTlsConfig, clientTlsConfig, loadPem } from './tls-config';
export { mllpSource, mllpSourceConfig, MllpSource, type MllpSourceConfig } from './mllp.source';
export { httpSource, httpSourceConfig, HttpSource, type HttpSourceConfig } from './http.source';
export { fileSource, fileSourceConfig, FileSource, type FileSourceConfig } from './file.source';
export {
  mllpDestination,
  mllpDestinationConfig,
  MllpDestination,
  type MllpDestinationConfig,
} from './mllp.destination';
export {
  httpDestination,
  httpDestinationConfig,
  HttpDestination,
  type HttpDestinationConfig,
} from './http.destination';
export {
  fhirDestination,
  fhirDestinationConfig,
  FhirDestination,
  type FhirDestinationConfig,
} from './fhir.destination';
export {
  StoreDestination,
  storeDestination,
  storeDestinationConfig,
  type StoreDestinationConfig,
} from './store.destination';
export {
  fileDestination,
  fileDestinationConfig,
  FileDestination,
  type FileDestinationConfig,
} from './file.destination';
export {
  channelSource,
  channelSourceConfig,
  ChannelSource,
  type ChannelSourceConfig,
} from './channel.source';
export {
  channelDestination,
  channelDestinationConfig,
  ChannelDestination,
  handOffOutcome,
  type ChannelDestinationConfig,
} from './channel.destination';
export {
  emailDestination,
  emailDestinationConfig,
  EmailDestination,
  sendEmail,
  type EmailContent,
  type EmailDestinationConfig,
  type EmailDestinationInput,
} from './email.destination';
export { SOURCES, DESTINATIONS } from './registry';
export { fhirSource, fhirSourceConfig, FhirSource, type FhirSourceConfig } from './fhir.source';
export {
  fhirWriteChannels,
  FhirWriteChannels,
  FhirWriteClaimError,
  type FhirWriteChannel,
  type FhirWriteRequest,
} from './fhir-write-channels';
export { connectorDocs, configJsonSchema, schemaTable, type SchemaNode } from './docs';
export {
  databaseSource,
  databaseSourceConfig,
  DatabaseSource,
  type DatabaseSourceConfig,
} from './database.source';
export {
  databaseDestination,
  databaseDestinationConfig,
  DatabaseDestination,
  type DatabaseDestinationConfig,
} from './database.destination';
export {
  scheduleSource,
  scheduleSourceConfig,
  ScheduleSource,
  nextRun,
  type ScheduleSourceConfig,
} from './schedule.source';
export { sftpSource, sftpSourceConfig, SftpSource, type SftpSourceConfig } from './sftp.source';
export {
  sftpDestination,
  sftpDestinationConfig,
  SftpDestination,
  type SftpDestinationConfig,
} from './sftp.destination';
export { hostKeyFingerprint } from './sftp-connection';
