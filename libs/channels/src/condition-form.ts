import { LintCode } from './codes';
import { didYouMean } from './suggest';
import type { RawProblem } from './zod-problems';

const OPERATORS = ['present', 'equals', 'in', 'matches'] as const;
const FORMS = ['path', ...OPERATORS, 'all', 'any', 'not', 'fhirpath'];

/**
 * Checks that a value has one of the condition forms, recursively, before the schema does:
 * a union's own errors would say only that nothing matched.
 */
export function conditionFormProblems(
  value: unknown,
  path: Array<string | number>,
  allowFhirPath: boolean,
): RawProblem[] {
  const out: RawProblem[] = [];
  const form = allowFhirPath
    ? '{ path, equals | in | present | matches }, { all: […] }, { any: […] }, { not: … } or { fhirpath: … }'
    : '{ path, equals | in | present | matches }, { all: […] }, { any: […] } or { not: … }';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    out.push({ path, at: 'value', code: LintCode.Condition, message: `a condition is ${form}` });
    return out;
  }
  const keys = Object.keys(value);
  const allowed = allowFhirPath ? FORMS : FORMS.filter((f) => f !== 'fhirpath');
  for (const k of keys) {
    if (!allowed.includes(k))
      out.push({
        path: [...path, k],
        at: 'key',
        code: LintCode.UnknownKey,
        message: `unknown key ${k} in a condition${didYouMean(k, allowed) || ` (a condition is ${form})`}`,
      });
  }
  if (out.length) return out;
  const v = value as Record<string, unknown>;
  if ('all' in v || 'any' in v) {
    const key = 'all' in v ? 'all' : 'any';
    if (keys.length > 1)
      out.push({
        path,
        at: 'value',
        code: LintCode.Condition,
        message: `${key} stands alone in its condition`,
      });
    const list = v[key];
    if (!Array.isArray(list) || list.length === 0)
      out.push({
        path: [...path, key],
        at: 'value',
        code: LintCode.Condition,
        message: `${key} takes a list of one or more conditions`,
      });
    else list.forEach((x, i) => out.push(...conditionFormProblems(x, [...path, key, i], false)));
    return out;
  }
  if ('not' in v) {
    if (keys.length > 1)
      out.push({ path, at: 'value', code: LintCode.Condition, message: 'not stands alone in its condition' });
    out.push(...conditionFormProblems(v.not, [...path, 'not'], false));
    return out;
  }
  if ('fhirpath' in v) return out;
  if (!('path' in v)) {
    out.push({ path, at: 'value', code: LintCode.Condition, message: `a condition is ${form}` });
    return out;
  }
  const ops = OPERATORS.filter((o) => o in v);
  if (ops.length !== 1)
    out.push({
      path,
      at: 'value',
      code: LintCode.Condition,
      message: `path takes exactly one of ${OPERATORS.join(', ')}${ops.length ? ` (found ${ops.join(' and ')})` : ''}`,
    });
  return out;
}
