import type { z } from 'zod';
import { LintCode } from './codes';
import { parseDuration } from './duration';
import { didYouMean } from './suggest';

/** A schema finding before it is given a file position. */
export interface RawProblem {
  path: Array<string | number>;
  /** Locate the key (unknown keys) or the value. */
  at: 'key' | 'value';
  code: LintCode;
  message: string;
}

type Issue = z.core.$ZodIssue;
type Def = { type: string; [k: string]: unknown };

function defOf(schema: unknown): Def | undefined {
  return (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;
}

/** The schemas a value at `path` may be checked against (unions give several). */
function schemasAt(schema: unknown, path: ReadonlyArray<string | number>): unknown[] {
  let current: unknown[] = [schema];
  const unwrap = (s: unknown, depth = 0): unknown[] => {
    const def = defOf(s);
    if (!def || depth > 20) return [];
    switch (def.type) {
      case 'default':
      case 'prefault':
      case 'optional':
      case 'nullable':
      case 'readonly':
      case 'catch':
        return unwrap(def.innerType, depth + 1);
      case 'pipe':
        return unwrap(def.in, depth + 1);
      case 'lazy':
        return unwrap((def.getter as () => unknown)(), depth + 1);
      case 'union':
        return (def.options as unknown[]).flatMap((o) => unwrap(o, depth + 1));
      default:
        return [s];
    }
  };
  current = unwrap(schema);
  for (const step of path) {
    const next: unknown[] = [];
    for (const s of current) {
      const def = defOf(s) as Def;
      if (def.type === 'object' && typeof step === 'string') {
        const field = (def.shape as Record<string, unknown>)[step];
        if (field) next.push(...unwrap(field));
      } else if (def.type === 'array' && typeof step === 'number') next.push(...unwrap(def.element));
      else if (def.type === 'record') next.push(...unwrap(def.valueType));
    }
    current = next;
  }
  return current;
}

/** The keys an object at `path` may hold. */
export function knownKeys(schema: unknown, path: ReadonlyArray<string | number>): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(schema, path)) {
    const def = defOf(s);
    if (def?.type === 'object') for (const k of Object.keys(def.shape as object)) keys.add(k);
  }
  return [...keys];
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

function expectedName(e: string): string {
  if (e === 'object') return 'a mapping';
  if (e === 'array') return 'a list';
  if (e === 'string') return 'text';
  return `a ${e}`;
}

function issuesCost(issues: readonly Issue[]): number {
  return issues.reduce((n, i) => n + (i.code === 'unrecognized_keys' ? 3 * i.keys.length : 1), 0);
}

/**
 * Turns zod's issues into findings that say which key or value is wrong, what is allowed, and
 * "did you mean" when one choice is close. `extraKeys(path)` adds keys accepted at a path
 * beyond the schema's own (a destination's common settings beside its connector's).
 */
export function zodProblems(
  issues: readonly Issue[],
  schema: unknown,
  base: Array<string | number> = [],
  extraKeys: (path: ReadonlyArray<string | number>) => string[] = () => [],
): RawProblem[] {
  const out: RawProblem[] = [];
  const visit = (issue: Issue, prefix: Array<string | number>) => {
    const rel = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const path = [...prefix, ...rel];
    const schemaPath = path.slice(base.length);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = [...knownKeys(schema, schemaPath), ...extraKeys(schemaPath)];
        for (const key of issue.keys) {
          const ms = known.includes(`${key}_ms`)
            ? `; durations are whole milliseconds in keys ending in _ms: ${key}_ms`
            : didYouMean(key, known);
          out.push({
            path: [...path, key],
            at: 'key',
            code: LintCode.UnknownKey,
            message: `unknown key ${key}${ms || (known.length ? ` (allowed: ${known.sort().join(', ')})` : '')}`,
          });
        }
        return;
      }
      case 'invalid_union': {
        const branches = issue.errors.filter((b) => b.length > 0);
        if (branches.length === 0) {
          out.push({ path, at: 'value', code: LintCode.Type, message: issue.message });
          return;
        }
        const best = branches.reduce((a, b) => (issuesCost(b) < issuesCost(a) ? b : a));
        for (const inner of best) visit(inner, path);
        return;
      }
      case 'invalid_value': {
        const allowed = issue.values.map(String);
        const got = (issue as { input?: unknown }).input;
        const gotText = typeof got === 'string' ? got : JSON.stringify(got);
        out.push({
          path,
          at: 'value',
          code: LintCode.Value,
          message: `${gotText ?? 'the value'} is not allowed; choose ${allowed.join(', ')}${typeof got === 'string' ? didYouMean(got, allowed) : ''}`,
        });
        return;
      }
      case 'invalid_type': {
        const input = (issue as { input?: unknown }).input;
        if (input === undefined) {
          out.push({
            path,
            at: 'value',
            code: LintCode.Missing,
            message: `${String(path[path.length - 1] ?? 'value')} is required (${expectedName(issue.expected)})`,
          });
        } else {
          const key = path[path.length - 1];
          const ms =
            typeof key === 'string' && key.endsWith('_ms') && typeof input === 'string'
              ? parseDuration(input)
              : undefined;
          out.push(
            ms !== undefined
              ? {
                  path,
                  at: 'value',
                  code: LintCode.Duration,
                  message: `${key} takes whole milliseconds: write ${ms} for ${input}`,
                }
              : {
                  path,
                  at: 'value',
                  code: LintCode.Type,
                  message: `expected ${expectedName(issue.expected)}, found ${typeName(input)}`,
                },
          );
        }
        return;
      }
      case 'too_small':
      case 'too_big': {
        const small = issue.code === 'too_small';
        const limit = Number(small ? issue.minimum : issue.maximum);
        const inclusive = issue.inclusive !== false;
        const input = (issue as { input?: unknown }).input;
        let message: string;
        if (issue.origin === 'string')
          message =
            small && limit === 1
              ? 'must not be empty'
              : `${small ? 'at least' : 'at most'} ${limit} characters`;
        else if (issue.origin === 'array' || issue.origin === 'set')
          message = `${small ? 'at least' : 'at most'} ${limit} item${limit === 1 ? '' : 's'}`;
        else
          message = `must be ${small ? (inclusive ? '≥' : '>') : inclusive ? '≤' : '<'} ${limit}${
            typeof input === 'number' ? `, found ${input}` : ''
          }`;
        out.push({ path, at: 'value', code: LintCode.Value, message });
        return;
      }
      case 'custom': {
        const lint = (issue.params as { lint?: LintCode } | undefined)?.lint;
        out.push({ path, at: 'value', code: lint ?? LintCode.Value, message: issue.message });
        return;
      }
      default:
        out.push({ path, at: 'value', code: LintCode.Value, message: issue.message });
    }
  };
  for (const issue of issues) visit(issue, base);
  return out;
}
