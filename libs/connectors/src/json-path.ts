/**
 * Paths into a JSON value as connector settings write them: property names and 0-based
 * indexes, `patient.name[0].family`; `$` (or an empty path) is the whole value, and a leading
 * `$.` is allowed.
 */
export const JSON_PATH = /^\$?(\.?[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*$/;

/** Reads `path` from `value`; undefined when any step is missing. */
export function readJsonPath(value: unknown, path: string): unknown {
  const steps = path.replace(/^\$/, '').match(/[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]/g) ?? [];
  let current: unknown = value;
  for (const step of steps) {
    if (current === null || typeof current !== 'object') return undefined;
    current = step.startsWith('[')
      ? Array.isArray(current)
        ? current[Number(step.slice(1, -1))]
        : undefined
      : (current as Record<string, unknown>)[step];
  }
  return current;
}
