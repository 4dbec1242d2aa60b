// The generated schemas and reference pages (libs/channels/test/generated.ts, or another module
// exporting generatedFiles(root)), bundled with esbuild (path aliases resolved, packages external)
// and loaded in this process.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Map of path (relative to the project root) → text of every generated file. */
export async function generatedFiles(entry = 'libs/channels/test/generated.ts') {
  // One output file per entry: require() caches modules by path.
  const name = entry.replace(/[^A-Za-z0-9]+/g, '-');
  const out = join(root, '.bench-out', `generated.${name}.${process.pid}.cjs`);
  await build({
    entryPoints: [join(root, entry)],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    packages: 'external',
    tsconfig: join(root, 'tsconfig.json'),
    logLevel: 'warning',
  });
  try {
    return createRequire(import.meta.url)(out).generatedFiles(root);
  } finally {
    rmSync(out, { force: true });
  }
}
