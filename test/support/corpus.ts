import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The shared third-party corpus (../shared/corpus beside the checkout, or $SINEW_CORPUS). */
export const CORPUS_DIR =
  process.env.SINEW_CORPUS ?? resolve(__dirname, '..', '..', '..', 'shared', 'corpus');

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
