// The generated schemas and reference pages (libs/channels/test/generated.ts), bundled with
// esbuild (path aliases resolved, packages external) and loaded in this process.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Map of path (relative to the project root) → text of every generated file. */
export async function generatedFiles() {
  const out = join(root, '.bench-out', `generated.${process.pid}.cjs`);
  await build({
    entryPoints: [join(root, 'libs/channels/test/generated.ts')],
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
