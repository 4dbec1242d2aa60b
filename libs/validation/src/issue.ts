/** One finding of a validator. Validators return issues; they never throw on bad data. */
export interface ValidationIssue {
  severity: 'error' | 'warning';
  /** Stable dotted code, e.g. `hl7.required`, `fhir.binding` (see {@link ValidationCode}). */
  code: string;
  /**
   * Where: an HL7 path (`PID-7`, `OBX[3]-5`), a segment (`OBX[2]`), or a FHIR element path
   * (`Patient.birthDate`, `Bundle.entry[0].resource.gender`).
   */
  location: string;
  /** For humans. Never holds message content: only locations, codes and counts. */
  message: string;
  /** 1-based line (segment) number in the HL7 v2 input, where one applies. */
  line?: number;
}

/** The codes Sinew's own validators report. Rule codes are whatever a rule declares. */
export const ValidationCode = {
  /** A required HL7 field (or, in a rule, any addressed element) is empty or absent. */
  Hl7Required: 'hl7.required',
  /** A segment the message structure requires is absent. */
  StructureMissingSegment: 'hl7.structure.missing_segment',
  /** A segment the message structure does not contain at all. */
  StructureUnexpectedSegment: 'hl7.structure.unexpected_segment',
  /** A segment the message structure contains, but not at this place. */
  StructureOrder: 'hl7.structure.order',
  /** MSH-9 names a message type or structure Sinew has no definition for (a warning). */
  StructureUnknown: 'hl7.structure.unknown',
  /**
   * MSH-12 names a version Sinew has no structures for, or the segments fit a later version's
   * structure than the one MSH-12 declares (a warning).
   */
  StructureVersion: 'hl7.structure.version',
  /** A resource breaks the FHIR R4 structure (type, cardinality, unknown property, format). */
  FhirStructure: 'fhir.structure',
  /** A required FHIR element is missing. */
  FhirRequired: 'fhir.required',
  /** A FHIR invariant (constraint such as `pat-1`) does not hold. */
  FhirInvariant: 'fhir.invariant',
  /** The input is not a FHIR resource Sinew can validate (no or unknown `resourceType`). */
  FhirInvalid: 'fhir.invalid',
  /** A code is not in the value set of a required binding. */
  FhirBinding: 'fhir.binding',
  /** A reference does not resolve inside its Bundle, or points at a resource of the wrong type. */
  FhirReference: 'fhir.reference',
  /** A validator failed on input it should have handled: a bug, reported instead of thrown. */
  Internal: 'validation.internal',
} as const;
export type ValidationCode = (typeof ValidationCode)[keyof typeof ValidationCode];

/** True when no issue is an error. */
export function isValid(issues: readonly ValidationIssue[]): boolean {
  return !issues.some((i) => i.severity === 'error');
}
