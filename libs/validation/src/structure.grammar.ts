/**
 * Message structures written as the standard writes them, compiled to an automaton.
 *
 * Notation: segment names in order; `[ … ]` optional; `{ … }` one or more; `[{ … }]` zero or
 * more; `< A | B >` one of the alternatives; a bracket holding several items is a group, and
 * may start with its name: `[{ PROCEDURE: PR1 [{ROL}] }]`.
 */

type Node =
  | { kind: 'segment'; name: string }
  | { kind: 'sequence'; items: Node[]; group?: string }
  | { kind: 'optional'; item: Node }
  | { kind: 'repeat'; item: Node }
  | { kind: 'choice'; options: Node[] };

/** One place a segment may stand in the structure. */
export interface Position {
  name: string;
  /** The named groups around it, outermost first (`PATIENT_RESULT`, `ORDER_OBSERVATION`). */
  groups: readonly string[];
}

/**
 * A structure compiled to a position automaton (Glushkov): position 0 is the start; `follow[p]`
 * lists the positions that may come right after `p`; `final` the positions a message may end on.
 */
export interface Grammar {
  source: string;
  positions: readonly Position[];
  follow: readonly (readonly number[])[];
  final: ReadonlySet<number>;
  /** Every segment name the structure contains. */
  names: ReadonlySet<string>;
}

/** Thrown for a structure string that is not in the notation (a bug in Sinew's data). */
export class GrammarError extends Error {
  override readonly name = 'GrammarError';
}

const TOKEN = /\s*(?:([[\]{}<>|])|([A-Z][A-Z0-9_]*):|([A-Z][A-Z0-9]{2})(?![A-Z0-9_:]))/y;

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(source);
    if (!m)
      throw new GrammarError(`cannot read the structure at ${JSON.stringify(source.slice(at, at + 12))}`);
    tokens.push(m[1] ?? (m[2] !== undefined ? `${m[2]}:` : (m[3] as string)));
  }
  return tokens;
}

function parse(source: string): Node {
  const tokens = tokenize(source);
  let i = 0;
  const closing: Record<string, string> = { '[': ']', '{': '}', '<': '>' };

  function sequence(stop: ReadonlySet<string>): Node[] {
    const items: Node[] = [];
    while (i < tokens.length && !stop.has(tokens[i] as string)) items.push(item());
    return items;
  }

  function group(close: string): Node {
    let name: string | undefined;
    if (tokens[i]?.endsWith(':')) name = (tokens[i++] as string).slice(0, -1);
    const items = sequence(new Set([close]));
    if (tokens[i++] !== close) throw new GrammarError(`missing ${close} in ${source}`);
    if (items.length === 0) throw new GrammarError(`empty brackets in ${source}`);
    return items.length === 1 && name === undefined
      ? (items[0] as Node)
      : { kind: 'sequence', items, group: name };
  }

  function item(): Node {
    const t = tokens[i++] as string;
    if (t === '[') return { kind: 'optional', item: group(']') };
    if (t === '{') return { kind: 'repeat', item: group('}') };
    if (t === '<') {
      const options: Node[] = [];
      for (;;) {
        const alt = sequence(new Set(['|', '>']));
        if (alt.length === 0) throw new GrammarError(`empty alternative in ${source}`);
        options.push(alt.length === 1 ? (alt[0] as Node) : { kind: 'sequence', items: alt });
        const sep = tokens[i++];
        if (sep === '>') break;
        if (sep !== '|') throw new GrammarError(`missing > in ${source}`);
      }
      return { kind: 'choice', options };
    }
    if (closing[t] === undefined && /^[A-Z][A-Z0-9]{2}$/.test(t)) return { kind: 'segment', name: t };
    throw new GrammarError(`unexpected ${JSON.stringify(t)} in ${source}`);
  }

  const items = sequence(new Set());
  if (i !== tokens.length || items.length === 0) throw new GrammarError(`cannot read ${source}`);
  return { kind: 'sequence', items };
}

interface Summary {
  nullable: boolean;
  first: Set<number>;
  last: Set<number>;
}

/** Parses a structure string and builds its automaton. Throws {@link GrammarError}. */
export function compileGrammar(source: string): Grammar {
  const root = parse(source);
  const positions: Position[] = [{ name: '', groups: [] }];
  const follow: Array<Set<number>> = [new Set()];
  const link = (from: Iterable<number>, to: Iterable<number>) => {
    for (const p of from) for (const q of to) (follow[p] as Set<number>).add(q);
  };

  function walk(node: Node, groups: readonly string[]): Summary {
    switch (node.kind) {
      case 'segment': {
        const id = positions.length;
        positions.push({ name: node.name, groups });
        follow.push(new Set());
        return { nullable: false, first: new Set([id]), last: new Set([id]) };
      }
      case 'optional': {
        const s = walk(node.item, groups);
        return { ...s, nullable: true };
      }
      case 'repeat': {
        const s = walk(node.item, groups);
        link(s.last, s.first);
        return s;
      }
      case 'choice': {
        const parts = node.options.map((o) => walk(o, groups));
        return {
          nullable: parts.some((p) => p.nullable),
          first: new Set(parts.flatMap((p) => [...p.first])),
          last: new Set(parts.flatMap((p) => [...p.last])),
        };
      }
      case 'sequence': {
        const inner = node.group ? [...groups, node.group] : groups;
        const parts = node.items.map((n) => walk(n, inner));
        // Each part's last positions lead to the first positions of every later part up to
        // and including the first one that cannot be skipped.
        parts.forEach((p, k) => {
          for (let j = k + 1; j < parts.length; j++) {
            const q = parts[j] as Summary;
            link(p.last, q.first);
            if (!q.nullable) break;
          }
        });
        const first = new Set<number>();
        for (const p of parts) {
          p.first.forEach((x) => first.add(x));
          if (!p.nullable) break;
        }
        const last = new Set<number>();
        for (let k = parts.length - 1; k >= 0; k--) {
          const p = parts[k] as Summary;
          p.last.forEach((x) => last.add(x));
          if (!p.nullable) break;
        }
        return { nullable: parts.every((p) => p.nullable), first, last };
      }
    }
  }

  const s = walk(root, []);
  link([0], s.first);
  const final = new Set(s.last);
  if (s.nullable) final.add(0);
  return {
    source,
    positions,
    follow: follow.map((f) => [...f].sort((a, b) => a - b)),
    final,
    names: new Set(positions.slice(1).map((p) => p.name)),
  };
}
