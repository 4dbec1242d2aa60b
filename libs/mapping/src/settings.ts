import { MappingError, MappingErrorCode } from './errors';
import type { RuleSpec, TransformerFile } from './spec';

/** `${NAME}` or `${NAME:-default}`, NAME in capitals (as in channel files). */
const SETTING = /\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` and `${NAME:-default}` in the `const` values of a transformer file's rules
 * with the environment's value, once, when the file loads: how a site gives a transformer its
 * settings (the sending application of the HL7 v2 it builds, say). A reference to an unset
 * variable without a default is a `map.setting` error at its `const`.
 */
export function resolveSettings(
  content: TransformerFile,
  env: NodeJS.ProcessEnv,
  fail: (path: Array<string | number>, message: string) => never,
): void {
  const resolve = (value: unknown, at: Array<string | number>): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('${')) return value;
      return value.replace(SETTING, (_m, name: string, fallback: string | undefined) => {
        const v = env[name];
        if (v !== undefined) return v;
        if (fallback !== undefined) return fallback;
        return fail(at, `the setting \${${name}} is not set and has no default (write \${${name}:-default})`);
      });
    }
    if (Array.isArray(value)) return value.map((v) => resolve(v, at));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = resolve(v, at);
      return out;
    }
    return value;
  };
  const rules = (list: RuleSpec[], at: Array<string | number>): void => {
    list.forEach((r, i) => {
      if (r.const !== undefined) r.const = resolve(r.const, [...at, i, 'const']);
      if (r.rules) rules(r.rules, [...at, i, 'rules']);
    });
  };
  if (content.kind === 'sub') rules(content.spec.rules, ['rules']);
  else if (content.kind === 'message') {
    content.spec.resources.forEach((r, i) => rules(r.rules, ['resources', i, 'rules']));
  }
}

/** The error for a setting problem at `path` of `file`. */
export function settingError(
  file: string,
  position: { line: number; column: number },
  message: string,
): MappingError {
  return new MappingError(MappingErrorCode.Setting, message, { file, ...position });
}
