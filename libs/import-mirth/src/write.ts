import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { importMirth, type ImportResult, type MirthFile } from './convert';
import { renderReport } from './report';

export interface WriteOptions {
  /** Folder for the channel files and IMPORT-REPORT.md. */
  out: string;
  /** Folder for the transformer files (default: `transformers/mirth`). */
  transformersOut: string;
  /** Replace files that exist; without it, an existing file stops the import before anything is written. */
  force?: boolean;
}

export interface WrittenImport {
  result: ImportResult;
  /** Every file written, in order. */
  files: string[];
}

/** A file `sinew import mirth` would replace without `--force`. */
export class ExistingFileError extends Error {
  constructor(readonly paths: string[]) {
    super(
      `${paths.length === 1 ? 'this file exists' : `${paths.length} files exist`}: ${paths.join(', ')}; ` +
        'give --force to replace, or another --out folder',
    );
    this.name = 'ExistingFileError';
  }
}

function header(lines: string[]): string {
  return lines.map((l) => `# ${l}`).join('\n') + '\n';
}

/** Channel ids already used by channel files in the output folder (so imports never collide with them). */
function existingIds(dir: string, replacing: boolean): string[] {
  if (replacing || !existsSync(dir)) return [];
  const ids: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!/\.ya?ml$/.test(f) || /\.test\.ya?ml$/.test(f)) continue;
    const m = /^id:\s*['"]?([A-Za-z0-9_-]+)/m.exec(readFileSync(join(dir, f), 'utf8'));
    if (m?.[1]) ids.push(m[1]);
  }
  return ids;
}

/**
 * Reads the exports, converts them and writes `<out>/<id>.yaml` per channel, the transformer
 * files and `<out>/IMPORT-REPORT.md`. Every file is checked before the first is written, so a
 * refusal (an existing file, an unreadable export) leaves the folders as they were.
 */
export function importMirthFiles(paths: readonly string[], options: WriteOptions): WrittenImport {
  const files: MirthFile[] = paths.map((path) => ({ path, text: readFileSync(path, 'utf8') }));
  const result = importMirth(files, { taken: existingIds(options.out, options.force === true) });
  const planned: Array<{ path: string; text: string }> = [];
  for (const c of result.channels) {
    const channelPath = join(options.out, `${c.id}.yaml`);
    const transformerPaths = c.transformers.map((t) => join(options.transformersOut, `${t.name}.yaml`));
    c.report.written = [channelPath, ...transformerPaths];
    planned.push({
      path: channelPath,
      text:
        header([
          `Imported from Mirth channel "${c.report.mirthName}" (${c.report.mirthId}) of ${c.report.file}`,
          'by `sinew import mirth`. What did not convert, and why: IMPORT-REPORT.md.',
        ]) + stringify(c.channel, { lineWidth: 0 }),
    });
    c.transformers.forEach((t, i) => {
      planned.push({
        path: transformerPaths[i] ?? '',
        text:
          header([`Imported from Mirth channel "${c.report.mirthName}" by \`sinew import mirth\`.`]) +
          stringify(t.spec, { lineWidth: 0 }),
      });
    });
  }
  planned.push({ path: join(options.out, 'IMPORT-REPORT.md'), text: renderReport(result.report) });
  if (!options.force) {
    const existing = planned.filter((p) => existsSync(p.path)).map((p) => p.path);
    if (existing.length) throw new ExistingFileError(existing);
  }
  for (const p of planned) {
    mkdirSync(join(p.path, '..'), { recursive: true });
    writeFileSync(p.path, p.text);
  }
  return { result, files: planned.map((p) => relative(process.cwd(), p.path) || p.path) };
}
