import { z } from 'zod';
import { defineFunction } from './define';

const REF = /\{(\d+(?:\.\d+)?)\}/g;

/** A `{c}` or `{c.s}` reference in a pattern. */
interface Ref {
  c: number;
  s: number | undefined;
}

/** Pattern text: literal text and references, in order. */
type Token = string | Ref;

/** A pattern taken apart once: its text outside brackets, and its bracketed parts. */
interface Compiled {
  parts: Array<
    { group: false; text: string; tokens: Token[] } | { group: true; refs: Ref[]; tokens: Token[] }
  >;
  /** True when no brace outside a reference is left in the text outside brackets. */
  plain: boolean;
}

function parseRef(ref: string): Ref {
  const [c, s] = ref.split('.').map(Number);
  return { c: c as number, s };
}

function tokens(text: string): Token[] {
  const out: Token[] = [];
  let last = 0;
  for (const m of text.matchAll(REF)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(parseRef(m[1] as string));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

const compiledPatterns = new Map<string, Compiled>();

/**
 * Takes a pattern apart as `run` reads it: a bracketed part runs from `[` to the next `]`; a
 * `[` without a later `]` is text.
 */
function compile(pattern: string): Compiled {
  const hit = compiledPatterns.get(pattern);
  if (hit) return hit;
  const c: Compiled = { parts: [], plain: true };
  const text = (t: string) => {
    if (t === '') return;
    const toks = tokens(t);
    if (toks.some((x) => typeof x === 'string' && (x.includes('{') || x.includes('}')))) c.plain = false;
    c.parts.push({ group: false, text: t, tokens: toks });
  };
  let i = 0;
  while (i < pattern.length) {
    const open = pattern.indexOf('[', i);
    const close = open < 0 ? -1 : pattern.indexOf(']', open + 1);
    if (close < 0) break;
    text(pattern.slice(i, open));
    const toks = tokens(pattern.slice(open + 1, close));
    c.parts.push({ group: true, refs: toks.filter((x): x is Ref => typeof x !== 'string'), tokens: toks });
    i = close + 1;
  }
  text(pattern.slice(i));
  if (compiledPatterns.size < 1000) compiledPatterns.set(pattern, c);
  return c;
}

/** The components of one value (`^`), split once. */
class Components {
  private comps: string[] | undefined;
  constructor(private readonly value: string) {}

  /** Component `c` or subcomponent `c.s` as the rules see it (`^`, `&`); `''` when absent. */
  get(ref: Ref): string {
    const comps = (this.comps ??= this.value.split('^'));
    const component = comps[ref.c - 1] ?? '';
    return ref.s === undefined ? component : (component.split('&')[ref.s - 1] ?? '');
  }

  fill(toks: Token[]): string {
    let out = '';
    for (const t of toks) out += typeof t === 'string' ? t : this.get(t);
    return out;
  }
}

/**
 * The pattern with its bracketed parts filled in (or left out), then every `{c}` in the whole
 * text replaced, as two `replace` passes over the pattern would.
 */
function render(c: Compiled, value: string): string {
  const comps = new Components(value);
  const groups: string[] = [];
  let braces = false;
  for (const p of c.parts) {
    if (!p.group) continue;
    let all = true;
    for (const r of p.refs) {
      if (comps.get(r) === '') {
        all = false;
        break;
      }
    }
    const filled = all ? comps.fill(p.tokens) : '';
    if (filled.includes('{') || filled.includes('}')) braces = true;
    groups.push(filled);
  }
  let out = '';
  let g = 0;
  if (c.plain && !braces) {
    // No brace left outside a reference: the second pass replaces exactly the references of
    // the text outside brackets.
    for (const p of c.parts) out += p.group ? groups[g++] : comps.fill(p.tokens);
    return out;
  }
  for (const p of c.parts) out += p.group ? groups[g++] : p.text;
  return out.replace(REF, (_, ref: string) => comps.get(parseRef(ref)));
}

/** True for the characters `\s` matches in a regular expression. */
function isSpace(c: number): boolean {
  if (c === 32 || (c >= 9 && c <= 13)) return true;
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** Runs of blanks as one space, without blanks and commas at either end. */
function tidy(text: string): string {
  let collapsed = '';
  let from = 0;
  for (let i = 0; i < text.length;) {
    if (!isSpace(text.charCodeAt(i))) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < text.length && isSpace(text.charCodeAt(j))) j++;
    // One plain space stays as it is.
    if (j - i > 1 || text.charCodeAt(i) !== 32) {
      collapsed += text.slice(from, i) + ' ';
      from = j;
    }
    i = j;
  }
  if (from > 0) collapsed += text.slice(from);
  else collapsed = text;
  let a = 0;
  let b = collapsed.length;
  while (a < b && (collapsed.charCodeAt(a) === 32 || collapsed.charCodeAt(a) === 44)) a++;
  while (b > a && (collapsed.charCodeAt(b - 1) === 32 || collapsed.charCodeAt(b - 1) === 44)) b--;
  return a === 0 && b === collapsed.length ? collapsed : collapsed.slice(a, b);
}

/**
 * Text built from the components of a composite value: `{2}` is component 2, `{2.1}` its first
 * subcomponent. A part in brackets is left out when any component it names is empty, so
 * `[+{5} ]{6} {7}[ X{8}]` writes the country code and extension only when they were sent.
 * Runs of spaces collapse to one; spaces and commas at either end are trimmed; an empty result
 * is no value.
 */
export const format = defineFunction({
  name: 'format',
  summary:
    'Text from the components of a composite value: `{2}`, `{2.1}` name them; `[...]` parts are left out when a component in them is empty.',
  params: z.strictObject({ pattern: z.string().min(1) }),
  examples: [
    {
      input: '^PRN^PH^^1^555^1234567^22',
      args: { pattern: '[+{5} ]{6} {7}[ X{8}]' },
      output: '+1 555 1234567 X22',
    },
    { input: '^PRN^PH^^^555^1234567', args: { pattern: '[+{5} ]{6} {7}[ X{8}]' }, output: '555 1234567' },
    {
      input: '1234^Woolfson&van^Kathleen^^Jr',
      args: { pattern: '{3} {4} {2.1}[, {5}]' },
      output: 'Kathleen Woolfson, Jr',
    },
    {
      input: '^^^HOSP',
      args: { pattern: '[{1}][ {2}][ {3}][, {4}]' },
      output: 'HOSP',
    },
    { input: '^^^', args: { pattern: '[{1}][ {2}]' } },
  ],
  run(value, args) {
    const text = render(compile(args.pattern), value);
    const out = tidy(text);
    return out === '' ? undefined : out;
  },
});
