import { V2_5_1 } from './v2.5.1.data';

/**
 * Names from the standard, compactly: each segment or composite data type is a list whose
 * first entry is its description and whose entry `n` is element `n` written as
 * `"<data type> <name>"` (`"XPN Patient Name"`).
 */
export interface DictionaryData {
  version: string;
  segments: Record<string, string[]>;
  types: Record<string, string[]>;
}

/** A field, component or subcomponent: its name and data type in the standard. */
export interface ElementDefinition {
  name: string;
  /** HL7 data type code: `XPN`, `ST`, `CE`; `VARIES` where another field names it (OBX-5). */
  type: string;
}

/** The version whose names the dictionary holds. Names of other versions differ little. */
export const DICTIONARY_VERSION = V2_5_1.version;

function element(list: string[] | undefined, n: number): ElementDefinition | undefined {
  if (!list || n < 1) return undefined;
  const entry = list[n];
  if (entry === undefined) return undefined;
  const space = entry.indexOf(' ');
  return { type: entry.slice(0, space), name: entry.slice(space + 1) };
}

/** `PID` → `Patient Identification`; undefined for segments the standard does not define (Z…). */
export function segmentDescription(segment: string): string | undefined {
  return V2_5_1.segments[segment]?.[0];
}

/** `('PID', 5)` → `{ name: 'Patient Name', type: 'XPN' }`. */
export function fieldDefinition(segment: string, field: number): ElementDefinition | undefined {
  return element(V2_5_1.segments[segment], field);
}

/** `('XPN', 1)` → `{ name: 'Family Name', type: 'FN' }`; undefined for primitive types. */
export function componentDefinition(type: string, component: number): ElementDefinition | undefined {
  return element(V2_5_1.types[type], component);
}

/** `XPN` → `Extended Person Name`; undefined for primitive and unknown types. */
export function typeDescription(type: string): string | undefined {
  return V2_5_1.types[type]?.[0];
}

/**
 * The definitions along a position: the field, then its component, then the subcomponent,
 * as far as the dictionary knows them. `fieldType` overrides the field's data type, for
 * fields whose type another field gives (OBX-5 takes OBX-2's).
 *
 * `describePosition('PID', 5, 1, 1)` → Patient Name (XPN), Family Name (FN), Surname (ST).
 */
export function describePosition(
  segment: string,
  field: number,
  component?: number,
  subcomponent?: number,
  fieldType?: string,
): {
  field?: ElementDefinition;
  component?: ElementDefinition;
  subcomponent?: ElementDefinition;
} {
  const f = fieldDefinition(segment, field);
  const type = fieldType || f?.type;
  const c = component !== undefined && type ? componentDefinition(type, component) : undefined;
  const s = subcomponent !== undefined && c ? componentDefinition(c.type, subcomponent) : undefined;
  return { field: f, component: c, subcomponent: s };
}
