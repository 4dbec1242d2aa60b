/**
 * A small evaluator for the simple FHIRPath-like paths a reconciliation names fields with:
 * dotted elements (`name.family`), an index (`name[1].given[0]`), a filter on a child's value
 * (`identifier.where(system='urn:oid:1.2.3').value`), and the first value wins.
 */
import type { RawValue } from '../types';

type Step =
  | { kind: 'element'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'where'; name: string; value: string };

export interface SimplePath {
  readonly source: string;
  readonly steps: readonly Step[];
  /** The first element's name (for FHIR `_elements`). */
  readonly first: string;
}

export class SimplePathError extends Error {
  constructor(path: string, reason: string) {
    super(`path ${JSON.stringify(path)}: ${reason}`);
    this.name = 'SimplePathError';
  }
}

const ELEMENT = /^[A-Za-z_][A-Za-z0-9_]*/;
const WHERE = /^where\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'((?:[^'\\]|\\.)*)'\s*\)/;

/** Parses a simple path; throws SimplePathError on anything else. */
export function parseSimplePath(source: string): SimplePath {
  const text = source.trim();
  if (!text) throw new SimplePathError(source, 'is empty');
  const steps: Step[] = [];
  let rest = text;
  let expectSegment = true;
  while (rest.length > 0) {
    if (expectSegment) {
      const where = WHERE.exec(rest);
      if (where && steps.length > 0) {
        steps.push({
          kind: 'where',
          name: where[1] as string,
          value: (where[2] as string).replace(/\\(.)/g, '$1'),
        });
        rest = rest.slice(where[0].length);
      } else {
        const element = ELEMENT.exec(rest);
        if (!element) throw new SimplePathError(source, `unexpected ${JSON.stringify(rest.slice(0, 12))}`);
        steps.push({ kind: 'element', name: element[0] });
        rest = rest.slice(element[0].length);
      }
      expectSegment = false;
      continue;
    }
    const index = /^\[(\d+)\]/.exec(rest);
    if (index) {
      steps.push({ kind: 'index', index: Number(index[1]) });
      rest = rest.slice(index[0].length);
      continue;
    }
    if (rest.startsWith('.')) {
      rest = rest.slice(1);
      expectSegment = true;
      continue;
    }
    throw new SimplePathError(source, `unexpected ${JSON.stringify(rest.slice(0, 12))}`);
  }
  if (expectSegment) throw new SimplePathError(source, 'ends with a dot');
  const first = steps[0];
  if (first?.kind !== 'element') throw new SimplePathError(source, 'must start with an element name');
  return { source, steps, first: first.name };
}

/**
 * The first value the path selects in `resource`: a string, number or boolean; objects and
 * arrays are never returned (null when nothing primitive is found).
 */
export function evaluateSimplePath(path: SimplePath, resource: unknown): RawValue {
  let current: unknown[] = [resource];
  for (const step of path.steps) {
    const next: unknown[] = [];
    if (step.kind === 'element') {
      for (const item of current) {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
        const value = (item as Record<string, unknown>)[step.name];
        if (Array.isArray(value)) next.push(...value);
        else if (value !== undefined && value !== null) next.push(value);
      }
    } else if (step.kind === 'index') {
      if (step.index < current.length) next.push(current[step.index]);
    } else {
      for (const item of current) {
        if (item === null || typeof item !== 'object') continue;
        const value = (item as Record<string, unknown>)[step.name];
        if (value !== undefined && value !== null && String(value) === step.value) next.push(item);
      }
    }
    current = next;
    if (current.length === 0) return null;
  }
  for (const value of current) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  }
  return null;
}
