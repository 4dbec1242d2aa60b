import { mirthHl7Path, stringLiteral } from './hl7-path';

/** A value read from the message (`from`) or a constant text (`const`). */
export type ValueSource = { from: string; fieldOnly: boolean } | { const: string };

/** What a Mirth idiom means, in declarative terms. */
export type Idiom =
  /** `channelMap.put('name', msg[…])`, `$c('name', msg[…])`, a Mapper step: a named value. */
  | { kind: 'variable'; name: string; value: ValueSource }
  /** `tmp[…] = msg[…]`, a Message Builder step: a field of the outbound message. */
  | { kind: 'field'; target: string; value: ValueSource };

/** A Mirth value expression (`msg[…].toString()`, a string literal) when its meaning is certain. */
export function valueSource(expression: string): ValueSource | undefined {
  const literal = stringLiteral(expression);
  if (literal !== undefined) return { const: literal };
  const path = mirthHl7Path(expression);
  if (path && path.root === 'msg') return { from: path.path, fieldOnly: path.fieldOnly };
  return undefined;
}

/** Removes `//` and block comments outside string literals. */
function stripComments(script: string): string {
  let out = '';
  let i = 0;
  while (i < script.length) {
    const ch = script[i] ?? '';
    const next = script[i + 1] ?? '';
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < script.length && script[j] !== ch) j += script[j] === '\\' ? 2 : 1;
      out += script.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '/' && next === '/') {
      while (i < script.length && script[i] !== '\n') i++;
    } else if (ch === '/' && next === '*') {
      const end = script.indexOf('*/', i + 2);
      i = end < 0 ? script.length : end + 2;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** Splits on `;` and line breaks outside string literals and brackets. */
function statements(script: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < script.length; i++) {
    const ch = script[i] ?? '';
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < script.length && script[j] !== ch) j += script[j] === '\\' ? 2 : 1;
      cur += script.slice(i, j + 1);
      i = j;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    if (ch === ')' || ch === ']' || ch === '}') depth--;
    if ((ch === ';' || ch === '\n') && depth === 0) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

const PUT = /^(?:channelMap\.put|\$c)\(\s*(['"])([A-Za-z_][\w]*)\1\s*,\s*([\s\S]+)\)$/;
const ASSIGN = /^(tmp(?:\[[^\]]+\])+)\s*=\s*([\s\S]+)$/;

/** One statement as an idiom, or undefined when its meaning is not certain. */
export function statementIdiom(statement: string): Idiom | undefined {
  const put = PUT.exec(statement);
  if (put) {
    const value = valueSource(put[3] ?? '');
    return value ? { kind: 'variable', name: put[2] ?? '', value } : undefined;
  }
  const assign = ASSIGN.exec(statement);
  if (assign) {
    const target = mirthHl7Path(assign[1] ?? '');
    const value = valueSource(assign[2] ?? '');
    if (!target || target.root !== 'tmp' || target.fieldOnly || !value) return undefined;
    return { kind: 'field', target: target.path, value };
  }
  return undefined;
}

/**
 * A JavaScript step whose every statement is a known idiom, as those idioms; undefined when any
 * statement is something else (the script is then kept verbatim, nothing guessed).
 */
export function translateScript(script: string): Idiom[] | undefined {
  const list = statements(stripComments(script));
  if (list.length === 0) return [];
  const out: Idiom[] = [];
  for (const s of list) {
    const idiom = statementIdiom(s);
    if (!idiom) return undefined;
    out.push(idiom);
  }
  return out;
}

/**
 * True when a channel script does nothing: only comments, `return;` or `return message;` (the
 * bodies Mirth writes into a new channel).
 */
export function isDefaultScript(script: string | undefined): boolean {
  if (script === undefined) return true;
  const body = statements(stripComments(script));
  return body.every((s) => s === 'return' || s === 'return message');
}
