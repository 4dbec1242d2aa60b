import {
  decodeBytes,
  encodeText,
  encodingForCharset,
  hasUtf8Bom,
  sniffEncoding,
  type TextEncoding,
} from './charset';
import { DEFAULT_DELIMITERS, encodingCharacters, readDelimiters, type Delimiters } from './delimiters';
import { Hl7ErrorCode, Hl7ParseError } from './errors';
import { decodeValue, encodeValue, type FormattingMode } from './escape';
import { parsePath, type Hl7Path } from './path';
import { HEADER_SEGMENTS, Hl7Segment, nthPiece, replacePiece, splitOn } from './segment';

export interface ParseOptions {
  /** How formatting escapes are returned by `get` (default `keep`). */
  formatting?: FormattingMode;
  /**
   * Segment names allowed first. Default `['MSH']`; batch parsing passes FHS/BHS too.
   * @internal
   */
  headers?: readonly string[];
  /** Allow more than one MSH (used internally by batch parsing). @internal */
  allowManyMessages?: boolean;
}

export interface CreateOptions {
  /** MSH-9, e.g. `ADT^A01^ADT_A01` (written as given: its delimiters structure it). */
  type: string;
  /** MSH-12 (default `2.5.1`). */
  version?: string;
  /** MSH-10 (default: a new unique id). */
  controlId?: string;
  /** MSH-11 (default `P`). */
  processingId?: string;
  /** MSH-7 (default: now, as `YYYYMMDDHHMMSS+ZZZZ`). */
  dateTime?: string;
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  /**
   * MSH-18, e.g. `UNICODE UTF-8` or `8859/1`; it also sets how {@link Hl7Message.toBuffer}
   * encodes the text. Left empty by default (which means UTF-8 to Sinew). An unsupported
   * character set throws `hl7.charset`.
   */
  charset?: string;
  delimiters?: Delimiters;
  /** Segment terminator (default CR, as the standard requires). */
  segmentTerminator?: '\r' | '\n' | '\r\n';
}

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;
let idCounter = 0;

/** A control id unique within this process and, with overwhelming likelihood, across processes. */
export function newControlId(): string {
  idCounter = (idCounter + 1) % 0x10000;
  const rand = Math.floor(Math.random() * 0x100000000)
    .toString(36)
    .toUpperCase();
  return `${Date.now().toString(36).toUpperCase()}${idCounter.toString(36).toUpperCase().padStart(4, '0')}${rand}`.slice(
    0,
    20,
  );
}

/** Current time as an HL7 DTM with seconds and offset: `20261121143000+0100`. */
export function hl7Now(date = new Date()): string {
  const p = (n: number, w = 2) => String(Math.abs(n)).padStart(w, '0');
  const off = -date.getTimezoneOffset();
  return (
    `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}` +
    `${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}` +
    `${off >= 0 ? '+' : '-'}${p(Math.trunc(off / 60))}${p(off % 60)}`
  );
}

/**
 * An HL7 v2 message: segments → fields → repetitions → components → subcomponents, addressed
 * with 1-based paths as the standard writes them. Values are decoded on read and encoded on
 * write with the message's own delimiters; an untouched message serializes to its input.
 */
export class Hl7Message {
  readonly segments: Hl7Segment[];
  /** Text before the first segment (blank lines), kept for an exact round trip. */
  private prefix: string;
  private source: Buffer | undefined;
  /** How the text maps to bytes: from MSH-18 (UTF-8 when empty). */
  encoding: TextEncoding;
  private modified = false;
  private formatting: FormattingMode;

  private constructor(
    readonly delimiters: Delimiters,
    encoding: TextEncoding,
    segments: Hl7Segment[],
    prefix: string,
    formatting: FormattingMode,
  ) {
    this.segments = segments;
    this.encoding = encoding;
    this.prefix = prefix;
    this.formatting = formatting;
  }

  /**
   * Parses one message. Bytes are decoded with the character set named in MSH-18 (UTF-8 when
   * empty); a UTF-8 byte-order mark is skipped. CR, LF and CRLF segment endings are accepted.
   * Throws {@link Hl7ParseError} (and nothing else) on malformed input.
   */
  static parse(input: Buffer | string, options: ParseOptions = {}): Hl7Message {
    let text: string;
    let encoding: TextEncoding = 'utf8';
    let source: Buffer | undefined;
    if (typeof input === 'string') {
      text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
    } else {
      const start = hasUtf8Bom(input) ? 3 : 0;
      encoding = sniffEncoding(input, start);
      source = start === 0 ? input : input.subarray(start);
      text = decodeBytes(source, encoding);
    }
    const msg = parseText(text, encoding, options);
    msg.source = source;
    if (source === undefined) msg.encoding = stringEncoding(msg.get('MSH-18'));
    return msg;
  }

  /** Builds a new message with an MSH filled from the options. */
  static create(options: CreateOptions): Hl7Message {
    const d = options.delimiters ?? { ...DEFAULT_DELIMITERS };
    const term = options.segmentTerminator ?? '\r';
    // The bytes follow MSH-18 (its first repetition), as they do for a parsed message.
    const charset = options.charset ? (options.charset.split(d.repetition)[0] ?? '') : '';
    const msg = new Hl7Message(d, encodingForCharset(charset), [], '', 'keep');
    const msh = new Hl7Segment(`MSH${d.field}${encodingCharacters(d)}`, d, term, 0);
    msg.segments.push(msh);
    msg.modified = true;
    const set = (n: number, v: string | undefined) => {
      if (v !== undefined && v !== '') msh.setField(n, v);
    };
    set(3, options.sendingApplication);
    set(4, options.sendingFacility);
    set(5, options.receivingApplication);
    set(6, options.receivingFacility);
    // Plain values: `2.5.1` or a `+0100` offset must not split when `.` or `+` is a delimiter.
    const plain = (n: number, v: string) => set(n, encodeValue(v, d));
    plain(7, options.dateTime ?? hl7Now());
    set(9, options.type);
    plain(10, options.controlId ?? newControlId());
    plain(11, options.processingId ?? 'P');
    plain(12, options.version ?? '2.5.1');
    set(18, options.charset);
    return msg;
  }

  /** @internal used by batch parsing and ACK building */
  static fromSegments(
    segments: Hl7Segment[],
    delimiters: Delimiters,
    encoding: TextEncoding,
    formatting: FormattingMode = 'keep',
    prefix = '',
  ): Hl7Message {
    return new Hl7Message(delimiters, encoding, segments, prefix, formatting);
  }

  // ---- header shortcuts -------------------------------------------------------------------

  /** MSH-9.1, e.g. `ADT`. */
  get messageCode(): string {
    return this.get('MSH-9.1');
  }
  /** MSH-9.2, e.g. `A01`. */
  get triggerEvent(): string {
    return this.get('MSH-9.2');
  }
  /** MSH-9 as `ADT^A01` (code and trigger joined with `^`, whatever the message's delimiters). */
  get messageType(): string {
    const t = this.triggerEvent;
    return t ? `${this.messageCode}^${t}` : this.messageCode;
  }
  /** MSH-10. */
  get controlId(): string {
    return this.get('MSH-10');
  }
  /** MSH-12.1. */
  get version(): string {
    return this.get('MSH-12.1');
  }

  // ---- segments ---------------------------------------------------------------------------

  /** The `occurrence`th (1-based) segment named `name`, or undefined. */
  segment(name: string, occurrence = 1): Hl7Segment | undefined {
    let seen = 0;
    for (const s of this.segments) {
      if (s.name === name && ++seen === occurrence) return s;
    }
    return undefined;
  }

  /** Every segment named `name`, in order. */
  segmentsNamed(name: string): Hl7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }

  /**
   * Appends a segment (or inserts it before `before`). Values are plain text, encoded for the
   * message; pass `{ raw: '...' }` to give a field's encoded text (with its components).
   */
  addSegment(
    name: string,
    fields: ReadonlyArray<string | { raw: string } | undefined> = [],
    before?: Hl7Segment,
  ): Hl7Segment {
    if (!SEGMENT_NAME.test(name) || HEADER_SEGMENTS.has(name)) {
      throw new Hl7ParseError(Hl7ErrorCode.Write, `cannot add a segment named ${JSON.stringify(name)}`);
    }
    const seg = new Hl7Segment(name, this.delimiters, this.defaultTerminator(), 0);
    fields.forEach((f, i) => {
      if (f === undefined) return;
      seg.setField(i + 1, typeof f === 'string' ? this.encode(f) : f.raw);
    });
    const last = this.segments[this.segments.length - 1];
    const at = before ? this.segments.indexOf(before) : -1;
    if (at >= 0) this.segments.splice(at, 0, seg);
    else {
      // The previous last segment may have had no terminator: give it one before appending.
      if (last && last.terminator === '') last.terminator = this.defaultTerminator();
      this.segments.push(seg);
    }
    this.modified = true;
    return seg;
  }

  /** Removes a segment (not MSH). */
  removeSegment(seg: Hl7Segment): void {
    const at = this.segments.indexOf(seg);
    if (at <= 0) return;
    this.segments.splice(at, 1);
    this.modified = true;
  }

  private defaultTerminator(): string {
    const t = this.segments[0]?.terminator;
    return t === '\n' || t === '\r\n' ? t : '\r';
  }

  // ---- reading ----------------------------------------------------------------------------

  /**
   * The value at `path`, decoded. Out-of-range reads return `''`. HL7's explicit null comes
   * back as `""` (see {@link isNull}). A field that still has structure (components or
   * subcomponents) is returned in its encoded form, delimiters intact, as the message writes
   * it; a component that holds subcomponents reads as its first subcomponent
   * (`PID-5.1` of `Smith&Booth` is `Smith`): `getRaw` gives the whole, `PID-5.1.2` the others.
   */
  get(path: string): string {
    const p = parsePath(path);
    const seg = this.findSegment(p);
    return seg ? this.readAt(seg, p, p.repetition) : '';
  }

  /** The encoded text at `path` exactly as the message holds it. */
  getRaw(path: string): string {
    const p = parsePath(path);
    const seg = this.findSegment(p);
    return seg ? (this.rawAt(seg, p, p.repetition) ?? '') : '';
  }

  /**
   * Every value matched by a path with `*` wildcards: `OBX[*]-5`, `PID-3[*].1`. Without a
   * wildcard, a one-element list (or empty when the element is absent).
   */
  getAll(path: string): string[] {
    const p = parsePath(path);
    const segs =
      p.occurrence === '*'
        ? this.segmentsNamed(p.segment)
        : [this.findSegment(p)].filter((s): s is Hl7Segment => s !== undefined);
    const out: string[] = [];
    for (const seg of segs) {
      if (p.repetition === '*' && p.field !== undefined) {
        const count = this.repetitionCount(seg, p.field);
        // Split once: finding each repetition from the start would be quadratic in their number.
        const reps = count > 1 ? splitOn(seg.field(p.field), this.delimiters.repetition) : undefined;
        for (let r = 1; r <= count; r++) out.push(this.readAt(seg, p, r, reps?.[r - 1]));
      } else {
        const raw = this.rawAt(seg, p, p.repetition);
        if (raw !== undefined) out.push(this.readAt(seg, p, p.repetition));
      }
    }
    return out;
  }

  /** True when the value at `path` is HL7's explicit null `""`. */
  isNull(path: string): boolean {
    return this.getRaw(path) === '""';
  }

  /** True when the element at `path` is present with a non-empty value (null counts). */
  has(path: string): boolean {
    return this.getRaw(path) !== '';
  }

  /** Number of repetitions of a field (0 when absent or empty). */
  repetitionCount(seg: Hl7Segment, field: number): number {
    const raw = seg.field(field);
    if (raw === '') return 0;
    if (seg.isHeader && field <= 2) return 1;
    return splitOn(raw, this.delimiters.repetition).length;
  }

  /** Decodes an encoded atomic value with this message's delimiters and character set. */
  decode(raw: string): string {
    return decodeValue(raw, this.delimiters, this.encoding, this.formatting);
  }

  /** Encodes a plain value with this message's delimiters. */
  encode(value: string): string {
    return encodeValue(value, this.delimiters);
  }

  private findSegment(p: Hl7Path): Hl7Segment | undefined {
    return this.segment(p.segment, p.occurrence === '*' ? 1 : p.occurrence);
  }

  private rawAt(seg: Hl7Segment, p: Hl7Path, rep: number | '*', knownRep?: string): string | undefined {
    if (p.field === undefined) return seg.toString();
    const field = seg.fieldAt(p.field);
    if (field === undefined) return undefined;
    if (seg.isHeader && p.field <= 2) {
      // MSH-1 and MSH-2 are the delimiters themselves: never split or decoded.
      return rep === 1 && p.component === undefined ? field : undefined;
    }
    const d = this.delimiters;
    if (rep === '*') return field;
    const repText = knownRep ?? nthPiece(field, d.repetition, rep);
    if (repText === undefined || p.component === undefined) return repText;
    const comp = nthPiece(repText, d.component, p.component);
    if (comp === undefined || p.subcomponent === undefined) return comp;
    return nthPiece(comp, d.subcomponent, p.subcomponent);
  }

  private readAt(seg: Hl7Segment, p: Hl7Path, rep: number | '*', knownRep?: string): string {
    const raw = this.rawAt(seg, p, rep, knownRep);
    if (raw === undefined || raw === '') return '';
    if (p.field === undefined || (seg.isHeader && p.field <= 2)) return raw;
    const d = this.delimiters;
    if (p.subcomponent === undefined) {
      const sub = d.subcomponent;
      if (p.component !== undefined && rep !== '*') {
        // A component holding subcomponents reads as its first one, as python-hl7 reads it;
        // getRaw gives the whole.
        const at = sub === undefined ? -1 : raw.indexOf(sub);
        return this.decode(at < 0 ? raw : raw.slice(0, at));
      }
      if (raw.includes(d.component) && p.component === undefined) return raw;
      if (sub !== undefined && raw.includes(sub)) return raw;
      if (rep === '*' && raw.includes(d.repetition)) return raw;
    }
    return this.decode(raw);
  }

  // ---- writing ----------------------------------------------------------------------------

  /**
   * Writes a plain value at `path`, encoding delimiters it contains. Other repetitions,
   * components and fields keep their bytes. A missing segment is appended when `path` names
   * the next occurrence (`OBX[3]` when there are two OBX).
   */
  set(path: string, value: string): this {
    return this.write(path, this.encode(value));
  }

  /** Writes HL7's explicit null `""` at `path`. */
  setNull(path: string): this {
    return this.write(path, '""');
  }

  /**
   * Writes encoded text at `path` as given, so it may carry the structure below that level
   * (`setRaw('PID-5', 'DOE^JANE')`). It may not contain a delimiter of its own level or above.
   */
  setRaw(path: string, encoded: string): this {
    return this.write(path, encoded);
  }

  private write(path: string, encoded: string): this {
    const p = parsePath(path);
    const fail = (why: string): never => {
      throw new Hl7ParseError(Hl7ErrorCode.Write, `cannot write ${path}: ${why}`, { segment: p.segment });
    };
    if (p.occurrence === '*' || p.repetition === '*') fail('a path with * names several places');
    if (p.field === undefined) fail('name a field (e.g. PID-3)');
    const d = this.delimiters;
    const field = p.field as number;
    const forbidden = [d.field, '\r', '\n'];
    if (p.component !== undefined || p.subcomponent === undefined) forbidden.push(d.repetition);
    if (p.component !== undefined) forbidden.push(d.component);
    if (p.subcomponent !== undefined && d.subcomponent !== undefined) forbidden.push(d.subcomponent);
    if (forbidden.some((c) => encoded.includes(c)))
      fail('the value holds a delimiter of its own level or above');
    if (p.subcomponent !== undefined && d.subcomponent === undefined) {
      fail('this message defines no subcomponent separator');
    }

    let seg = this.findSegment(p);
    if (!seg) {
      const count = this.segmentsNamed(p.segment).length;
      if (p.occurrence !== count + 1) fail(`there are only ${count} ${p.segment} segments`);
      seg = this.addSegment(p.segment);
    }
    if (seg.isHeader && field <= 2) fail(`${seg.name}-1 and ${seg.name}-2 hold the delimiters`);

    const rep = p.repetition as number;
    let next: string;
    if (p.component === undefined) {
      next = replacePiece(seg.field(field), d.repetition, rep, encoded);
    } else {
      const current = seg.field(field);
      const repText = nthPiece(current, d.repetition, rep) ?? '';
      let compValue = encoded;
      if (p.subcomponent !== undefined) {
        const comp = nthPiece(repText, d.component, p.component) ?? '';
        compValue = replacePiece(comp, d.subcomponent as string, p.subcomponent, encoded);
      }
      next = replacePiece(
        current,
        d.repetition,
        rep,
        replacePiece(repText, d.component, p.component, compValue),
      );
    }
    seg.setField(field, next);
    this.modified = true;
    return this;
  }

  // ---- serializing ------------------------------------------------------------------------

  /** The message as text, each segment followed by the line ending it had (CR for new ones). */
  toString(): string {
    let out = this.prefix;
    for (const s of this.segments) out += s.toString() + s.terminator;
    return out;
  }

  /**
   * The message as bytes in its character set. An untouched message parsed from bytes returns
   * exactly those bytes (without a byte-order mark).
   */
  toBuffer(): Buffer {
    if (this.source && !this.modified && !this.segments.some((s) => s.edited)) {
      return this.source;
    }
    return encodeText(this.toString(), this.encoding);
  }

  /** Marks the message as changed (used when segments are edited directly). */
  touch(): void {
    this.modified = true;
  }
}

/**
 * Splits text into segments with their exact terminators. Shared by message and batch parsing.
 * @internal
 */
export function splitSegments(
  text: string,
  lineOffset = 0,
): { prefix: string; lines: Array<{ text: string; terminator: string; line: number }> } {
  let pos = 0;
  let line = lineOffset + 1;
  // Skip blank lines before the first segment.
  while (pos < text.length && (text.charCodeAt(pos) === 13 || text.charCodeAt(pos) === 10)) {
    if (text.charCodeAt(pos) === 10 || text.charCodeAt(pos + 1) !== 10) line++;
    pos++;
  }
  const prefix = text.slice(0, pos);
  const lines: Array<{ text: string; terminator: string; line: number }> = [];
  let nextCr = text.indexOf('\r', pos);
  let nextLf = text.indexOf('\n', pos);
  while (pos < text.length) {
    if (nextCr >= 0 && nextCr < pos) nextCr = text.indexOf('\r', pos);
    if (nextLf >= 0 && nextLf < pos) nextLf = text.indexOf('\n', pos);
    const end =
      nextCr < 0 ? (nextLf < 0 ? text.length : nextLf) : nextLf < 0 ? nextCr : Math.min(nextCr, nextLf);
    let after = end;
    let breaks = 0;
    while (after < text.length) {
      const c = text.charCodeAt(after);
      if (c === 13) {
        breaks++;
        after += text.charCodeAt(after + 1) === 10 ? 2 : 1;
      } else if (c === 10) {
        breaks++;
        after++;
      } else break;
    }
    lines.push({ text: text.slice(pos, end), terminator: text.slice(end, after), line });
    line += Math.max(breaks, 1);
    pos = after;
  }
  return { prefix, lines };
}

/** For text already decoded, MSH-18 only decides how it is written back; unknown → UTF-8. */
function stringEncoding(msh18: string): TextEncoding {
  try {
    return encodingForCharset(msh18);
  } catch {
    return 'utf8';
  }
}

/** `SEGMENT_NAME` on the first three characters, without slicing them out (once per segment). */
function isSegmentName(text: string): boolean {
  if (text.length < 3) return false;
  const a = text.charCodeAt(0);
  const b = text.charCodeAt(1);
  const c = text.charCodeAt(2);
  const upper = (x: number) => x >= 65 && x <= 90;
  const upperOrDigit = (x: number) => upper(x) || (x >= 48 && x <= 57);
  return upper(a) && upperOrDigit(b) && upperOrDigit(c);
}

function parseText(text: string, encoding: TextEncoding, options: ParseOptions): Hl7Message {
  const { prefix, lines } = splitSegments(text);
  const first = lines[0];
  if (!first || first.text.trim() === '') {
    throw new Hl7ParseError(Hl7ErrorCode.Empty, 'the message is empty');
  }
  const headers = options.headers ?? ['MSH'];
  const firstName = first.text.slice(0, 3);
  if (!headers.includes(firstName)) {
    throw new Hl7ParseError(
      Hl7ErrorCode.NoHeader,
      `a message must start with ${headers.join(' or ')}, found ${JSON.stringify(first.text.slice(0, 3))}`,
      { line: first.line },
    );
  }
  const delimiters = readDelimiters(first.text, first.line);
  const fs = delimiters.field;
  const segments: Hl7Segment[] = [];
  let mshCount = 0;
  const fsCode = fs.charCodeAt(0);
  for (const l of lines) {
    if (!isSegmentName(l.text) || (l.text.length > 3 && l.text.charCodeAt(3) !== fsCode)) {
      throw new Hl7ParseError(
        Hl7ErrorCode.SegmentName,
        `segment name must be three upper-case letters or digits followed by ${JSON.stringify(fs)}, found ${JSON.stringify(
          l.text.slice(0, 4).replace(/[^\x20-\x7e]/g, '?'),
        )}`,
        { line: l.line },
      );
    }
    const seg = new Hl7Segment(l.text, delimiters, l.terminator, l.line);
    if (seg.name === 'MSH' && ++mshCount > 1 && !options.allowManyMessages) {
      throw new Hl7ParseError(
        Hl7ErrorCode.NoHeader,
        'a second MSH starts another message: read several messages with parseBatch',
        { line: l.line, segment: 'MSH' },
      );
    }
    segments.push(seg);
  }
  return Hl7Message.fromSegments(segments, delimiters, encoding, options.formatting ?? 'keep', prefix);
}

/** Parses one message: shorthand for {@link Hl7Message.parse}. */
export function parseMessage(input: Buffer | string, options?: ParseOptions): Hl7Message {
  return Hl7Message.parse(input, options);
}
