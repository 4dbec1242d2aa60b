import { Hl7ErrorCode, Hl7ParseError } from './errors';

/** `*` selects every occurrence / repetition (only where a list is read). */
export type PathIndex = number | '*';

/**
 * A location in a message, in the standard's notation: `PID-3`, `PID-3[2].1`, `PID-5.1.2`,
 * `OBX[3]-5`, `MSH-9.2`. All indices are 1-based. An omitted segment index means the first
 * occurrence; an omitted repetition index means the first repetition.
 */
export interface Hl7Path {
  segment: string;
  occurrence: PathIndex;
  field?: number;
  repetition: PathIndex;
  /** True when the path wrote a repetition index (`PID-3[1]`), false for `PID-3`. */
  repetitionGiven: boolean;
  component?: number;
  subcomponent?: number;
}

const PATH = /^([A-Z][A-Z0-9]{2})(?:\[(\d+|\*)\])?(?:-(\d+)(?:\[(\d+|\*)\])?(?:\.(\d+)(?:\.(\d+))?)?)?$/;
const cache = new Map<string, Hl7Path>();

function index(text: string | undefined, path: string, what: string): PathIndex {
  if (text === undefined) return 1;
  if (text === '*') return '*';
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Hl7ParseError(Hl7ErrorCode.Path, `${what} index in ${JSON.stringify(path)} must be 1 or more`);
  }
  return n;
}

function position(text: string | undefined, path: string, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = index(text, path, what);
  if (n === '*') throw new Hl7ParseError(Hl7ErrorCode.Path, `${what} cannot be '*'`);
  return n;
}

/** Parses a path; throws {@link Hl7ParseError} with code `hl7.path` on bad notation. */
export function parsePath(path: string): Hl7Path {
  const hit = cache.get(path);
  if (hit) return hit;
  const m = PATH.exec(path.trim());
  if (!m) {
    throw new Hl7ParseError(
      Hl7ErrorCode.Path,
      `${JSON.stringify(path.slice(0, 60))} is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)`,
    );
  }
  const parsed: Hl7Path = {
    segment: m[1] as string,
    occurrence: index(m[2], path, 'segment'),
    field: position(m[3], path, 'field'),
    repetition: index(m[4], path, 'repetition'),
    repetitionGiven: m[4] !== undefined,
    component: position(m[5], path, 'component'),
    subcomponent: position(m[6], path, 'subcomponent'),
  };
  if (cache.size > 10_000) cache.clear();
  cache.set(path, parsed);
  return parsed;
}

export function formatPath(p: Hl7Path): string {
  let s = p.segment;
  if (p.occurrence !== 1) s += `[${p.occurrence}]`;
  if (p.field === undefined) return s;
  s += `-${p.field}`;
  if (p.repetitionGiven || p.repetition !== 1) s += `[${p.repetition}]`;
  if (p.component !== undefined) s += `.${p.component}`;
  if (p.subcomponent !== undefined) s += `.${p.subcomponent}`;
  return s;
}
