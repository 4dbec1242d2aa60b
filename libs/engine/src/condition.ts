import { evalFhirPath } from '@medplum/core';
import type { Hl7Message } from '@sinew/hl7v2';
import type { RuleCondition } from '@sinew/validation';
import type { FilterCondition } from './channel';

/** The input a condition reads: an HL7 v2 message, or a FHIR/JSON document. */
export type ConditionInput =
  { kind: 'hl7v2'; message: Hl7Message } | { kind: 'fhir' | 'json'; value: unknown };

function hl7Holds(c: RuleCondition, msg: Hl7Message): boolean {
  if ('all' in c) return c.all.every((x) => hl7Holds(x, msg));
  if ('any' in c) return c.any.some((x) => hl7Holds(x, msg));
  if ('not' in c) return !hl7Holds(c.not, msg);
  const value = msg.get(c.path);
  if ('present' in c) return (value !== '') === c.present;
  if ('equals' in c) return value === c.equals;
  if ('in' in c) return c.in.includes(value);
  return new RegExp(c.matches).test(value);
}

/** Compiles a filter condition once; the result tells whether a message passes. */
export function compileCondition(c: FilterCondition): (input: ConditionInput) => boolean {
  if ('fhirpath' in c) {
    const expr = c.fhirpath;
    return (input) => {
      if (input.kind === 'hl7v2') return false;
      const out = evalFhirPath(expr, input.value);
      return out.length > 0 && out.every((v) => v !== false);
    };
  }
  // Regular expressions are compiled here once, so a bad pattern fails at start-up.
  const check = (x: RuleCondition): void => {
    if ('all' in x) x.all.forEach(check);
    else if ('any' in x) x.any.forEach(check);
    else if ('not' in x) check(x.not);
    else if ('matches' in x) new RegExp(x.matches);
  };
  check(c);
  return (input) => input.kind === 'hl7v2' && hl7Holds(c, input.message);
}

/** Reads a key (ordering or business key): an HL7 path, or FHIRPath for FHIR/JSON input. */
export function readKey(expr: string, input: ConditionInput): string {
  if (input.kind === 'hl7v2') return input.message.get(expr);
  const out = evalFhirPath(expr, input.value);
  const first = out[0];
  return first === undefined || first === null ? '' : String(first);
}
