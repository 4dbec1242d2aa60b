import { parse, CsvError } from 'csv-parse/sync';
import * as iconv from 'iconv-lite';
import { z } from 'zod';

/** How a source reads delimited text (the `csv` settings of a source with `content_type: csv`). */
export const csvOptions = z
  .strictObject({
    delimiter: z
      .string()
      .length(1)
      .default(',')
      .describe('The character between two fields: `,` (default), `;`, `|`, or a tab (`"\\t"`).'),
    quote: z
      .string()
      .length(1)
      .default('"')
      .describe(
        'The character that encloses a field holding the delimiter, a line break or itself (written twice inside).',
      ),
    header: z
      .boolean()
      .default(true)
      .describe(
        'Whether the first line names the columns. Without one, the columns are named `c1`, `c2`, … in order.',
      ),
    encoding: z
      .string()
      .min(1)
      .default('utf-8')
      .refine((e) => iconv.encodingExists(e), { message: 'unknown character encoding' })
      .describe(
        'The character encoding of the file: `utf-8` (default; a byte order mark is skipped), `windows-1252`, ' +
          '`iso-8859-1`, `iso-8859-15`, …',
      ),
  })
  .describe('How the delimited text is read (with `content_type: csv`).');
export type CsvOptions = z.output<typeof csvOptions>;

/** Why delimited text cannot be read; `line` and `field` (1-based) say where. Never quotes the data. */
export class CsvReadError extends Error {
  override readonly name = 'CsvReadError';
  constructor(
    readonly code: string,
    message: string,
    readonly line: number,
    readonly field?: number,
  ) {
    super(`line ${line}${field !== undefined ? `, field ${field}` : ''}: ${message}`);
  }
}

const REASONS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
  INVALID_OPENING_QUOTE: 'a quote inside a field that does not start with one',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by other characters than the delimiter',
  CSV_RECORD_INCONSISTENT_FIELDS_LENGTH: 'the row has not as many fields as the first line',
  CSV_RECORD_INCONSISTENT_COLUMNS: 'the row has not as many fields as the first line',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE:
    'a closing quote is followed by other characters than the delimiter',
};

/** One field as RFC 4180 writes it: quoted when it holds a comma, a quote or a line break. */
function field(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** A row as one line of RFC 4180 text (comma-separated, `"` quotes). */
export function csvLine(values: readonly string[]): string {
  return values.map(field).join(',');
}

/**
 * Splits a delimited text file into one message per row. Each message is the row in the
 * payload form every `csv` message has: UTF-8, RFC 4180 (comma, `"`), two lines: the column
 * names, then the row's values; so a message reads the same whatever delimiter or encoding the
 * file had, and shows as text. Empty lines are skipped. Throws {@link CsvReadError} for a file
 * that is not well-formed (an unclosed quote, a row with more or fewer fields than the first
 * line, a duplicate column name): the whole file is refused, no row of it is handed on.
 */
export function splitCsv(body: Buffer, options: CsvOptions): string[] {
  const text = iconv.decode(body, options.encoding);
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      delimiter: options.delimiter,
      quote: options.quote,
      bom: true,
      info: true,
      skip_empty_lines: true,
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    const e = err as CsvError & { lines?: number; index?: number };
    const reason = REASONS[e.code] ?? `the text is not well-formed delimited text (${e.code})`;
    const whole = e.code.startsWith('CSV_RECORD_INCONSISTENT');
    const fieldNo = !whole && e.index !== undefined ? e.index + 1 : undefined;
    throw new CsvReadError(`csv.${e.code.toLowerCase()}`, reason, e.lines ?? 0, fieldNo);
  }
  const first = records[0];
  if (!first) return [];
  let names: string[];
  let rows = records;
  if (options.header) {
    names = first.record.map((n, i) => n.trim() || `c${i + 1}`);
    const seen = new Set<string>();
    for (const [i, n] of names.entries()) {
      if (seen.has(n))
        throw new CsvReadError(
          'csv.duplicate_column',
          `the column name in field ${i + 1} appears twice`,
          first.info.lines,
        );
      seen.add(n);
    }
    rows = records.slice(1);
  } else {
    names = first.record.map((_, i) => `c${i + 1}`);
  }
  const head = csvLine(names);
  return rows.map((r) => `${head}\n${csvLine(r.record)}\n`);
}
