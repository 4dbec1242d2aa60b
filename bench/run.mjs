// Runs one benchmark: `node bench/run.mjs <name> [args…]`.
// Bundles bench/<name>/<name>.bench.ts with esbuild (tsconfig path aliases resolved, packages
// left external) into .bench-out/ and runs it with the same node, forwarding the arguments.
// Node flags given to this runner are passed on: `node --cpu-prof bench/run.mjs hl7-parse`
// profiles the benchmark itself.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);

if (!name || name.startsWith('-')) {
  const found = readdirSync(join(root, 'bench'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, 'bench', e.name, `${e.name}.bench.ts`)))
    .map((e) => e.name);
  console.error(`usage: node bench/run.mjs <name> [args…]\nbenchmarks: ${found.join(', ') || '(none)'}`);
  process.exit(2);
}
if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
  console.error(`bench: ${JSON.stringify(name)} is not a benchmark name (lower-case letters, digits, -)`);
  process.exit(2);
}
const entry = join(root, 'bench', name, `${name}.bench.ts`);
if (!existsSync(entry)) {
  console.error(`bench: ${entry} not found`);
  process.exit(2);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// Inside the checkout (and git-ignored) so that external packages resolve from node_modules.
const outDir = join(root, '.bench-out');
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, `${name}.${process.pid}.cjs`);

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  absWorkingDir: root,
  tsconfig: join(root, 'tsconfig.json'),
  external: [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})],
  logLevel: 'warning',
});

const cleanup = () => {
  rmSync(outfile, { force: true });
  rmSync(`${outfile}.map`, { force: true });
};

const child = spawn(process.execPath, [...process.execArgv, outfile, ...args], {
  cwd: process.cwd(),
  stdio: 'inherit',
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => child.kill(sig));
}
child.on('exit', (code, signal) => {
  cleanup();
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});
child.on('error', (err) => {
  cleanup();
  console.error(`bench: could not start node: ${err.message}`);
  process.exit(1);
});
