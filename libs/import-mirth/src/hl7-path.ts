/**
 * Mirth's E4X paths into an HL7 v2 message (`msg['PID']['PID.3']['PID.3.1'].toString()`) as
 * Sinew HL7 paths (`PID-3.1`), when the meaning is certain.
 */

export interface Hl7PathResult {
  /** The HL7 path as the standard writes it, 1-based: `PID-3[2].1`, `OBX[3]-5`. */
  path: string;
  /** `msg` (the message received) or `tmp` (the outbound message being built). */
  root: 'msg' | 'tmp';
  /** True when the path names a whole field without its component (Mirth then reads XML). */
  fieldOnly: boolean;
}

const QUOTED = String.raw`\[\s*['"]([^'"\]]+)['"]\s*\]`;
const INDEX = String.raw`(?:\[\s*(\d+)\s*\])?`;

/**
 * `msg['SEG'][n]?['SEG.f'][n]?['SEG.f.c']?['SEG.f.c.s']?` with `.toString()` allowed at the end.
 * Anything else (a method call, a variable index, descendant `..`) is not a certain path.
 */
export function mirthHl7Path(expression: string): Hl7PathResult | undefined {
  const src = expression.trim().replace(/;$/, '').trim();
  const re = new RegExp(
    String.raw`^(msg|tmp)${QUOTED}${INDEX}(?:${QUOTED}${INDEX}(?:${QUOTED}(?:${QUOTED})?)?)?(?:\.toString\(\))?$`,
  );
  const m = re.exec(src);
  if (!m) return undefined;
  const [, root, seg, segIndex, field, fieldRep, comp, sub] = m;
  if (!seg || !/^[A-Z][A-Z0-9]{2}$/.test(seg)) return undefined;
  if (!field) return undefined; // a whole segment is not a value
  const f = /^([A-Z][A-Z0-9]{2})\.(\d+)$/.exec(field);
  if (!f || f[1] !== seg) return undefined;
  let path = seg + (segIndex !== undefined ? `[${Number(segIndex) + 1}]` : '') + `-${Number(f[2])}`;
  if (fieldRep !== undefined) path += `[${Number(fieldRep) + 1}]`;
  if (comp) {
    const c = /^([A-Z][A-Z0-9]{2})\.(\d+)\.(\d+)$/.exec(comp);
    if (!c || c[1] !== seg || c[2] !== f[2]) return undefined;
    path += `.${Number(c[3])}`;
    if (sub) {
      const s = /^([A-Z][A-Z0-9]{2})\.(\d+)\.(\d+)\.(\d+)$/.exec(sub);
      if (!s || s[1] !== seg || s[2] !== f[2] || s[3] !== c[3]) return undefined;
      path += `.${Number(s[4])}`;
    }
  }
  return { path, root: root as 'msg' | 'tmp', fieldOnly: !comp };
}

/** A JavaScript string literal (`'ADT'`, `"A01"`) as its text; undefined for anything else. */
export function stringLiteral(expression: string): string | undefined {
  const m = /^\s*(['"])((?:\\.|(?!\1)[^\\])*)\1\s*;?\s*$/.exec(expression);
  if (!m) return undefined;
  const body = m[2] ?? '';
  if (/\\(?![\\'"])/.test(body)) return undefined; // \n, \u… : not worth guessing
  return body.replace(/\\(.)/g, '$1');
}
