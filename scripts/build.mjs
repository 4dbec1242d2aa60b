// Bundles the `sinew` command into dist/sinew.js (path aliases resolved, dependencies left external).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: ['apps/cli/src/main.ts'],
  outfile: 'dist/sinew.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  tsconfig: 'tsconfig.json',
  external: Object.keys(pkg.dependencies ?? {}),
  define: { SINEW_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
});
