/**
 * JSONPath for the `http_json` adapter (jsonpath-plus), with a fast path for the plain
 * `$.a.b` paths most settings use.
 */
import { JSONPath } from 'jsonpath-plus';
import type { RawValue } from '../types';

export interface CompiledJsonPath {
  readonly source: string;
  /** Every value the path selects. */
  all(json: unknown): unknown[];
  /** The first primitive value selected (objects and arrays give null). */
  first(json: unknown): RawValue;
}

const PLAIN = /^\$((?:\.[A-Za-z_$][A-Za-z0-9_$-]*)*)$/;

export function compileJsonPath(source: string): CompiledJsonPath {
  const plain = PLAIN.exec(source.trim());
  const all = plain
    ? (() => {
        const names = (plain[1] ?? '').split('.').filter(Boolean);
        return (json: unknown): unknown[] => {
          let current: unknown = json;
          for (const name of names) {
            if (current === null || typeof current !== 'object' || Array.isArray(current)) return [];
            current = (current as Record<string, unknown>)[name];
          }
          return current === undefined ? [] : [current];
        };
      })()
    : (json: unknown): unknown[] => {
        if (json === null || typeof json !== 'object') return [];
        const result: unknown = JSONPath({ path: source, json: json as object, wrap: true });
        return Array.isArray(result) ? result : [];
      };
  return {
    source,
    all,
    first(json: unknown): RawValue {
      for (const value of all(json)) {
        if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
          return value;
        if (value === null) return null;
      }
      return null;
    },
  };
}

/** Whether jsonpath-plus accepts the path (for settings validation). */
export function jsonPathProblem(source: string): string | undefined {
  if (!source.trim().startsWith('$')) return 'a JSONPath starts with $';
  try {
    JSONPath({ path: source, json: {}, wrap: true });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
