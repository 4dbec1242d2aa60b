import { decodeBytes, type TextEncoding } from './charset';
import type { Delimiters } from './delimiters';

/** How formatting escapes (`\.br\`, `\H\`, `\N\`, `\.sp\` …) are returned on read. */
export type FormattingMode =
  /** Returned as written (`\.br\`), and written back unchanged by {@link encodeValue}. */
  | 'keep'
  /** Rendered as plain text: `\.br\` → newline, highlighting dropped (see renderFormatting). */
  | 'text';

const FORMATTING_BODY =
  /^(?:H|N|\.br|\.sp[+-]?\d*|\.in[+-]?\d*|\.ti[+-]?\d*|\.sk[+-]?\d*|\.ce|\.fi|\.nf|C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4}(?:[0-9A-Fa-f]{2})?|Z[A-Za-z0-9]+)$/;
const HEX = /^(?:[0-9A-Fa-f]{2})+$/;

/** True when `body` (the text between two escape characters) is an HL7 formatting escape. */
export function isFormattingEscape(body: string): boolean {
  return FORMATTING_BODY.test(body);
}

/**
 * Most line breaks one `\.sp n\` renders, so that rendered text stays within a small multiple
 * of its encoded length (a few megabytes of `\.sp999\` would exceed V8's longest string).
 */
const MAX_SKIP = 99;

/** `n` of a `.sp n` / `.sk n` body (1 when absent or not positive), at most {@link MAX_SKIP}. */
function count(arg: string): number {
  const n = Number.parseInt(arg || '1', 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, MAX_SKIP) : 1;
}

/**
 * A formatting escape as plain text: `.br` and `.ce` (end the line; centring is dropped) a
 * line break, `.sp n` n line breaks, `.sk n` n spaces; indentation (`.in`, `.ti`), fill modes
 * (`.fi`, `.nf`), highlighting (`H`, `N`) and character-set and local escapes (`C`, `M`, `Z`)
 * nothing.
 */
function renderFormatting(body: string): string {
  if (body === '.br' || body === '.ce') return '\n';
  if (body.startsWith('.sp')) return '\n'.repeat(count(body.slice(3)));
  if (body.startsWith('.sk')) return ' '.repeat(count(body.slice(3)));
  return '';
}

/**
 * Decodes HL7 escape sequences in one atomic value. Unknown or unterminated sequences are
 * kept as written, so no input is lost.
 */
export function decodeValue(
  raw: string,
  d: Delimiters,
  encoding: TextEncoding = 'utf8',
  formatting: FormattingMode = 'keep',
): string {
  const esc = d.escape;
  let i = raw.indexOf(esc);
  if (i < 0) return raw;
  let out = '';
  let last = 0;
  while (i >= 0) {
    const close = raw.indexOf(esc, i + 1);
    if (close < 0) break;
    const body = raw.slice(i + 1, close);
    let replacement: string | undefined;
    switch (body) {
      case 'F':
        replacement = d.field;
        break;
      case 'S':
        replacement = d.component;
        break;
      case 'R':
        replacement = d.repetition;
        break;
      case 'E':
        replacement = d.escape;
        break;
      case 'T':
        replacement = d.subcomponent;
        break;
      case 'P':
        replacement = d.truncation;
        break;
      default:
        if (body.length > 1 && body[0] === 'X' && HEX.test(body.slice(1))) {
          replacement = decodeBytes(Buffer.from(body.slice(1), 'hex'), encoding);
        } else if (formatting === 'text' && FORMATTING_BODY.test(body)) {
          replacement = renderFormatting(body);
        }
    }
    if (replacement === undefined) {
      // Not a sequence we translate. A formatting escape kept as written ends at its closing
      // character; for anything else keep the opening escape character and carry on from the
      // closing one, which may open the next sequence.
      i = FORMATTING_BODY.test(body) ? raw.indexOf(esc, close + 1) : close;
      continue;
    }
    out += raw.slice(last, i) + replacement;
    last = close + 1;
    i = raw.indexOf(esc, last);
  }
  return last === 0 ? raw : out + raw.slice(last);
}

const specialsCache = new WeakMap<Delimiters, RegExp>();
/** By delimiter characters too: each parsed message has its own delimiters object. */
const specialsByChars = new Map<string, RegExp>();

function specials(d: Delimiters): RegExp {
  let re = specialsCache.get(d);
  if (!re) {
    // Letters cannot be delimiters, so `x` marks an absent one unambiguously.
    const key =
      d.field + d.component + d.repetition + d.escape + (d.subcomponent ?? 'x') + (d.truncation ?? 'x');
    re = specialsByChars.get(key);
    if (!re) {
      const chars = [d.field, d.component, d.repetition, d.escape, d.subcomponent, d.truncation, '\r', '\n']
        .filter((c): c is string => c !== undefined)
        .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .join('');
      re = new RegExp(`[${chars}]`);
      if (specialsByChars.size >= 1000) specialsByChars.clear();
      specialsByChars.set(key, re);
    }
    specialsCache.set(d, re);
  }
  return re;
}

/**
 * Encodes a plain value for the message's delimiters: each delimiter becomes its escape
 * sequence, CR and LF become `\X0D\` and `\X0A\`. Formatting escapes already in the value
 * (`\.br\`, `\H\` …, as returned by {@link decodeValue} in `keep` mode) are written as they are.
 */
export function encodeValue(value: string, d: Delimiters): string {
  if (!specials(d).test(value)) return value;
  const esc = d.escape;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === esc) {
      const close = value.indexOf(esc, i + 1);
      const body = close > i ? value.slice(i + 1, close) : '';
      // A body holding a delimiter (`\.sp+2\` when `+` separates components) cannot stay as it is.
      if (close > i && FORMATTING_BODY.test(body) && !specials(d).test(body)) {
        out += value.slice(i, close + 1);
        i = close;
        continue;
      }
      out += esc + 'E' + esc;
    } else if (ch === d.field) out += esc + 'F' + esc;
    else if (ch === d.component) out += esc + 'S' + esc;
    else if (ch === d.repetition) out += esc + 'R' + esc;
    else if (ch === d.subcomponent) out += esc + 'T' + esc;
    else if (ch === d.truncation) out += esc + 'P' + esc;
    else if (ch === '\r') out += esc + 'X0D' + esc;
    else if (ch === '\n') out += esc + 'X0A' + esc;
    else out += ch;
  }
  return out;
}
