import { z } from 'zod';
import type { MappingFunction } from './define';

function paramsTable(fn: MappingFunction): string {
  const schema = z.toJSONSchema(fn.params, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { type?: string; enum?: unknown[]; default?: unknown; pattern?: string }>;
  };
  const props = Object.entries(schema.properties ?? {});
  if (props.length === 0) return 'No arguments.\n';
  const rows = props.map(([name, p]) => {
    const type = p.enum ? p.enum.map((e) => `\`${String(e)}\``).join(' \\| ') : (p.type ?? 'any');
    const def = p.default === undefined ? '' : `\`${JSON.stringify(p.default)}\``;
    return `| \`${name}\` | ${type}${p.pattern ? ` (\`${p.pattern}\`)` : ''} | ${def} |`;
  });
  return ['| argument | type | default |', '|---|---|---|', ...rows].join('\n') + '\n';
}

function examplesTable(fn: MappingFunction): string {
  const rows = fn.examples.map((ex) => {
    const given = [
      ex.args ? `\`${JSON.stringify(ex.args)}\`` : '',
      ex.vocabulary ? `${fn.vocabulary ?? 'vocabulary'}: \`${JSON.stringify(ex.vocabulary)}\`` : '',
    ];
    const args = given.filter(Boolean).join(', ');
    const result = ex.error
      ? `error \`${ex.error}\``
      : ex.output === undefined
        ? '(no value)'
        : `\`${JSON.stringify(ex.output)}\``;
    return `| \`${JSON.stringify(ex.input)}\` | ${args} | ${result} |`;
  });
  return ['| input | args | result |', '|---|---|---|', ...rows].join('\n') + '\n';
}

/** The function reference page (docs/reference/functions.md), generated from the declarations. */
export function functionReference(functions: readonly MappingFunction[]): string {
  const parts = [
    '# Transformer functions',
    '',
    'Generated from the function declarations in `libs/mapping/src/functions/` by `npm run docs`;',
    'a test fails when this page is out of date. Every example below is run by the test suite.',
    'A rule calls a function with `fn: name` or `fn: { name, args }`.',
    '',
  ];
  for (const fn of [...functions].sort((a, b) => a.name.localeCompare(b.name))) {
    parts.push(`## \`${fn.name}\``, '', fn.summary, '', paramsTable(fn), examplesTable(fn));
  }
  return parts.join('\n');
}
