/**
 * Stable error codes of the HL7 v2 layer. Codes are dotted and never change meaning; new
 * situations get new codes.
 */
export const Hl7ErrorCode = {
  /** The input is empty (or only whitespace / a byte-order mark). */
  Empty: 'hl7.empty',
  /** The first segment is not MSH (or FHS/BHS where a batch is allowed). */
  NoHeader: 'hl7.no_header',
  /** MSH-1/MSH-2 do not define a usable set of delimiters. */
  Delimiters: 'hl7.delimiters',
  /** A segment name is not three upper-case letters or digits. */
  SegmentName: 'hl7.segment_name',
  /** MSH-18 names a character set Sinew cannot decode. */
  Charset: 'hl7.charset',
  /** A path such as `PID-3[2].1` is not written in the standard's notation. */
  Path: 'hl7.path',
  /** A value cannot be written where it was asked to go (e.g. MSH-1, MSH-2). */
  Write: 'hl7.write',
  /** A segment appears before the MSH of its message (inside a batch). */
  BatchSegmentBeforeHeader: 'hl7.batch.segment_before_header',
  /** Two BHS segments in one batch. */
  BatchDuplicateBhs: 'hl7.batch.duplicate_bhs',
  /** Two FHS segments in one file. */
  BatchDuplicateFhs: 'hl7.batch.duplicate_fhs',
  /** BTS-1 / FTS-1 does not match the number of messages / batches. */
  BatchCount: 'hl7.batch.count',
  /** A BTS/FTS without its header, or a segment after a trailer. */
  BatchStructure: 'hl7.batch.structure',
  /** A reply is not a readable acknowledgement (no MSA). */
  AckInvalid: 'hl7.ack.invalid',
} as const;
export type Hl7ErrorCode = (typeof Hl7ErrorCode)[keyof typeof Hl7ErrorCode];

/** Where in the input an error was found. Lines and fields are 1-based. */
export interface Hl7ErrorLocation {
  /** 1-based line (segment) number in the input. */
  line?: number;
  /** Segment name, e.g. `PID`. */
  segment?: string;
  /** 1-based field number. */
  field?: number;
}

/**
 * The one error type the HL7 v2 layer throws for bad input. It never carries message content
 * beyond segment names, so it is safe to log.
 */
export class Hl7ParseError extends Error {
  override readonly name = 'Hl7ParseError';
  constructor(
    readonly code: Hl7ErrorCode,
    message: string,
    readonly location: Hl7ErrorLocation = {},
  ) {
    super(message);
  }

  /** `line 3 (PID), field 7` — empty when nothing is known. */
  get where(): string {
    const { line, segment, field } = this.location;
    const parts: string[] = [];
    if (line !== undefined) parts.push(segment ? `line ${line} (${segment})` : `line ${line}`);
    else if (segment) parts.push(segment);
    if (field !== undefined) parts.push(`field ${field}`);
    return parts.join(', ');
  }

  /** `hl7.segment_name at line 3: ...` — the form the CLI prints. */
  override toString(): string {
    const where = this.where;
    return where ? `${this.code} at ${where}: ${this.message}` : `${this.code}: ${this.message}`;
  }

  toJSON(): { code: string; message: string; location: Hl7ErrorLocation } {
    return { code: this.code, message: this.message, location: this.location };
  }
}
