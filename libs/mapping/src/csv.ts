import { CsvError, parse } from 'csv-parse/sync';

/** Why a `csv` message cannot be read; `line` (1-based) says where. Never quotes the data. */
export class CsvPayloadError extends Error {
  override readonly name = 'CsvPayloadError';
  constructor(
    readonly code: string,
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/**
 * A `csv` message as a JSON object: its payload is UTF-8 RFC 4180 text (comma, `"`), the
 * column names on the first line and one row of values on the second (the form the sources
 * give every row); the object maps each column name to the row's value (always text; an empty
 * field is `""`). Throws {@link CsvPayloadError} when the text is not that.
 */
export function readCsvPayload(body: Buffer | string): Record<string, string> {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true }) as string[][];
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    const e = err as CsvError & { lines?: number };
    throw new CsvPayloadError(`csv.${e.code.toLowerCase()}`, 'the text is not well-formed CSV', e.lines ?? 0);
  }
  const [names, values, extra] = records;
  if (!names || !values)
    throw new CsvPayloadError(
      'csv.no_row',
      'a csv message holds a line of column names, then one row',
      records.length,
    );
  if (extra) throw new CsvPayloadError('csv.many_rows', 'a csv message holds one row', 3);
  const row: Record<string, string> = {};
  for (const [i, name] of names.entries()) row[name] = values[i] ?? '';
  return row;
}
