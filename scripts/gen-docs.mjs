// Writes the generated reference pages: docs/functions.md (transformer functions) and
// docs/builtin-maps.md (the built-in transformers).
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.bench-out', `gen-docs.${process.pid}.cjs`);
await build({
  stdin: {
    contents:
      "export { FUNCTIONS, functionReference, mapsReference, TransformerLibrary, BUILT_IN_TRANSFORMERS } from '@sinew/mapping';",
    resolveDir: root,
    loader: 'ts',
  },
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  packages: 'external',
  tsconfig: join(root, 'tsconfig.json'),
  logLevel: 'warning',
});
const lib = createRequire(import.meta.url)(out);
rmSync(out, { force: true });
writeFileSync(join(root, 'docs', 'functions.md'), lib.functionReference(lib.FUNCTIONS));
writeFileSync(
  join(root, 'docs', 'builtin-maps.md'),
  lib.mapsReference(lib.TransformerLibrary.load([lib.BUILT_IN_TRANSFORMERS])),
);
console.log('wrote docs/functions.md, docs/builtin-maps.md');
