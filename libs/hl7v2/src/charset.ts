import { isAscii } from 'node:buffer';
import { endianness } from 'node:os';
import * as iconv from 'iconv-lite';
import { Hl7ErrorCode, Hl7ParseError } from './errors';

/**
 * How a message's text maps to bytes: `utf8`, `latin1` (ISO 8859-1, and ASCII read leniently),
 * or one of the single-byte character sets below.
 */
export type TextEncoding =
  | 'utf8'
  | 'latin1'
  | 'iso-8859-2'
  | 'iso-8859-3'
  | 'iso-8859-4'
  | 'iso-8859-5'
  | 'iso-8859-6'
  | 'iso-8859-7'
  | 'iso-8859-8'
  | 'iso-8859-9'
  | 'iso-8859-15'
  | 'windows-1252';

/** The character sets read through a byte table (every one but UTF-8 and ISO 8859-1). */
type TableEncoding = Exclude<TextEncoding, 'utf8' | 'latin1'>;

/** ISO 8859 part number → encoding. */
const ISO_8859: Readonly<Record<string, TextEncoding>> = {
  '1': 'latin1',
  '2': 'iso-8859-2',
  '3': 'iso-8859-3',
  '4': 'iso-8859-4',
  '5': 'iso-8859-5',
  '6': 'iso-8859-6',
  '7': 'iso-8859-7',
  '8': 'iso-8859-8',
  '9': 'iso-8859-9',
  '15': 'iso-8859-15',
};

/** DICOM-style ISO-IR registration numbers (`ISO IR100`, `ISO_IR 101`) → encoding. */
const ISO_IR: Readonly<Record<string, TextEncoding>> = {
  '6': 'latin1',
  '100': 'latin1',
  '101': 'iso-8859-2',
  '109': 'iso-8859-3',
  '110': 'iso-8859-4',
  '144': 'iso-8859-5',
  '127': 'iso-8859-6',
  '126': 'iso-8859-7',
  '138': 'iso-8859-8',
  '148': 'iso-8859-9',
  '203': 'iso-8859-15',
};

/** `LATINn` names → encoding. */
const LATIN: Readonly<Record<string, TextEncoding>> = {
  '1': 'latin1',
  '2': 'iso-8859-2',
  '3': 'iso-8859-3',
  '4': 'iso-8859-4',
  '5': 'iso-8859-9',
  '9': 'iso-8859-15',
};

const ISO_8859_NAME = /^(?:ISO[ _-]?)?8859[ /_-]?(\d{1,2})$/;
const ISO_IR_NAME = /^ISO[ _-]?IR[ _-]?(\d{1,3})$/;
const LATIN_NAME = /^LATIN[ _-]?(\d)$/;
const CP1252_NAME = /^(?:CP|WINDOWS|WIN)[ _-]?1252$/;

/** The encoding a character set name stands for, or undefined when Sinew has none for it. */
function lookupCharset(name: string): TextEncoding | undefined {
  switch (name) {
    case '':
    case 'UNICODE UTF-8':
    case 'UTF-8':
    case 'UTF8':
    case 'UNICODE':
      return 'utf8';
    case 'ASCII':
    case 'US-ASCII':
      return 'latin1';
  }
  let m = ISO_8859_NAME.exec(name);
  if (m) return ISO_8859[m[1] as string];
  m = ISO_IR_NAME.exec(name);
  if (m) return ISO_IR[m[1] as string];
  m = LATIN_NAME.exec(name);
  if (m) return LATIN[m[1] as string];
  return CP1252_NAME.test(name) ? 'windows-1252' : undefined;
}

/**
 * Maps an MSH-18 value (HL7 table 0211, in its common spellings: `8859/2`, `ISO-8859-2`,
 * `ISO IR101`, `LATIN2`, `CP1252`, `WINDOWS-1252` …) to the encoding used to read and write the
 * bytes. ASCII is read as ISO 8859-1 so that stray 8-bit bytes survive a round trip unchanged.
 * Any other value throws `hl7.charset` naming it.
 */
export function encodingForCharset(msh18: string, line = 1): TextEncoding {
  const found = lookupCharset(msh18.trim().toUpperCase());
  if (found !== undefined) return found;
  throw new Hl7ParseError(
    Hl7ErrorCode.Charset,
    `character set ${JSON.stringify(msh18.slice(0, 40))} in MSH-18 is not supported ` +
      `(ASCII, 8859/1 to 8859/9, 8859/15, CP1252 and UNICODE UTF-8 are)`,
    { line, segment: 'MSH', field: 18 },
  );
}

/** A single-byte character set as two tables: byte → UTF-16 code unit, and back. */
interface ByteTable {
  decode: Uint16Array;
  encode: Map<number, number>;
}

/** Decoding fills UTF-16 code units that Node reads as little-endian bytes. */
const LITTLE_ENDIAN = endianness() === 'LE';

const tables = new Map<TableEncoding, ByteTable>();

/** Windows-1252 leaves five bytes undefined: they read as the C1 controls of the same number. */
const CP1252_UNDEFINED = [0x81, 0x8d, 0x8f, 0x90, 0x9d];

function tableFor(encoding: TableEncoding): ByteTable {
  let table = tables.get(encoding);
  if (table === undefined) {
    const bytes = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) bytes[i] = i;
    const chars = iconv.decode(bytes, encoding);
    const units = new Uint16Array(256);
    for (let i = 0; i < 256; i++) units[i] = chars.charCodeAt(i);
    if (encoding === 'windows-1252') for (const b of CP1252_UNDEFINED) units[b] = b;
    // On a big-endian machine the table holds each unit byte-swapped, so that the code units
    // written through a Uint16Array still lie in memory as UTF-16LE.
    const decode = LITTLE_ENDIAN ? units : units.map((u) => ((u & 0xff) << 8) | (u >> 8));
    const encode = new Map<number, number>();
    // Bytes the set leaves undefined read as U+FFFD, which writes as `?` like any other
    // character the set cannot hold.
    for (let i = 0x80; i < 256; i++) if (units[i] !== 0xfffd) encode.set(units[i] as number, i);
    table = { decode, encode };
    tables.set(encoding, table);
  }
  return table;
}

/** Decodes `buf[start, end)` in `encoding`. Bytes a single-byte set leaves undefined read as U+FFFD. */
export function decodeBytes(buf: Buffer, encoding: TextEncoding, start = 0, end = buf.length): string {
  if (encoding === 'utf8' || encoding === 'latin1') return buf.toString(encoding, start, end);
  // Plain ASCII reads the same in every set, as a one-byte string.
  if (isAscii(buf.subarray(start, end))) return buf.toString('latin1', start, end);
  const { decode } = tableFor(encoding);
  const units = new Uint16Array(end - start);
  for (let i = start, j = 0; i < end; i++, j++) units[j] = decode[buf[i] as number] as number;
  return Buffer.from(units.buffer, 0, units.byteLength).toString('utf16le');
}

const BEYOND_LATIN1 = /[^\x00-\xff]/;
const QUESTION_MARK = 0x3f;

/**
 * Encodes text in `encoding`. A character the set cannot hold (a `€` in ISO 8859-1, a Greek
 * letter in Windows-1252) is written as `?`, as other HL7 tools do; nothing throws.
 */
export function encodeText(text: string, encoding: TextEncoding): Buffer {
  if (encoding === 'utf8') return Buffer.from(text, 'utf8');
  if (encoding === 'latin1' && !BEYOND_LATIN1.test(text)) return Buffer.from(text, 'latin1');
  const encode = encoding === 'latin1' ? undefined : tableFor(encoding).encode;
  const out = Buffer.allocUnsafe(text.length);
  let j = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) out[j++] = c;
    else {
      const b = encode === undefined ? (c <= 0xff ? c : undefined) : encode.get(c);
      out[j++] = b ?? QUESTION_MARK;
      // A surrogate pair is one character: one `?`.
      if (c >= 0xd800 && c <= 0xdbff) {
        const next = text.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) i++;
      }
    }
  }
  return j === out.length ? out : out.subarray(0, j);
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export function hasUtf8Bom(buf: Buffer): boolean {
  return buf.length >= 3 && buf[0] === BOM[0] && buf[1] === BOM[1] && buf[2] === BOM[2];
}
/**
 * Finds MSH-18 in the first header line of the bytes (read as ISO 8859-1, which maps every
 * byte to one character, so offsets and delimiters are exact) and returns the text encoding.
 */
export function sniffEncoding(buf: Buffer, start: number): TextEncoding {
  let lineStart = start;
  // The first MSH line: at the start, or the first line that begins with MSH (batches).
  for (;;) {
    if (buf[lineStart] === 0x4d && buf[lineStart + 1] === 0x53 && buf[lineStart + 2] === 0x48) break;
    const cr = buf.indexOf(0x0d, lineStart);
    const lf = buf.indexOf(0x0a, lineStart);
    let next = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
    if (next < 0) return 'utf8';
    while (buf[next] === 0x0d || buf[next] === 0x0a) next++;
    lineStart = next;
    if (lineStart >= buf.length) return 'utf8';
  }
  // Walk the header's bytes to MSH-18 (after the 17th field separator), stopping at the line's
  // end: searching the whole buffer for a line break would cost as much as a large message.
  const n = buf.length;
  const fs = buf[lineStart + 3];
  if (fs === undefined || fs === 0x0d || fs === 0x0a) return 'utf8';
  let at = lineStart + 4;
  // fields[0] = 'MSH', fields[1] = MSH-2, so MSH-n sits after the (n - 1)th separator.
  for (let seen = 1; seen < 17; at++) {
    const b = buf[at];
    if (b === undefined || b === 0x0d || b === 0x0a) return encodingForCharset('');
    if (b === fs) seen++;
  }
  let end = at;
  for (; end < n; end++) {
    const b = buf[end];
    if (b === fs || b === 0x0d || b === 0x0a) break;
  }
  const msh18 = buf.toString('latin1', at, end);
  const r = buf[lineStart + 5];
  const rep = r === undefined || r === 0x0d || r === 0x0a ? undefined : String.fromCharCode(r);
  const first = rep ? (msh18.split(rep)[0] ?? '') : msh18;
  return encodingForCharset(first);
}
