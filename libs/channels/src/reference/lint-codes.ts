import { LintCode } from '../codes';

/** A broken input and the lines `sinew lint` prints for it, shown as a code's example. */
export interface LintExample {
  code: LintCode;
  /** The file or folder given to `sinew lint`. */
  input: string;
  /** Each file of the input: its name and text. */
  files: Array<{ name: string; text: string }>;
  /** `--env NAME` the example was linted with, if any. */
  env?: string;
  lines: string[];
}

/** Severity of the codes that have no example file (they are about inputs, not file contents). */
const SEVERITY_WITHOUT_EXAMPLE: Partial<Record<LintCode, string>> = {
  [LintCode.Unreadable]: 'error',
  [LintCode.EmptyFolder]: 'warning',
};

const NOTES: Partial<Record<LintCode, string>> = {
  [LintCode.Unreadable]:
    'A file found under a folder that cannot be read. A file or folder named on the command line that does not exist is not a finding: `sinew lint` says so on standard error and exits with status 2.',
  [LintCode.EmptyFolder]:
    'A folder named on the command line holds no `*.yaml` file (test files `*.test.yaml` do not count).',
  [LintCode.EnvUnset]:
    'A warning when no environment is selected (`sinew lint` without `--env`); an error with `--env NAME` and when the engine deploys the channel. Values that hold the reference are not checked further until it resolves.',
};

/**
 * Each code's one-line description, read from the JSDoc above it in `codes.ts` (its text,
 * passed in): the one place the meaning of a code is written.
 */
export function lintCodeDescriptions(codesSource: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of codesSource.matchAll(
    /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*[A-Za-z0-9]+:\s*'([a-z0-9_.]+)'/g,
  )) {
    const text = (m[1] as string)
      .split('\n')
      .map((l) => l.replace(/^\s*\*?\s?/, '').trim())
      .filter(Boolean)
      .join(' ');
    out.set(m[2] as string, text);
  }
  return out;
}

function fence(lang: string, text: string): string {
  return ['```' + lang, text.trimEnd(), '```'].join('\n');
}

/** The lint code reference (docs/reference/lint-codes.md). */
export function lintCodesReference(codesSource: string, examples: readonly LintExample[]): string {
  const descriptions = lintCodeDescriptions(codesSource);
  const codes = Object.values(LintCode);
  const severity = (code: LintCode): string => {
    const found = new Set(
      examples
        .filter((e) => e.code === code)
        .flatMap((e) =>
          e.lines
            .filter((l) => l.includes(` ${code} `))
            .map((l) => (e.env ? `${l.split(' ')[1]} (--env)` : l.split(' ')[1])),
        ),
    );
    return found.size ? [...found].join(', ') : (SEVERITY_WITHOUT_EXAMPLE[code] ?? '');
  };
  const out = [
    '# Lint codes',
    '',
    'Generated from `libs/channels/src/codes.ts` and the broken examples in',
    '`libs/channels/test/broken/` and `libs/reconcile/test/broken/` by `npm run docs`; do not edit by',
    'hand. A test checks that every example gives exactly the lines shown. The `reconcile.` codes are',
    'about reconciliation files ([reconciliation.md](../reconciliation.md)).',
    '',
    '`sinew lint` ([cli.md](../cli.md#sinew-lint)) and the engine report each finding as',
    '`file:line:col severity code path: message`, at the YAML node at fault: the key for an unknown',
    'key, the value for a wrong value. An error stops the channel from being deployed; a warning does',
    'not. The codes are stable: search for them.',
    '',
    '| code | severity | meaning |',
    '| --- | --- | --- |',
    ...codes.map(
      (c) => `| [\`${c}\`](#${c.replace(/\./g, '')}) | ${severity(c)} | ${descriptions.get(c) ?? ''} |`,
    ),
    '',
  ];
  for (const code of codes) {
    out.push(`## \`${code}\``, '', descriptions.get(code) ?? '', '');
    const note = NOTES[code];
    if (note) out.push(note, '');
    for (const e of examples.filter((x) => x.code === code)) {
      for (const f of e.files) out.push(`\`${f.name}\`:`, '', fence('yaml', f.text), '');
      const command = `sinew lint${e.env ? ` --env ${e.env}` : ''} ${e.input}`;
      out.push(fence('console', [`$ ${command}`, ...e.lines].join('\n')), '');
    }
  }
  return out.join('\n');
}
