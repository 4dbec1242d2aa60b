import { Hl7ErrorCode, Hl7ParseError } from './errors';
import type { TextEncoding } from './escape';

/**
 * Maps an MSH-18 value (HL7 table 0211) to the encoding used to read and write the bytes.
 * ASCII is read as ISO 8859-1 so that stray 8-bit bytes survive a round trip unchanged.
 */
export function encodingForCharset(msh18: string, line = 1): TextEncoding {
  const name = msh18.trim().toUpperCase();
  switch (name) {
    case '':
    case 'UNICODE UTF-8':
    case 'UTF-8':
    case 'UTF8':
    case 'UNICODE':
      return 'utf8';
    case 'ASCII':
    case '8859/1':
    case 'ISO-8859-1':
    case 'ISO 8859/1':
    case 'ISO IR6':
    case 'ISO IR100':
      return 'latin1';
    default:
      throw new Hl7ParseError(
        Hl7ErrorCode.Charset,
        `character set ${JSON.stringify(msh18.slice(0, 40))} in MSH-18 is not supported (ASCII, 8859/1 and UNICODE UTF-8 are)`,
        { line, segment: 'MSH', field: 18 },
      );
  }
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
