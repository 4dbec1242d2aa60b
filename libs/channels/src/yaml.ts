import {
  isCollection,
  isMap,
  isNode,
  isScalar,
  LineCounter,
  parseDocument,
  visit,
  type Document,
} from 'yaml';

export interface Position {
  line: number;
  column: number;
}

/** A YAML document as read, with the positions of its keys and values. */
export interface YamlFile {
  doc: Document;
  /** Parse errors, each with its position. */
  errors: Array<Position & { message: string }>;
  /** The value node at `path`, or its nearest parent. */
  valueAt(path: ReadonlyArray<string | number>): Position;
  /** The key at the end of `path` (for an unknown key), else the value's position. */
  keyAt(path: ReadonlyArray<string | number>): Position;
}

export function readYaml(text: string): YamlFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number): Position => {
    const { line, col } = lc.linePos(offset);
    return { line, column: col };
  };
  const valueAt = (path: ReadonlyArray<string | number>): Position => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return pos(node.range[0]);
    }
    return { line: 1, column: 1 };
  };
  const keyAt = (path: ReadonlyArray<string | number>): Position => {
    const parent = path.length ? doc.getIn(path.slice(0, -1), true) : undefined;
    const last = path[path.length - 1];
    if (isMap(parent)) {
      for (const item of parent.items) {
        const key = item.key;
        if (isScalar(key) && String(key.value) === String(last) && key.range) return pos(key.range[0]);
      }
    }
    return valueAt(path);
  };
  /** A flow collection (`{ … }`, `[ … ]`) left open: the parser notices it where the next key starts. */
  const unclosedFlow = (offset: number): (Position & { message: string }) | undefined => {
    let found: (Position & { message: string }) | undefined;
    visit(doc, (_key, node) => {
      if (isCollection(node) && node.flow && node.range && node.range[1] === offset) {
        const close = isMap(node) ? '}' : ']';
        found = {
          ...pos(node.range[0]),
          message: `this flow ${isMap(node) ? 'mapping' : 'sequence'} is not closed: end it with ${close}`,
        };
      }
    });
    return found;
  };
  return {
    doc,
    errors: doc.errors.map(
      (e) =>
        (e.code === 'BAD_INDENT' ? unclosedFlow(e.pos[0]) : undefined) ?? {
          ...pos(e.pos[0]),
          message: e.message.split('\n')[0] ?? 'unreadable',
        },
    ),
    valueAt,
    keyAt,
  };
}
