/**
 * An HL7 v2 message split for display: segments, fields, repetitions, components and
 * subcomponents, each value with its escapes decoded. Delimiters come from MSH-1 and MSH-2.
 * Nothing is validated and nothing is lost: text that is not HL7 still splits into lines.
 */

export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export const DEFAULT_DELIMITERS: Delimiters = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

export interface Hl7Component {
  /** 1-based. */
  number: number;
  /** The subcomponents' decoded values (one when there is no subcomponent separator). */
  subcomponents: string[];
  /** The decoded value, subcomponents joined by the subcomponent separator. */
  value: string;
}

export interface Hl7Repetition {
  /** 1-based. */
  number: number;
  components: Hl7Component[];
}

export interface Hl7Field {
  /** 1-based field number as the standard counts it (MSH-1 is the field separator). */
  number: number;
  /** As written, escapes and all. */
  raw: string;
  repetitions: Hl7Repetition[];
}

export interface Hl7Segment {
  /** `PID`, `OBX`, `ZXX`. */
  name: string;
  /** 1-based occurrence of this segment name in the message (the second OBX is 2). */
  occurrence: number;
  fields: Hl7Field[];
}

export interface Hl7Display {
  delimiters: Delimiters;
  segments: Hl7Segment[];
}

/** The delimiters a message declares in MSH-1 and MSH-2 (the defaults when it has no MSH). */
export function delimitersOf(text: string): Delimiters {
  const start = text.replace(/^[\s\u000b]+/, '');
  if (!/^(MSH|BHS|FHS)/.test(start) || start.length < 8) return { ...DEFAULT_DELIMITERS };
  const field = start.charAt(3);
  const enc = start.slice(4, 9);
  const pick = (i: number, fallback: string): string => {
    const c = enc.charAt(i);
    return c && c !== field && !/[\r\n]/.test(c) ? c : fallback;
  };
  return {
    field,
    component: pick(0, DEFAULT_DELIMITERS.component),
    repetition: pick(1, DEFAULT_DELIMITERS.repetition),
    escape: pick(2, DEFAULT_DELIMITERS.escape),
    subcomponent: pick(3, DEFAULT_DELIMITERS.subcomponent),
  };
}

/** Hex digits as text: bytes decoded as UTF-8 when they are, else one character per byte. */
function hexText(hex: string): string {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return String.fromCharCode(...bytes);
  }
}

/**
 * One value with its escapes decoded: `\F\ \S\ \T\ \R\ \E\` become the delimiters, `\Xhh…\`
 * the characters, `\.br\` (and `\.sp\`) a line break; highlighting (`\H\`, `\N\`) is dropped.
 * Unknown or unterminated sequences are kept as written.
 */
export function decodeEscapes(raw: string, d: Delimiters = DEFAULT_DELIMITERS): string {
  const esc = d.escape;
  if (!esc || !raw.includes(esc)) return raw;
  let out = '';
  let at = 0;
  for (;;) {
    const open = raw.indexOf(esc, at);
    if (open < 0) break;
    const close = raw.indexOf(esc, open + 1);
    if (close < 0) break;
    const body = raw.slice(open + 1, close);
    let rep: string | undefined;
    if (body === 'F') rep = d.field;
    else if (body === 'S') rep = d.component;
    else if (body === 'T') rep = d.subcomponent;
    else if (body === 'R') rep = d.repetition;
    else if (body === 'E') rep = d.escape;
    else if (body === 'H' || body === 'N') rep = '';
    else if (body === '.br') rep = '\n';
    else if (/^\.sp\s*\d*$/.test(body)) {
      const n = Number.parseInt(body.slice(3).trim() || '1', 10);
      rep = '\n'.repeat(Math.min(Math.max(n, 1), 20));
    } else if (/^X(?:[0-9A-Fa-f]{2})+$/.test(body)) rep = hexText(body.slice(1));
    if (rep === undefined) {
      out += raw.slice(at, close);
      at = close;
      continue;
    }
    out += raw.slice(at, open) + rep;
    at = close + 1;
  }
  return out + raw.slice(at);
}

function splitField(raw: string, d: Delimiters): Hl7Repetition[] {
  return raw.split(d.repetition).map((rep, r) => ({
    number: r + 1,
    components: rep.split(d.component).map((comp, c) => {
      const subcomponents = comp.split(d.subcomponent).map((s) => decodeEscapes(s, d));
      return { number: c + 1, subcomponents, value: subcomponents.join(d.subcomponent) };
    }),
  }));
}

/** The value of a field that is not split (MSH-1, MSH-2): as written, one component. */
function whole(number: number, raw: string): Hl7Field {
  return {
    number,
    raw,
    repetitions: [{ number: 1, components: [{ number: 1, subcomponents: [raw], value: raw }] }],
  };
}

function splitSegment(line: string, d: Delimiters, occurrences: Map<string, number>): Hl7Segment {
  const parts = line.split(d.field);
  const name = parts[0] ?? '';
  const occurrence = (occurrences.get(name) ?? 0) + 1;
  occurrences.set(name, occurrence);
  const fields: Hl7Field[] = [];
  if (name === 'MSH' || name === 'BHS' || name === 'FHS') {
    // MSH-1 is the field separator itself and MSH-2 the encoding characters: neither is split.
    fields.push(whole(1, d.field));
    fields.push(whole(2, parts[1] ?? ''));
    parts.slice(2).forEach((raw, i) => fields.push({ number: i + 3, raw, repetitions: splitField(raw, d) }));
  } else {
    parts.slice(1).forEach((raw, i) => fields.push({ number: i + 1, raw, repetitions: splitField(raw, d) }));
  }
  return { name, occurrence, fields };
}

/** A message split for display; segments end at CR, LF or CRLF (MLLP framing bytes dropped). */
export function splitMessage(text: string): Hl7Display {
  const d = delimitersOf(text);
  const occurrences = new Map<string, number>();
  const segments = text
    .replace(/[\u000b\u001c]/g, '')
    .split(/\r\n|\r|\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => splitSegment(line, d, occurrences));
  return { delimiters: d, segments };
}

/** True when the text looks like an HL7 v2 message (it starts with MSH, BHS or FHS). */
export function looksLikeHl7(text: string): boolean {
  return /^[\s\u000b]*(MSH|BHS|FHS)./.test(text);
}

/**
 * A position's path as HL7 writes it: `PID-5`, `PID-5.1`, `PID-5.1.2`; the repetition in
 * brackets when there is more than one (`PID-3[2].1`).
 */
export function positionPath(
  segment: string,
  field: number,
  options: { repetition?: number; component?: number; subcomponent?: number } = {},
): string {
  let path = `${segment}-${field}`;
  if (options.repetition !== undefined && options.repetition > 1) path += `[${options.repetition}]`;
  if (options.component !== undefined) path += `.${options.component}`;
  if (options.subcomponent !== undefined) path += `.${options.subcomponent}`;
  return path;
}
