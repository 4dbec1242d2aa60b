import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The checkout's root: the nearest folder above this file (or a bundle of it) with package.json. */
function projectRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'libs'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

/** The shared third-party corpus (../shared/corpus beside the checkout, or $SINEW_CORPUS). */
export const CORPUS_DIR = process.env.SINEW_CORPUS ?? join(projectRoot(), '..', 'shared', 'corpus');

export function corpusPath(...parts: string[]): string {
  const p = join(CORPUS_DIR, ...parts);
  if (!existsSync(p)) throw new Error(`corpus file missing: ${p} (set SINEW_CORPUS to the corpus folder)`);
  return p;
}

/** Every file under a corpus folder, recursively, sorted. */
export function corpusFiles(dir: string, filter: (name: string) => boolean = () => true): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (filter(name)) out.push(p);
    }
  };
  walk(corpusPath(dir));
  return out;
}
