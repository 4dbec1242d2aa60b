/** Stable codes of mapping errors. */
export const MappingErrorCode = {
  /** A transformer file does not match the transformer schema. */
  Schema: 'map.schema',
  /** A `when` condition cannot be compiled: a path or regular expression it cannot use. */
  Condition: 'map.condition',
  /** A `from`, `to`, condition or identity path that cannot be read or written where it stands. */
  Path: 'map.path',
  /** A `to` names an element that FHIR R4 does not have there, or writes a list as one value. */
  FhirElement: 'map.fhir_element',
  /** A resource or sub-map names a type that is not a FHIR R4 type. */
  FhirType: 'map.fhir_type',
  /** A sub-map applied where it does not fit: a segment map to a value, another FHIR type… */
  MapMismatch: 'map.mismatch',
  /** A `${NAME}` setting in a `const` is not set and has no default. */
  Setting: 'map.setting',
  /** A transformer names a sub-map, vocabulary or function that does not exist. */
  Unknown: 'map.unknown',
  /** Two transformers or functions share a name. */
  Duplicate: 'map.duplicate',
  /** A required source value is empty. */
  Required: 'map.required',
  /**
   * A warning, not an error: a required element the source leaves empty (or gives a value that
   * cannot be converted) was given the rule's `default`. A strict run fails instead.
   */
  Defaulted: 'map.defaulted',
  /** A code has no entry in the vocabulary map and the policy is `error`. */
  Unmapped: 'map.unmapped',
  /**
   * A warning: a code not in the vocabulary of a rule with `unmapped: drop`; the element was
   * not written.
   */
  UnmappedDropped: 'map.unmapped_dropped',
  /**
   * A warning: a code not in the vocabulary of a rule with `unmapped: default`; the rule's
   * default was written.
   */
  UnmappedDefaulted: 'map.unmapped_defaulted',
  /**
   * A warning: a value that is present but not what the rule's (or resource's) `expect` says
   * it must be (a code outside its list, a date without the time an instant needs); the rule
   * was skipped.
   */
  Unexpected: 'map.unexpected',
  /** A value is not a valid HL7 date/time. */
  InvalidDate: 'map.invalid_date',
  /** A value is not a number. */
  InvalidNumber: 'map.invalid_number',
  /** A function's arguments do not match its parameters. */
  InvalidArgs: 'map.invalid_args',
  /** A function failed in a way of its own. */
  Function: 'map.function',
  /** The message type has no built-in transformer. */
  NoTransformer: 'map.no_transformer',
  /** Input of a kind this transformer does not read. */
  Input: 'map.input',
  /** Parameters given to a map that it does not take, of the wrong type, or missing. */
  Param: 'map.param',
  /**
   * A warning, not an error: a reference followed with `resolve()` points to no resource of
   * the input Bundle; the path read nothing through it.
   */
  Unresolved: 'map.unresolved',
} as const;
export type MappingErrorCode = (typeof MappingErrorCode)[keyof typeof MappingErrorCode];

export interface MappingErrorLocation {
  /** Where the value came from: `PID-7`, `Patient.birthDate`, `$.appointment.start`. */
  source?: string;
  /** Where it was going: `Patient.birthDate`, `PID-7`. */
  target?: string;
  /** Transformer file and position, for compile errors. */
  file?: string;
  line?: number;
  column?: number;
}

/** The one error the mapping layer throws. Messages never contain patient data. */
export class MappingError extends Error {
  override readonly name = 'MappingError';
  constructor(
    readonly code: MappingErrorCode,
    message: string,
    readonly location: MappingErrorLocation = {},
  ) {
    super(message);
  }

  /** `file:line:col` for compile errors, `PID-7 → Patient.birthDate` for run-time errors. */
  get where(): string {
    const { file, line, column, source, target } = this.location;
    if (file) return `${file}${line ? `:${line}:${column ?? 1}` : ''}`;
    if (source && target) return `${source} → ${target}`;
    return source ?? target ?? '';
  }

  override toString(): string {
    return this.where ? `${this.where}: ${this.code}: ${this.message}` : `${this.code}: ${this.message}`;
  }
}
