import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectorDocs, DESTINATIONS, SOURCES } from '@sinew/connectors';
import { FUNCTIONS, functionReference } from '@sinew/mapping';
import {
  channelJsonSchema,
  lintCodesReference,
  pipelineStepsReference,
  schemaText,
  transformerJsonSchema,
} from '../src/reference';
import { BROKEN_CASES } from './broken/cases';
import { RECONCILE_BROKEN_CASES } from '../../reconcile/test/broken/cases';
import { apiReference } from '@sinew/engine-app/api/reference';

/** Where each generated file goes, relative to the project root. */
export const GENERATED = {
  channelSchema: 'schemas/channel.schema.json',
  transformerSchema: 'schemas/transformer.schema.json',
  connectors: 'docs/reference/connectors.md',
  functions: 'docs/reference/functions.md',
  pipelineSteps: 'docs/reference/pipeline-steps.md',
  lintCodes: 'docs/reference/lint-codes.md',
  api: 'docs/reference/api.md',
} as const;

function walk(dir: string, prefix: string, names: string[]): Array<{ name: string; text: string }> {
  return names.map((name) => ({ name: `${prefix}${name}`, text: readFileSync(join(dir, name), 'utf8') }));
}

/** The lint code page, from codes.ts and the broken examples under `root`. */
export function lintCodesPage(root: string): string {
  const broken = join(root, 'libs/channels/test/broken');
  const examples = BROKEN_CASES.map((c) => {
    const isFolder = !c.input.endsWith('.yaml');
    const files = isFolder
      ? walk(join(broken, c.input), `${c.input}/`, ['a.yaml', 'b.yaml'])
      : walk(broken, '', [c.input]);
    return { code: c.code, input: c.input, files, lines: c.lines, ...(c.env ? { env: c.env } : {}) };
  });
  const reconcileBroken = join(root, 'libs/reconcile/test/broken');
  for (const c of RECONCILE_BROKEN_CASES)
    examples.push({
      code: c.code,
      input: c.input,
      files: walk(reconcileBroken, '', [c.input]),
      lines: c.lines,
    });
  return lintCodesReference(readFileSync(join(root, 'libs/channels/src/codes.ts'), 'utf8'), examples);
}

/** Lays out texts with prettier and the repository's settings, in a child process (prettier loads ES modules). */
function prettierFormat(root: string, texts: ReadonlyArray<[string, string]>): string[] {
  const script = `
    const prettier = require(${JSON.stringify(require.resolve('prettier', { paths: [root] }))});
    let input = '';
    process.stdin.on('data', (d) => (input += d)).on('end', async () => {
      const out = [];
      for (const [path, text] of JSON.parse(input))
        out.push(await prettier.format(text, { ...((await prettier.resolveConfig(path)) ?? {}), filepath: path }));
      process.stdout.write(JSON.stringify(out));
    });`;
  const out = execFileSync(process.execPath, ['-e', script], {
    input: JSON.stringify(texts.map(([path, text]) => [join(root, path), text])),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as string[];
}

/**
 * Every generated schema and reference page, as it should read under `root`: laid out by
 * prettier with the repository's settings (functions.md, which the format check skips, as
 * rendered).
 */
export function generatedFiles(root: string): Map<string, string> {
  const pretty: Array<[string, string]> = [
    [GENERATED.channelSchema, schemaText(channelJsonSchema(SOURCES, DESTINATIONS))],
    [GENERATED.transformerSchema, schemaText(transformerJsonSchema())],
    [GENERATED.connectors, connectorDocs()],
    [GENERATED.pipelineSteps, pipelineStepsReference()],
    [GENERATED.lintCodes, lintCodesPage(root)],
    [GENERATED.api, apiReference()],
  ];
  const formatted = prettierFormat(root, pretty);
  return new Map([
    ...pretty.map(([path], i): [string, string] => [path, formatted[i] as string]),
    [GENERATED.functions, functionReference(FUNCTIONS)],
  ]);
}
