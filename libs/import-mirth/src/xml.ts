import { XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * A parsed XML element: child elements by tag name (a list when the tag repeats), attributes as
 * `@_name`, text as `#text`. An empty element (`<elements/>`) is the empty string.
 */
export type XmlValue = string | XmlNode | XmlValue[];
export interface XmlNode {
  [name: string]: XmlValue;
}

/** A file the importer cannot read as a Mirth export; the message names the file and the cause. */
export class MirthImportError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'MirthImportError';
  }
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  // Mirth exports declare no DTD; entity expansion stays limited to the XML built-ins.
  ignoreDeclaration: true,
});

/** Parses one file's text; malformed XML is a MirthImportError naming the line and column. */
export function parseXml(file: string, text: string): XmlNode {
  if (text.trim() === '') throw new MirthImportError(file, 'the file is empty');
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const { line, col, msg } = valid.err;
    const at = typeof col === 'number' ? `line ${line}, column ${col}` : `line ${line}`;
    throw new MirthImportError(file, `not well-formed XML at ${at}: ${msg}`);
  }
  const parsed: unknown = parser.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new MirthImportError(file, 'the file holds no XML element');
  }
  return parsed as XmlNode;
}

function isNode(v: XmlValue | undefined): v is XmlNode {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

/** Every element of a tag under `node` (none, one or several), empty ones as `{}`. */
export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  if (!node) return [];
  const v = node[name];
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((item) => (isNode(item) ? item : typeof item === 'string' ? { '#text': item } : {}));
}

/** The first element of a tag under `node`. */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return children(node, name)[0];
}

/** The text of the first element of a tag under `node` (undefined when it is absent). */
export function text(node: XmlNode | undefined, name: string): string | undefined {
  if (!node) return undefined;
  const v = node[name];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined) return undefined;
  if (typeof first === 'string') return first;
  if (isNode(first)) {
    const t = first['#text'];
    return typeof t === 'string' ? t : '';
  }
  return undefined;
}

/** `text` as a boolean (`true`), undefined when absent. */
export function flag(node: XmlNode | undefined, name: string): boolean | undefined {
  const t = text(node, name);
  return t === undefined ? undefined : t.trim() === 'true';
}

/** `text` as a whole number, undefined when absent or not a number. */
export function int(node: XmlNode | undefined, name: string): number | undefined {
  const t = text(node, name)?.trim();
  if (t === undefined || !/^-?\d+$/.test(t)) return undefined;
  return Number(t);
}

/** An attribute of an element. */
export function attr(node: XmlNode | undefined, name: string): string | undefined {
  const v = node?.[`@_${name}`];
  return typeof v === 'string' ? v : undefined;
}

/** The `<string>` texts of a list element (`<values><string>…</string></values>`). */
export function strings(node: XmlNode | undefined, name: string): string[] {
  return children(child(node, name), 'string').map((s) => text({ s }, 's') ?? '');
}

/**
 * The elements under `node` in document order for list elements whose items have different tags
 * (a transformer's `<elements>`): each with its tag, ordered by its `sequenceNumber` when present.
 */
export function mixedChildren(node: XmlNode | undefined): Array<{ tag: string; node: XmlNode }> {
  if (!node) return [];
  const out: Array<{ tag: string; node: XmlNode; seq: number; index: number }> = [];
  for (const tag of Object.keys(node)) {
    if (tag.startsWith('@_') || tag === '#text') continue;
    for (const n of children(node, tag)) {
      out.push({ tag, node: n, seq: int(n, 'sequenceNumber') ?? Number.MAX_SAFE_INTEGER, index: out.length });
    }
  }
  return out.sort((a, b) => a.seq - b.seq || a.index - b.index).map(({ tag, node: n }) => ({ tag, node: n }));
}

/** The entries of a Mirth map (`<entry><string>key</string><X>value</X></entry>`). */
export function mapEntries(node: XmlNode | undefined): Array<{ key: string; value: XmlNode }> {
  return children(node, 'entry').map((e) => {
    const keys = children(e, 'string');
    const key = text({ k: keys[0] ?? {} }, 'k') ?? '';
    const rest: XmlNode = {};
    for (const [k, v] of Object.entries(e)) if (k !== 'string') rest[k] = v;
    if (keys.length > 1) rest.string = keys[1] ?? '';
    return { key, value: rest };
  });
}
