import { evalFhirPath, parseFhirPath, type FhirPathAtom } from '@medplum/core';
import type { Hl7Message } from '@sinew/hl7v2';
import { formatPath, parsePath } from '@sinew/hl7v2';
import { compileMessageCondition, type RuleCondition } from '@sinew/validation';
import { LintCode } from './codes';
import type { Severity } from './problem';

/** What a channel reads a condition or key from: an HL7 v2 message, or a FHIR/JSON document. */
export type ConditionInput =
  { kind: 'hl7v2'; message: Hl7Message } | { kind: 'fhir' | 'json'; value: unknown };

/** The kinds of payload that flow through a channel. */
export type PayloadKind = 'hl7v2' | 'fhir' | 'json' | 'text' | 'csv' | 'xml';

/**
 * Kinds read as a JSON document by FHIRPath: FHIR, JSON, and csv/xml messages (a CSV row as an
 * object by column name, an XML document as its tree; the pipeline hands them over as `json`).
 */
function isDocument(k: PayloadKind): boolean {
  return k === 'fhir' || k === 'json' || k === 'csv' || k === 'xml';
}

/** A finding inside one expression, located relative to it (`['all', 1, 'matches']`). */
export interface ExpressionProblem {
  path: Array<string | number>;
  severity: Severity;
  code: (typeof LintCode)[keyof typeof LintCode];
  message: string;
}

/** Compiles an HL7 path; a problem instead when it is not one. */
export function compileHl7Path(
  text: string,
  options: { needField?: boolean; single?: boolean } = {},
): { path?: string; message?: string } {
  try {
    const p = parsePath(text);
    if (options.needField && p.field === undefined)
      return { message: `${text} names a whole segment; give a field, e.g. ${p.segment}-3` };
    if (options.single && (p.occurrence === '*' || p.repetition === '*'))
      return { message: `${text} reads several values; a key reads one (drop the [*])` };
    return { path: formatPath(p) };
  } catch (err) {
    return { message: (err as Error).message };
  }
}

/** The FHIRPath parser's message, in the words of the channel file. */
function fhirPathReason(message: string): string {
  if (/consume unknown more tokens/i.test(message))
    return 'it ends too early (a closing parenthesis, bracket or an operand is missing)';
  const at = /^Parse error at "(.*)" \(line \d+, column (\d+)\)/.exec(message);
  if (at) return `unexpected ${JSON.stringify(at[1])} at character ${Number(at[2]) + 1}`;
  return message;
}

export function compileFhirPath(text: string): { atom?: FhirPathAtom; message?: string } {
  try {
    return { atom: parseFhirPath(text) };
  } catch (err) {
    return {
      message: `FHIRPath ${JSON.stringify(text)} does not parse: ${fhirPathReason((err as Error).message)}`,
    };
  }
}

/** Reads a key (ordering or business key) from a message: '' when it is absent. */
export type KeyReader = (input: ConditionInput) => string;

/**
 * Compiles an ordering or business-key expression for the kinds of message that reach it: an
 * HL7 path for HL7 v2, FHIRPath for FHIR and JSON. An expression that cannot read a kind
 * that reaches it is an error when it is the only kind, a warning otherwise.
 */
export function compileKey(
  text: string,
  kinds: readonly PayloadKind[],
): { read?: KeyReader; problems: ExpressionProblem[] } {
  const problems: ExpressionProblem[] = [];
  const hl7 = kinds.includes('hl7v2');
  const docs = kinds.some(isDocument);
  const path = hl7 ? compileHl7Path(text, { needField: true, single: true }) : {};
  const fp = docs ? compileFhirPath(text) : {};
  const severity = (bad: number): Severity => (bad === kinds.length ? 'error' : 'warning');
  if (hl7 && !path.path) {
    problems.push({
      path: [],
      severity: severity(kinds.filter((k) => k === 'hl7v2').length),
      code: LintCode.Key,
      message: `HL7 v2 messages reach this key, but ${path.message ?? 'it is not an HL7 path'}`,
    });
  }
  if (docs && !fp.atom) {
    problems.push({
      path: [],
      severity: severity(kinds.filter(isDocument).length),
      code: LintCode.Key,
      message: fp.message ?? 'not FHIRPath',
    });
  }
  if (problems.some((p) => p.severity === 'error')) return { problems };
  const hl7Path = path.path;
  const atom = fp.atom;
  return {
    problems,
    read: (input) => {
      if (input.kind === 'hl7v2') return hl7Path ? input.message.get(hl7Path) : '';
      if (!atom) return '';
      const first = evalFhirPath(atom, input.value)[0];
      return first === undefined || first === null ? '' : String(first as string);
    },
  };
}

/** A compiled condition: true keeps the message. */
export type ConditionTest = (input: ConditionInput) => boolean;

/**
 * Compiles a filter condition for the kinds of message that reach it. HL7 conditions read HL7
 * v2 messages and FHIRPath reads FHIR/JSON: a condition that can read none of the kinds that
 * reach it is an error (it would drop every message), some of them a warning.
 */
export function compileCondition(
  c: RuleCondition | { fhirpath: string },
  kinds: readonly PayloadKind[],
): { test?: ConditionTest; problems: ExpressionProblem[] } {
  const problems: ExpressionProblem[] = [];
  if ('fhirpath' in c) {
    const fp = compileFhirPath(c.fhirpath);
    if (!fp.atom) {
      problems.push({
        path: ['fhirpath'],
        severity: 'error',
        code: LintCode.FhirPath,
        message: fp.message ?? '',
      });
      return { problems };
    }
    const readable = kinds.filter(isDocument).length;
    if (readable < kinds.length)
      problems.push({
        path: ['fhirpath'],
        severity: readable === 0 ? 'error' : 'warning',
        code: LintCode.Condition,
        message: `FHIRPath reads FHIR and JSON, but ${kinds.filter((k) => !isDocument(k)).join(', ')} messages reach this condition (it never holds for them)`,
      });
    const atom = fp.atom;
    return {
      problems,
      test: (input) => {
        if (input.kind === 'hl7v2') return false;
        const out = evalFhirPath(atom, input.value);
        return out.length > 0 && out.every((v) => v !== false);
      },
    };
  }
  // The one condition evaluator, shared with validation `when` and transformer `when`.
  const compiled = compileMessageCondition(c);
  for (const p of compiled.problems)
    problems.push({
      path: p.path,
      severity: 'error',
      code:
        p.code === 'condition.regex'
          ? LintCode.Regex
          : p.code === 'condition.path'
            ? LintCode.Hl7Path
            : LintCode.Condition,
      message: p.message,
    });
  const fn = compiled.test;
  if (!fn) return { problems };
  if (!kinds.includes('hl7v2'))
    problems.push({
      path: [],
      severity: 'error',
      code: LintCode.Condition,
      message: `an HL7 path condition reads HL7 v2, but ${kinds.join(', ')} messages reach it (write { fhirpath: … })`,
    });
  return { problems, test: (input) => input.kind === 'hl7v2' && fn(input.message) };
}
