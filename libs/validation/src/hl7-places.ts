import { parsePath, type Hl7Message, type Hl7Path } from '@sinew/hl7v2';

/** A path as a rule or condition wrote it, parsed once. */
export interface RulePath {
  text: string;
  parsed: Hl7Path;
  /** The path wrote a segment index (`OBX[2]-5`, `OBX[*]-5`): locations keep it. */
  occurrenceGiven: boolean;
}

/** The concrete place one evaluation of a rule is looking at. */
export interface Target {
  segment: string;
  occurrence: number;
  field?: number;
  repetition?: number;
}

/** Parses `text`; throws Hl7ParseError (code `hl7.path`) when it is not an HL7 path. */
export function rulePath(text: string): RulePath {
  const parsed = parsePath(text);
  return { text, parsed, occurrenceGiven: /^\s*[A-Z][A-Z0-9]{2}\[/.test(text) };
}

/**
 * A path with its `*` bound to the place being checked: a `*` segment index on the rule's own
 * segment becomes the checked occurrence, and a `*` repetition of the rule's own field the
 * checked repetition. Other `*` stay (and then mean "any").
 */
export function bind(p: RulePath, at: Target): RulePath {
  const q = p.parsed;
  if (q.segment !== at.segment) return p;
  const occurrence = q.occurrence === '*' ? at.occurrence : q.occurrence;
  const repetition =
    q.repetition === '*' &&
    q.field === at.field &&
    occurrence === at.occurrence &&
    at.repetition !== undefined
      ? at.repetition
      : q.repetition;
  if (occurrence === q.occurrence && repetition === q.repetition) return p;
  return {
    text: p.text,
    parsed: { ...q, occurrence, repetition },
    occurrenceGiven: p.occurrenceGiven || q.occurrence === '*',
  };
}

function concrete(p: Hl7Path, occurrence: number, repetition: number | undefined): string {
  let s = `${p.segment}[${occurrence}]`;
  if (p.field === undefined) return s;
  s += `-${p.field}[${repetition ?? (p.repetition === '*' ? 1 : p.repetition)}]`;
  if (p.component !== undefined) s += `.${p.component}`;
  if (p.subcomponent !== undefined) s += `.${p.subcomponent}`;
  return s;
}

/** Where an issue points: the rule's own notation with each `*` made concrete. */
export function locate(p: RulePath, at: Target): string {
  const q = p.parsed;
  let s = q.segment;
  if (p.occurrenceGiven || at.occurrence !== 1) s += `[${at.occurrence}]`;
  if (q.field === undefined) return s;
  s += `-${q.field}`;
  const rep = at.repetition ?? (q.repetition === '*' ? 1 : q.repetition);
  if (q.repetitionGiven || rep !== 1) s += `[${rep}]`;
  if (q.component !== undefined) s += `.${q.component}`;
  if (q.subcomponent !== undefined) s += `.${q.subcomponent}`;
  return s;
}

/** Every place a path names in this message. */
export function targets(msg: Hl7Message, p: Hl7Path): Target[] {
  const count = msg.segmentsNamed(p.segment).length;
  const occurrences = p.occurrence === '*' ? Array.from({ length: count }, (_, i) => i + 1) : [p.occurrence];
  const out: Target[] = [];
  for (const occurrence of occurrences) {
    if (p.field === undefined) {
      out.push({ segment: p.segment, occurrence });
      continue;
    }
    if (p.repetition !== '*') {
      out.push({ segment: p.segment, occurrence, field: p.field, repetition: p.repetition });
      continue;
    }
    const seg = msg.segment(p.segment, occurrence);
    const reps = seg ? msg.repetitionCount(seg, p.field) : 0;
    for (let r = 1; r <= Math.max(reps, 1); r++) {
      out.push({ segment: p.segment, occurrence, field: p.field, repetition: r });
    }
  }
  return out;
}

/**
 * The decoded value at one place; `''` when absent. A bare segment reads as its name when the
 * segment is there.
 */
export function read(msg: Hl7Message, p: Hl7Path, at: Target): string {
  if (p.field === undefined) return msg.segment(p.segment, at.occurrence) ? p.segment : '';
  return msg.get(concrete(p, at.occurrence, at.repetition));
}

/** True when `test` holds for the value at some place `p` names (absent places read `''`). */
export function someValueAt(msg: Hl7Message, p: RulePath, test: (value: string) => boolean): boolean {
  const q = p.parsed;
  if (q.occurrence !== '*' && q.repetition !== '*') {
    return test(read(msg, q, { segment: q.segment, occurrence: q.occurrence, repetition: q.repetition }));
  }
  for (const t of targets(msg, q)) if (test(read(msg, q, t))) return true;
  return false;
}

/** `''` and HL7's explicit null `""` hold no value. */
export function isEmpty(value: string): boolean {
  return value === '' || value === '""';
}
