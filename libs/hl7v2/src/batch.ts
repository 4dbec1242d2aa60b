import { decodeBytes, encodeText, hasUtf8Bom, sniffEncoding, type TextEncoding } from './charset';
import { DEFAULT_DELIMITERS, encodingCharacters, readDelimiters, type Delimiters } from './delimiters';
import { Hl7ErrorCode, Hl7ParseError } from './errors';
import { encodeValue } from './escape';
import { Hl7Message, hl7Now, newControlId, splitSegments, type ParseOptions } from './message';
import { Hl7Segment } from './segment';

/** One batch: an optional BHS, its messages, an optional BTS. */
export interface Hl7BatchGroup {
  header?: Hl7Segment;
  messages: Hl7Message[];
  trailer?: Hl7Segment;
}

/**
 * A batch file: optional FHS, one or more batches, optional FTS. A plain file of messages
 * with no envelope is one batch without header or trailer.
 */
export class Hl7BatchFile {
  constructor(
    readonly delimiters: Delimiters,
    readonly encoding: TextEncoding,
    readonly batches: Hl7BatchGroup[],
    readonly header?: Hl7Segment,
    readonly trailer?: Hl7Segment,
    private readonly prefix = '',
  ) {}

  /** Every message of every batch, in order. */
  get messages(): Hl7Message[] {
    return this.batches.flatMap((b) => b.messages);
  }

  /**
   * The file as text: an untouched parsed file gives back its input. A part written without a
   * line ending (a built message) gets a CR before the next part.
   */
  toString(): string {
    const parts: string[] = [];
    const seg = (s: Hl7Segment | undefined) => s && parts.push(s.toString() + s.terminator);
    seg(this.header);
    for (const b of this.batches) {
      seg(b.header);
      for (const m of b.messages) parts.push(m.toString());
      seg(b.trailer);
    }
    seg(this.trailer);
    let out = this.prefix;
    parts.forEach((p, i) => {
      out += p;
      if (i < parts.length - 1 && !/[\r\n]$/.test(p)) out += '\r';
    });
    return out;
  }

  toBuffer(): Buffer {
    return encodeText(this.toString(), this.encoding);
  }
}

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;

function countOf(seg: Hl7Segment): number | undefined {
  const raw = seg.field(1);
  return /^\d+$/.test(raw) ? Number(raw) : undefined;
}

/**
 * Parses a file of HL7 v2 messages: a single message, several messages one after another,
 * or an FHS/BHS … BTS/FTS batch. Checks the envelope (one FHS, one BHS per batch, no segment
 * before its MSH) and the counts in BTS-1 (messages) and FTS-1 (batches); errors name the line.
 */
export function parseBatch(
  input: Buffer | string,
  options: Pick<ParseOptions, 'formatting'> = {},
): Hl7BatchFile {
  let text: string;
  let encoding: TextEncoding = 'utf8';
  if (typeof input === 'string') {
    text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  } else {
    const start = hasUtf8Bom(input) ? 3 : 0;
    encoding = sniffEncoding(input, start);
    text = decodeBytes(input, encoding, start);
  }
  const { prefix, lines } = splitSegments(text);
  const first = lines[0];
  if (!first || lines.every((l) => l.text.trim() === '')) {
    throw new Hl7ParseError(Hl7ErrorCode.Empty, 'the file holds no segments');
  }

  const fileDelimiters = /^(MSH|FHS|BHS)/.test(first.text)
    ? readDelimiters(first.text, first.line)
    : undefined;
  let fileHeader: Hl7Segment | undefined;
  let fileTrailer: Hl7Segment | undefined;
  const batches: Hl7BatchGroup[] = [];
  let batch: Hl7BatchGroup | undefined;
  let batchOpen = false;
  let current: { segments: Hl7Segment[]; delimiters: Delimiters } | undefined;

  const flush = () => {
    if (current) {
      const msg = Hl7Message.fromSegments(current.segments, current.delimiters, encoding, options.formatting);
      (batch as Hl7BatchGroup).messages.push(msg);
      current = undefined;
    }
  };
  const fail = (code: Hl7ErrorCode, message: string, line: number, segment: string): never => {
    throw new Hl7ParseError(code, message, { line, segment });
  };

  for (const l of lines) {
    const name = l.text.slice(0, 3);
    const d = current?.delimiters ?? fileDelimiters ?? DEFAULT_DELIMITERS;
    if (
      !SEGMENT_NAME.test(name) ||
      (l.text.length > 3 && !/^(MSH|FHS|BHS)$/.test(name) && l.text[3] !== d.field)
    ) {
      fail(
        Hl7ErrorCode.SegmentName,
        `segment name must be three upper-case letters or digits, found ${JSON.stringify(
          l.text.slice(0, 4).replace(/[^\x20-\x7e]/g, '?'),
        )}`,
        l.line,
        name,
      );
    }
    if (fileTrailer) fail(Hl7ErrorCode.BatchStructure, `${name} after the file trailer (FTS)`, l.line, name);
    switch (name) {
      case 'FHS':
        if (fileHeader)
          fail(Hl7ErrorCode.BatchDuplicateFhs, 'a file cannot have more than one FHS segment', l.line, name);
        if (l !== first)
          fail(Hl7ErrorCode.BatchStructure, 'FHS must be the first segment of the file', l.line, name);
        fileHeader = new Hl7Segment(l.text, readDelimiters(l.text, l.line), l.terminator, l.line);
        break;
      case 'BHS':
        flush();
        if (batchOpen && batch?.header) {
          fail(Hl7ErrorCode.BatchDuplicateBhs, 'a batch cannot have more than one BHS segment', l.line, name);
        }
        batch = {
          header: new Hl7Segment(l.text, readDelimiters(l.text, l.line), l.terminator, l.line),
          messages: [],
        };
        batches.push(batch);
        batchOpen = true;
        break;
      case 'MSH': {
        flush();
        if (!batchOpen) {
          batch = { messages: [] };
          batches.push(batch);
          batchOpen = true;
        }
        const md = readDelimiters(l.text, l.line);
        current = { segments: [new Hl7Segment(l.text, md, l.terminator, l.line)], delimiters: md };
        break;
      }
      case 'BTS': {
        flush();
        if (!batchOpen) {
          batch = { messages: [] };
          batches.push(batch);
        }
        const b = batch as Hl7BatchGroup;
        b.trailer = new Hl7Segment(l.text, d, l.terminator, l.line);
        const n = countOf(b.trailer);
        if (n !== undefined && n !== b.messages.length) {
          fail(
            Hl7ErrorCode.BatchCount,
            `BTS-1 says ${n} messages but the batch holds ${b.messages.length}`,
            l.line,
            name,
          );
        }
        batchOpen = false;
        break;
      }
      case 'FTS': {
        flush();
        batchOpen = false;
        fileTrailer = new Hl7Segment(l.text, d, l.terminator, l.line);
        const n = countOf(fileTrailer);
        if (n !== undefined && n !== batches.length) {
          fail(
            Hl7ErrorCode.BatchCount,
            `FTS-1 says ${n} batches but the file holds ${batches.length}`,
            l.line,
            name,
          );
        }
        break;
      }
      default:
        if (!current) {
          fail(
            Hl7ErrorCode.BatchSegmentBeforeHeader,
            `segment ${name} received before a message header (MSH)`,
            l.line,
            name,
          );
        }
        (current as { segments: Hl7Segment[] }).segments.push(
          new Hl7Segment(l.text, d, l.terminator, l.line),
        );
    }
  }
  flush();
  return new Hl7BatchFile(
    fileDelimiters ?? DEFAULT_DELIMITERS,
    encoding,
    batches,
    fileHeader,
    fileTrailer,
    prefix,
  );
}

/**
 * Every message in a file: one message, several in a row, or a batch. Shorthand for
 * `parseBatch(input).messages`.
 */
export function splitMessages(
  input: Buffer | string,
  options: Pick<ParseOptions, 'formatting'> = {},
): Hl7Message[] {
  return parseBatch(input, options).messages;
}

export interface BuildBatchOptions {
  /** `file` writes FHS/BHS … BTS/FTS; `batch` writes BHS … BTS only. Default `file`. */
  envelope?: 'file' | 'batch';
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  /** FHS-11 / BHS-11 control id (default: a new unique id). */
  controlId?: string;
  /** FHS-10 / BHS-10 comment. */
  comment?: string;
  delimiters?: Delimiters;
}

/**
 * Wraps messages in a batch envelope with correct counts: BTS-1 = number of messages,
 * FTS-1 = number of batches (1). Each segment ends with CR.
 */
export function buildBatch(messages: Hl7Message[], options: BuildBatchOptions = {}): Hl7BatchFile {
  const d = options.delimiters ?? messages[0]?.delimiters ?? { ...DEFAULT_DELIMITERS };
  const enc = messages[0]?.encoding ?? 'utf8';
  const header = (name: 'FHS' | 'BHS') => {
    const seg = new Hl7Segment(`${name}${d.field}${encodingCharacters(d)}`, d, '\r', 0);
    const put = (n: number, v: string | undefined) => {
      if (v) seg.setField(n, encodeValue(v, d));
    };
    put(3, options.sendingApplication);
    put(4, options.sendingFacility);
    put(5, options.receivingApplication);
    put(6, options.receivingFacility);
    seg.setField(7, hl7Now());
    put(10, options.comment);
    seg.setField(11, options.controlId ?? newControlId());
    return seg;
  };
  const trailer = (name: 'BTS' | 'FTS', count: number) =>
    new Hl7Segment(`${name}${d.field}${count}`, d, '\r', 0);
  const batch: Hl7BatchGroup = { header: header('BHS'), messages, trailer: trailer('BTS', messages.length) };
  if (options.envelope === 'batch') return new Hl7BatchFile(d, enc, [batch]);
  return new Hl7BatchFile(d, enc, [batch], header('FHS'), trailer('FTS', 1));
}
