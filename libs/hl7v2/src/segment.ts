import type { Delimiters } from './delimiters';

/** Segments whose field 1 is the field separator and field 2 the encoding characters. */
export const HEADER_SEGMENTS: ReadonlySet<string> = new Set(['MSH', 'FHS', 'BHS']);

/**
 * The `n`th (1-based) piece of `text` split on `sep`, without building the whole list.
 * Returns `undefined` when there are fewer pieces.
 */
export function nthPiece(text: string, sep: string | undefined, n: number): string | undefined {
  if (sep === undefined) return n === 1 ? text : undefined;
  let start = 0;
  for (let i = 1; i < n; i++) {
    const next = text.indexOf(sep, start);
    if (next < 0) return undefined;
    start = next + 1;
  }
  const end = text.indexOf(sep, start);
  return end < 0 ? text.slice(start) : text.slice(start, end);
}

/** Splits on `sep`, or returns `[text]` when the delimiter is not defined for the message. */
export function splitOn(text: string, sep: string | undefined): string[] {
  return sep === undefined ? [text] : text.split(sep);
}

/**
 * Replaces the `n`th (1-based) piece of `text` split on `sep`, adding empty pieces as needed.
 */
export function replacePiece(text: string, sep: string, n: number, value: string): string {
  const parts = text === '' ? [''] : text.split(sep);
  while (parts.length < n) parts.push('');
  parts[n - 1] = value;
  return parts.join(sep);
}

/**
 * One segment. Its text is split into fields only when a field is read or written, and the
 * fields keep their encoded text, so an untouched field keeps its exact bytes.
 */
export class Hl7Segment {
  private text: string;
  private split: string[] | undefined;
  private stale = false;
  private term: string;
  /** Field lookups answered from the text so far; past a few, the segment is split once. */
  private scans = 0;
  /** True once a field or the terminator was changed after parsing. */
  edited = false;
  readonly name: string;
  /** True for MSH, FHS and BHS, whose field 1 is the field separator itself. */
  readonly isHeader: boolean;

  /**
   * @param text the segment without its terminator
   * @param terminator the exact line ending that followed it in the input (`\r`, `\n`, `\r\n`,
   *   or several of them; empty for a last segment written without one)
   * @param line 1-based line number in the input (0 for segments built in code)
   */
  constructor(
    text: string,
    readonly delimiters: Delimiters,
    terminator: string,
    readonly line: number,
  ) {
    this.text = text;
    this.term = terminator;
    this.name = text.slice(0, 3);
    const name = this.name;
    this.isHeader = name === 'MSH' || name === 'FHS' || name === 'BHS';
  }

  /** The line ending written after this segment. */
  get terminator(): string {
    return this.term;
  }
  set terminator(value: string) {
    this.term = value;
    this.edited = true;
  }

  /**
   * Encoded fields, indexed by field number: `[0]` is the segment name. For header segments
   * `[1]` is the field separator and `[2]` the encoding characters, as MSH-1 and MSH-2 are.
   */
  fields(): string[] {
    if (this.split === undefined) {
      const parts = this.text.split(this.delimiters.field);
      if (this.isHeader) parts.splice(1, 0, this.delimiters.field);
      this.split = parts;
    }
    return this.split;
  }

  /** Number of the last field present (trailing empty fields written in the input count). */
  get fieldCount(): number {
    return this.fields().length - 1;
  }

  /** The encoded text of field `n` (all repetitions), or `''` when it is absent. */
  field(n: number): string {
    return this.fieldAt(n) ?? '';
  }

  /**
   * The encoded text of field `n`, or undefined when it is absent. The first few lookups find
   * the field in the text without splitting the whole segment, as most reads touch only a few
   * fields of a segment; later ones split it once.
   */
  fieldAt(n: number): string | undefined {
    if (this.split !== undefined || ++this.scans > 4) return this.fields()[n];
    const fs = this.delimiters.field;
    if (!this.isHeader) return nthPiece(this.text, fs, n + 1);
    // Header text holds no MSH-1 piece: MSH-2 is the second piece, MSH-3 the third.
    return n === 1 ? fs : nthPiece(this.text, fs, Math.max(n, 1));
  }

  /** Sets field `n`'s encoded text (all repetitions), adding empty fields before it as needed. */
  setField(n: number, encoded: string): void {
    const fields = this.fields();
    while (fields.length <= n) fields.push('');
    fields[n] = encoded;
    this.stale = true;
    this.edited = true;
  }

  /** The segment's encoded text, without its terminator. */
  toString(): string {
    if (this.stale && this.split !== undefined) {
      const fs = this.delimiters.field;
      const f = this.split;
      this.text = this.isHeader ? f[0] + fs + f.slice(2).join(fs) : f.join(fs);
      this.stale = false;
    }
    return this.text;
  }
}
