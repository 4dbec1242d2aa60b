import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/** Builds the `sinew` command (dist/sinew.js) once before the end-to-end tests run it. */
export default function globalSetup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], {
    cwd: resolve(__dirname, '..', '..'),
    stdio: 'inherit',
  });
}
