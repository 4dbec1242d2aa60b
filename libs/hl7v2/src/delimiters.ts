import { Hl7ErrorCode, Hl7ParseError } from './errors';

/**
 * The delimiters of one message, read from MSH-1 and MSH-2 (or FHS/BHS). `subcomponent` and
 * `truncation` may be absent: some senders use only three encoding characters, and the
 * truncation character exists from v2.7 on.
 */
export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent?: string;
  truncation?: string;
}

export const DEFAULT_DELIMITERS: Readonly<Required<Omit<Delimiters, 'truncation'>>> = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
});

/** Letters, digits, CR, LF and space cannot be delimiters. */
function forbidden(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return (
    c === 32 || c === 13 || c === 10 || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
  );
}

/** The roles of MSH-2's characters, in order. */
const ROLES: ReadonlyArray<keyof Delimiters> = [
  'component',
  'repetition',
  'escape',
  'subcomponent',
  'truncation',
];

/** MSH-2 as it is written for these delimiters. */
export function encodingCharacters(d: Delimiters): string {
  return (
    d.component +
    d.repetition +
    d.escape +
    (d.subcomponent ?? '') +
    (d.subcomponent ? (d.truncation ?? '') : '')
  );
}

/**
 * Reads delimiters from a header segment's text (`MSH|^~\&|...`). Duplicated characters are
 * refused for the field, component, repetition and escape roles; a subcomponent or truncation
 * character that repeats an earlier delimiter is ignored (some senders write `^~\\&`).
 */
export function readDelimiters(header: string, line = 1): Delimiters {
  const segment = header.slice(0, 3);
  const fail = (msg: string): never => {
    throw new Hl7ParseError(Hl7ErrorCode.Delimiters, msg, { line, segment, field: 2 });
  };
  const field = header[3];
  if (field === undefined) fail(`${segment} has no field separator (MSH-1)`);
  const fs = field as string;
  if (forbidden(fs)) fail(`field separator ${JSON.stringify(fs)} is not allowed`);
  let end = header.indexOf(fs, 4);
  if (end < 0) end = header.length;
  const enc = header.slice(4, end);
  if (enc.length < 3) fail(`${segment}-2 must hold at least 3 encoding characters, found ${enc.length}`);
  if (enc.length > 5) fail(`${segment}-2 holds ${enc.length} characters; at most 5 are defined`);
  let seen = fs;
  const d: Partial<Delimiters> = { field: fs };
  for (let i = 0; i < enc.length; i++) {
    const ch = enc[i] as string;
    const role = ROLES[i] as keyof Delimiters;
    if (forbidden(ch)) fail(`${role} character ${JSON.stringify(ch)} is not allowed`);
    if (seen.includes(ch)) {
      if (i < 3) fail(`${role} character ${JSON.stringify(ch)} repeats another delimiter`);
      continue;
    }
    seen += ch;
    d[role] = ch;
  }
  return d as Delimiters;
}
