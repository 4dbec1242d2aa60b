import type { DestinationDefinition, SourceDefinition } from './connector';
import { channelDestination } from './channel.destination';
import { channelSource } from './channel.source';
import { emailDestination } from './email.destination';
import { fhirDestination } from './fhir.destination';
import { fhirSource } from './fhir.source';
import { fileDestination } from './file.destination';
import { fileSource } from './file.source';
import { httpDestination } from './http.destination';
import { httpSource } from './http.source';
import { mllpDestination } from './mllp.destination';
import { mllpSource } from './mllp.source';
import { databaseDestination } from './database.destination';
import { databaseSource } from './database.source';
import { scheduleSource } from './schedule.source';
import { sftpDestination } from './sftp.destination';
import { sftpSource } from './sftp.source';
import { storeDestination } from './store.destination';

/** Builds a registry keyed by type; a type declared twice is a programming error. */
function byType<D extends { type: string }>(kind: string, definitions: D[]): Record<string, D> {
  const out: Record<string, D> = {};
  for (const d of definitions) {
    if (out[d.type]) throw new Error(`${kind} connector type "${d.type}" is declared twice`);
    out[d.type] = d;
  }
  return out;
}

/** Every source connector, by type (`mllp`, `http`, `file`). */
export const SOURCES: Record<string, SourceDefinition> = byType<SourceDefinition>('source', [
  mllpSource,
  httpSource,
  fileSource,
  databaseSource,
  scheduleSource,
  channelSource,
  sftpSource,
  fhirSource,
]);

/** Every destination connector, by type (`mllp`, `http`, `fhir`, `file`). */
export const DESTINATIONS: Record<string, DestinationDefinition> = byType<DestinationDefinition>(
  'destination',
  [
    mllpDestination,
    httpDestination,
    fhirDestination,
    fileDestination,
    databaseDestination,
    channelDestination,
    emailDestination,
    sftpDestination,
    storeDestination,
  ],
);
