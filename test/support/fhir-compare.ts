import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evalFhirPath } from '@medplum/core';
import { Hl7Message } from '@sinew/hl7v2';
import type { TransformerLibrary } from '@sinew/mapping';
import { corpusPath } from './corpus';

/** Key values compared per resource type: FHIRPath expressions giving strings. */
export const KEY_PATHS: Record<string, string[]> = {
  Patient: [
    'identifier.value',
    'name.family',
    'name.given',
    'birthDate',
    'gender',
    'address.city',
    'telecom.value',
  ],
  Encounter: ['status', 'class.code', 'identifier.value', 'period.start'],
  RelatedPerson: ['name.family', 'relationship.coding.code'],
  Coverage: ['status', 'identifier.value', 'subscriberId'],
  AllergyIntolerance: ['code.coding.code', 'code.text'],
  Condition: ['code.coding.code', 'onsetDateTime'],
  DiagnosticReport: ['status', 'code.coding.code', 'effectiveDateTime'],
  Observation: [
    'status',
    'code.coding.code',
    'valueQuantity.value',
    'valueQuantity.unit',
    'valueString',
    'valueCodeableConcept.coding.code',
    'referenceRange.text',
    'effectiveDateTime',
  ],
  Specimen: ['type.coding.code'],
  Appointment: ['status', 'start', 'end', 'identifier.value'],
  ServiceRequest: ['status', 'intent', 'code.coding.code', 'identifier.value'],
  DocumentReference: ['status', 'type.coding.code'],
  Immunization: ['status', 'vaccineCode.coding.code', 'occurrenceDateTime', 'lotNumber'],
  ChargeItem: ['status', 'code.coding.code'],
  Account: ['identifier.value'],
  Procedure: ['status', 'code.coding.code', 'performedDateTime'],
  MedicationRequest: ['status', 'intent', 'authoredOn'],
  MedicationDispense: ['status', 'whenHandedOver'],
  Practitioner: ['name.family'],
  Location: ['name'],
};

export interface Comparison {
  file: string;
  messageType: string;
  transformer?: string;
  error?: string;
  /** Resource types in FHIR-Converter's bundle and in Sinew's. */
  theirTypes: string[];
  ourTypes: string[];
  /** Key values of FHIR-Converter's bundle (for types both produce) that Sinew's bundle also holds. */
  keyValues: number;
  keyValuesMatched: number;
  /** `Type.path: value` of each key value Sinew's bundle does not hold. */
  missing: string[];
  bundle?: unknown;
}

interface ManifestEntry {
  rootTemplate: string;
  input: string;
  expected: string;
}

function resources(bundle: unknown): Array<Record<string, unknown>> {
  const entries = (bundle as { entry?: Array<{ resource?: Record<string, unknown> }> }).entry ?? [];
  return entries.map((e) => e.resource).filter((r): r is Record<string, unknown> => !!r);
}

const DATETIME_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A dateTime with an offset compares as the instant it names: FHIR-Converter re-expresses
 * times in the offset of the machine that ran it, Sinew keeps the sender's.
 */
function normalize(value: string): string {
  return DATETIME_WITH_OFFSET.test(value) ? new Date(value).toISOString() : value;
}

function valuesOf(list: Array<Record<string, unknown>>, type: string, path: string): Set<string> {
  const out = new Set<string>();
  for (const r of list.filter((x) => x.resourceType === type)) {
    for (const v of evalFhirPath(path, r)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        out.add(normalize(String(v).trim()));
    }
  }
  return out;
}

/** Converts every corpus sample with a transformer for its type and compares with FHIR-Converter. */
export function compareWithFhirConverter(library: TransformerLibrary): Comparison[] {
  const dir = corpusPath('fhir-converter-01');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ManifestEntry[];
  const out: Comparison[] = [];
  for (const m of manifest) {
    const msg = Hl7Message.parse(readFileSync(join(dir, m.input)));
    const theirs = resources(JSON.parse(readFileSync(join(dir, m.expected), 'utf8')));
    const base: Comparison = {
      file: m.input.replace(/^hl7v2-samples\//, ''),
      messageType: msg.messageType,
      theirTypes: [...new Set(theirs.map((r) => String(r.resourceType)))].sort(),
      ourTypes: [],
      keyValues: 0,
      keyValuesMatched: 0,
      missing: [],
    };
    let transformerName: string;
    try {
      transformerName = library.forMessageType(msg.messageType, 'fhir').name;
    } catch {
      continue;
    }
    base.transformer = transformerName;
    let bundle: unknown;
    try {
      bundle = library.get(transformerName).run(msg);
    } catch (err) {
      out.push({ ...base, error: String(err) });
      continue;
    }
    const ours = resources(bundle);
    base.bundle = bundle;
    base.ourTypes = [...new Set(ours.map((r) => String(r.resourceType)))].sort();
    for (const type of base.theirTypes.filter((t) => base.ourTypes.includes(t) && KEY_PATHS[t])) {
      for (const path of KEY_PATHS[type] ?? []) {
        const want = valuesOf(theirs, type, path);
        const have = valuesOf(ours, type, path);
        for (const v of want) {
          base.keyValues++;
          if (have.has(v)) base.keyValuesMatched++;
          else base.missing.push(`${type}.${path}: ${v}`);
        }
      }
    }
    out.push(base);
  }
  return out;
}
