import { XMLParser, XMLValidator } from 'fast-xml-parser';
import * as iconv from 'iconv-lite';
import { MappingError, MappingErrorCode } from './errors';
import type { SourceNode } from './source';

/** Why an `xml` message cannot be read; `line` and `column` (1-based) say where. Never quotes the data. */
export class XmlPayloadError extends Error {
  override readonly name = 'XmlPayloadError';
  constructor(
    readonly code: string,
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${message}`);
  }
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  // Values stay text, as HL7 values do: `00123` is not the number 123.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // The parser expands no entity: the five XML ones and character references are decoded
  // below, entities a DOCTYPE declares stay as written, and external ones are refused.
  processEntities: false,
  htmlEntities: false,
  tagValueProcessor: (_name: string, value: string) => decodeXmlText(value),
  attributeValueProcessor: (_name: string, value: string) => decodeXmlText(value),
  ignoreDeclaration: true,
  ignorePiTags: true,
});

/**
 * An `xml` message as a JSON tree: each element is a key holding its text (an element with
 * text only), or an object of its attributes (`@_name`), its child elements and its text
 * (`#text`); an element that repeats is an array in document order. Every value is text.
 * Entities are not expanded (safe against XXE and "billion laughs"). Throws
 * {@link XmlPayloadError} for a document that is not well-formed, with its line and column.
 */
export function readXmlPayload(body: Buffer | string): Record<string, unknown> {
  const text = (typeof body === 'string' ? body : decodeXml(body)).replace(/^\uFEFF/, '');
  const checked = XMLValidator.validate(text);
  if (checked !== true) {
    const e = checked.err;
    throw new XmlPayloadError(`xml.${e.code.toLowerCase()}`, xmlReason(e.code), e.line, e.col);
  }
  try {
    return parser.parse(text) as Record<string, unknown>;
  } catch (err) {
    // The parser refuses what the validator lets through: external entities, bad DOCTYPEs.
    const msg = err instanceof Error ? err.message : String(err);
    const where = /line:?\s*(\d+)/i.exec(msg);
    throw new XmlPayloadError(
      /external entit/i.test(msg) ? 'xml.external_entity' : 'xml.doctype',
      /external entit/i.test(msg)
        ? 'external entities (<!ENTITY … SYSTEM/PUBLIC …>) are refused'
        : 'the document type declaration cannot be read',
      where ? Number(where[1]) : 1,
      1,
    );
  }
}

/**
 * The document's text: in the encoding its XML declaration names (`<?xml version="1.0"
 * encoding="ISO-8859-1"?>`), UTF-8 when it names none. An encoding nobody knows is refused.
 */
function decodeXml(body: Buffer): string {
  const head = body.subarray(0, 200).toString('latin1');
  const declared = /^(?:\uFEFF|\xEF\xBB\xBF)?<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(
    head,
  )?.[1];
  if (!declared || /^utf-?8$/i.test(declared)) return body.toString('utf8');
  if (!iconv.encodingExists(declared))
    throw new XmlPayloadError('xml.encoding', 'the encoding the XML declaration names is not known', 1, 1);
  return iconv.decode(body, declared);
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * Decodes the five predefined entities and character references (`&#233;`, `&#xE9;`); any
 * other entity reference is left as written (never expanded).
 */
export function decodeXmlText(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return PREDEFINED[ref] ?? whole;
  });
}

function xmlReason(code: string): string {
  switch (code) {
    case 'InvalidTag':
      return 'an element is not closed, or closed by another tag';
    case 'InvalidAttr':
      return 'an attribute is not well-formed';
    case 'InvalidChar':
      return 'a character that cannot appear here';
    case 'InvalidXml':
      return 'the document is not well-formed XML';
    default:
      return `the document is not well-formed XML (${code})`;
  }
}

/** The name of the document's root element (the message type of an `xml` message). */
export function xmlRootName(tree: Record<string, unknown>): string | undefined {
  return Object.keys(tree).find((k) => !k.startsWith('?') && !k.startsWith('#'));
}

const XML_STEP = /^([^[\]]+)(?:\[(\d+|\*)\])?$/;

/**
 * A place in an XML message's tree, read by dotted paths as JSON is (`Order.Patient.@_id`,
 * `Order.Item[0].#text`), with one difference that makes repeated elements easy to read: a step
 * selects every element of that name, one node each, whether it appears once or several times;
 * `[n]` picks the n-th (from 0) and `[*]` every one. An element's text is its `#text` when it
 * also has attributes or children.
 */
export class XmlNode implements SourceNode {
  constructor(
    private readonly data: unknown,
    readonly where: string,
  ) {}

  select(path: string): SourceNode[] {
    if (path === '.' || path === '$') return [this];
    let current: XmlNode[] = [this];
    for (const step of path.replace(/^\$\.?/, '').split('.')) {
      const m = XML_STEP.exec(step);
      if (!m)
        throw new MappingError(
          MappingErrorCode.Schema,
          `${JSON.stringify(path)} is not an XML path (a.b[0].@_id)`,
        );
      const name = m[1] as string;
      const index = m[2];
      current = current.flatMap((node) => {
        const v = node.data;
        if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
        const child = (v as Record<string, unknown>)[name];
        if (child === undefined) return [];
        const all = (Array.isArray(child) ? child : [child]).map(
          (c, k) => new XmlNode(c, `${node.where}.${name}[${k}]`),
        );
        if (index === undefined || index === '*') return all;
        const one = all[Number(index)];
        return one ? [one] : [];
      });
    }
    return current.filter((n) => n.data !== undefined && n.data !== null && n.data !== '');
  }

  text(): string {
    const v = this.data;
    if (typeof v === 'string') return v;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const t = (v as Record<string, unknown>)['#text'];
      return typeof t === 'string' ? t : '';
    }
    return '';
  }

  /** An element with text only is its text; one with attributes or children, its object. */
  value(): unknown {
    return this.data;
  }
}
