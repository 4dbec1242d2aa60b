// Bundles the `sinew` command into dist/sinew.js and the demo's stand-in EHR and PMS into
// dist/standins.js, and the engine's pipeline thread into dist/pipeline-worker.js (path aliases
// resolved, dependencies left external); builds the web console into dist/console (Vite).
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  tsconfig: 'tsconfig.json',
  external: Object.keys(pkg.dependencies ?? {}),
  define: { SINEW_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: ['apps/cli/src/main.ts'], outfile: 'dist/sinew.js' }),
  build({ ...common, entryPoints: ['apps/standins/src/main.ts'], outfile: 'dist/standins.js' }),
  // The pipeline threads of `sinew start` (Engine option pipelineThreads).
  build({
    ...common,
    entryPoints: ['libs/engine/src/pipeline-worker.ts'],
    outfile: 'dist/pipeline-worker.js',
  }),
  // The console the engine's `api` role serves at /.
  viteBuild({ configFile: new URL('../apps/console/vite.config.mjs', import.meta.url).pathname }),
]);
