import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PmsDatabase } from './pms-db';
import { COLUMNS, type EntityName } from './pms-records';

export const ENTITIES: readonly EntityName[] = ['patients', 'appointments', 'charges'];

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF, quotes doubled. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'number' ? String(value) : String(value as string);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One entity's records as CSV: a header row of the column names, then a row per record, CRLF line ends. */
export function* csvLines(db: PmsDatabase, entity: EntityName): Generator<string> {
  const columns = COLUMNS[entity] as readonly string[];
  yield `${columns.join(',')}\r\n`;
  for (const row of db.iterate(entity)) {
    const record = row as unknown as Record<string, unknown>;
    yield `${columns.map((c) => csvField(record[c])).join(',')}\r\n`;
  }
}

export function csvText(db: PmsDatabase, entity: EntityName): string {
  return [...csvLines(db, entity)].join('');
}

/**
 * The nightly export: `patients-DATE.csv`, `appointments-DATE.csv` and `charges-DATE.csv` in
 * `dir` (created when missing), each written whole under a temporary name first so that a
 * reader never sees half a file. Returns the files' paths.
 */
export function exportCsv(db: PmsDatabase, dir: string, date: string): string[] {
  mkdirSync(dir, { recursive: true });
  return ENTITIES.map((entity) => {
    const file = join(dir, `${entity}-${date}.csv`);
    const partial = `${file}.partial`;
    writeFileSync(partial, csvText(db, entity), 'utf8');
    renameSync(partial, file);
    return file;
  });
}
