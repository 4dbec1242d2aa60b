// Writes the generated reference pages: docs/reference/ (connectors, pipeline steps, transformer
// functions, lint codes) and docs/builtin-maps.md (the built-in transformers).
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { generatedFiles, root } from './lib/generated.mjs';

const written = [];
for (const [path, text] of await generatedFiles()) {
  if (!path.startsWith('docs/')) continue;
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  written.push(path);
}

const out = join(root, '.bench-out', `gen-docs.${process.pid}.cjs`);
await build({
  stdin: {
    contents: "export { mapsReference, TransformerLibrary, BUILT_IN_TRANSFORMERS } from '@sinew/mapping';",
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
writeFileSync(
  join(root, 'docs', 'builtin-maps.md'),
  lib.mapsReference(lib.TransformerLibrary.load([lib.BUILT_IN_TRANSFORMERS])),
);
written.push('docs/builtin-maps.md');
console.log(`wrote ${written.join(', ')}`);
