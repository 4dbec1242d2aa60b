/**
 * The `csv` adapter: a file export (RFC 4180, a header row, an optional BOM) read as a stream,
 * its name possibly holding the period's last day (`patients-{date}.csv`).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { CsvError, parse } from 'csv-parse';
import { z } from 'zod';
import type { Period, ReadContext, SideReader, SideRecord } from '../types';
import { ReconcileReadError, type AdapterDefinition, type AdapterDeps } from './errors';

export const csvSystemSchema = z.strictObject({
  type: z.literal('csv'),
  dir: z.string().min(1),
});
export type CsvSystemSettings = z.infer<typeof csvSystemSchema>;

export const csvSideSchema = z.strictObject({
  system: z.string().optional(),
  file: z.string().min(1),
  key: z.string().min(1),
  fields: z.record(z.string(), z.string().min(1)).default({}),
  status: z.string().min(1).optional(),
  updated_at: z.string().min(1).optional(),
  delimiter: z.string().length(1).default(','),
});
export type CsvSideSettings = z.infer<typeof csvSideSchema>;

/** The period's last day (YYYY-MM-DD) in `timezone`; today there when the period has no end. */
export function periodLastDay(period: Period, timezone = 'UTC', now = new Date()): string {
  const day = period.to ? new Date(period.to.getTime() - 1) : now;
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  })
    .formatToParts(day)
    .reduce<Record<string, string>>((acc, part) => ({ ...acc, [part.type]: part.value }), {});
  return `${parts.year}-${parts.month}-${parts.day}`;
}

export class CsvSideReader implements SideReader {
  private readonly name: string;

  constructor(
    private readonly system: CsvSystemSettings,
    private readonly side: CsvSideSettings,
    private readonly deps: AdapterDeps,
  ) {
    this.name = deps.systemName ?? side.system ?? 'csv';
  }

  /** The file a run reads, for the period given. */
  pathFor(ctx: Pick<ReadContext, 'baseDir' | 'period'>): string {
    const dir = isAbsolute(this.system.dir) ? this.system.dir : resolve(ctx.baseDir, this.system.dir);
    return resolve(dir, this.side.file.replaceAll('{date}', periodLastDay(ctx.period, this.deps.timezone)));
  }

  async *read(ctx: ReadContext): AsyncIterable<SideRecord> {
    const path = this.pathFor(ctx);
    try {
      const info = await stat(path);
      if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      const why =
        code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : 'cannot read it';
      throw new ReconcileReadError(this.name, `${path}: ${why} (${code})`, {
        target: path,
        code,
        cause: err,
      });
    }
    if (ctx.withStatus && !this.side.status) {
      throw new ReconcileReadError(
        this.name,
        `entity ${ctx.entity} counts per status, but its ${ctx.side} side names no status column`,
      );
    }

    const parser = createReadStream(path).pipe(
      parse({
        bom: true,
        delimiter: this.side.delimiter,
        relax_column_count: true,
        skip_empty_lines: true,
        info: true,
      }),
    );
    let header: string[] | undefined;
    let at: { key: number; fields: Array<[string, number]>; status?: number; updatedAt?: number } | undefined;
    // Where the previous record ended, so that a record is named by the line it starts on.
    let previousEnd = 0;
    let previousEmpty = 0;
    try {
      for await (const row of parser as AsyncIterable<{
        record: string[];
        info: { lines: number; empty_lines: number };
      }>) {
        const { record, info } = row;
        const line = previousEnd + 1 + (info.empty_lines - previousEmpty);
        previousEnd = info.lines;
        previousEmpty = info.empty_lines;
        if (!header) {
          header = record.map((h) => h.trim());
          at = this.columns(header, ctx, path);
          continue;
        }
        if (record.length !== header.length) {
          throw new ReconcileReadError(
            this.name,
            `${path} line ${line}: ${record.length} columns where the header has ${header.length}`,
            { target: path, code: 'CSV_COLUMN_COUNT' },
          );
        }
        const columns = at as NonNullable<typeof at>;
        const out: SideRecord = {
          key: record[columns.key] ?? '',
          fields: Object.fromEntries(columns.fields.map(([name, i]) => [name, record[i] ?? null])),
          ref: `${path}:${line}`,
        };
        if (columns.status !== undefined && ctx.withStatus) out.status = record[columns.status] ?? null;
        if (columns.updatedAt !== undefined) out.updatedAt = record[columns.updatedAt] || null;
        yield out;
      }
    } catch (err) {
      if (err instanceof ReconcileReadError) throw err;
      if (err instanceof CsvError) {
        const line = (err as CsvError & { lines?: number }).lines;
        throw new ReconcileReadError(
          this.name,
          `${path}${line !== undefined ? ` line ${line}` : ''}: not valid CSV (${err.code})`,
          { target: path, code: err.code, cause: err },
        );
      }
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ReconcileReadError(this.name, `${path}: read failed (${code})`, {
        target: path,
        code,
        cause: err,
      });
    } finally {
      parser.destroy();
    }
    if (!header) {
      throw new ReconcileReadError(this.name, `${path}: empty file, a header row is required`, {
        target: path,
        code: 'CSV_NO_HEADER',
      });
    }
  }

  private columns(header: string[], ctx: ReadContext, path: string) {
    const index = (column: string, what: string): number => {
      const i = header.indexOf(column);
      if (i < 0) {
        throw new ReconcileReadError(
          this.name,
          `${path}: no column ${JSON.stringify(column)} (${what}) in the header row`,
          {
            target: path,
            code: 'CSV_MISSING_COLUMN',
          },
        );
      }
      return i;
    };
    const fields = ctx.fields.map((name): [string, number] => {
      const column = this.side.fields[name];
      if (column === undefined) {
        throw new ReconcileReadError(
          this.name,
          `entity ${ctx.entity}: its ${ctx.side} side names no column for field ${name}`,
        );
      }
      return [name, index(column, `field ${name}`)];
    });
    return {
      key: index(this.side.key, 'key'),
      fields,
      ...(this.side.status && ctx.withStatus ? { status: index(this.side.status, 'status') } : {}),
      ...(this.side.updated_at ? { updatedAt: index(this.side.updated_at, 'updated_at') } : {}),
    };
  }
}

export const csvAdapter: AdapterDefinition<CsvSystemSettings, CsvSideSettings> = {
  type: 'csv',
  system: csvSystemSchema,
  side: csvSideSchema,
  create: (system, side, deps) => new CsvSideReader(system, side, deps),
};
