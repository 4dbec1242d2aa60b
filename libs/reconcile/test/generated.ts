import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { reconciliationJsonSchema } from '../src/schema';

/** Where the generated reconciliation schema goes, relative to the project root. */
export const RECONCILIATION_SCHEMA = 'schemas/reconciliation.schema.json';

/** The schema file's text as it should read under `root`: laid out by prettier with the repository's settings. */
export function generatedFiles(root: string): Map<string, string> {
  const text = `${JSON.stringify(reconciliationJsonSchema(), null, 2)}\n`;
  const script = `
    const prettier = require(${JSON.stringify(require.resolve('prettier', { paths: [root] }))});
    let input = '';
    process.stdin.on('data', (d) => (input += d)).on('end', async () => {
      const path = ${JSON.stringify(join(root, RECONCILIATION_SCHEMA))};
      const out = await prettier.format(input, { ...((await prettier.resolveConfig(path)) ?? {}), filepath: path });
      process.stdout.write(out);
    });`;
  const formatted = execFileSync(process.execPath, ['-e', script], { input: text, encoding: 'utf8' });
  return new Map([[RECONCILIATION_SCHEMA, formatted]]);
}
