import { evalFhirPath, evalFhirPathTyped, toTypedValue, type TypedValue } from '@medplum/core';
import {
  decodeValue,
  nthPiece,
  parsePath,
  splitOn,
  type Delimiters,
  type FormattingMode,
  type Hl7Message,
  type Hl7Path,
  type Hl7Segment,
} from '@sinew/hl7v2';
import { callsResolve, FhirRun, UNRESOLVED } from './bundle-refs';
import { MappingError, MappingErrorCode } from './errors';
import { PARAM_PATH, type ParamValue } from './params';

/**
 * A place in the input a rule reads from. HL7 v2 (message, segment, field value), FHIR
 * (FHIRPath) and JSON (dotted paths) inputs all look the same to the compiled rules.
 */
export interface SourceNode {
  /** Every node `path` selects, relative to this one. */
  select(path: string): SourceNode[];
  /**
   * The same as `select(path.text)`, for a path taken apart once. The list may be shared with
   * later reads of the same path from the same node: it is never changed.
   */
  read?(path: SourcePath): readonly SourceNode[];
  /** `read(path)[0]`, without building the list. */
  readFirst?(path: SourcePath): SourceNode | undefined;
  /** `read(path)[0]?.text().trim() ?? ''`, without building nodes where the input allows. */
  readText?(path: SourcePath): string;
  /**
   * The value as text, decoded. For HL7: a field's components joined with `^` and a
   * component's subcomponents with `&` (what functions, vocabularies and conditions read:
   * `system_uri` gets the whole HD `NS&1.2.3&ISO`); formatting escapes rendered as the
   * node's reader asks ({@link Hl7SourceOptions}).
   */
  text(): string;
  /**
   * The value itself for FHIR/JSON input (objects stay objects). For HL7, what a rule writes:
   * `text()`, except that a component holding subcomponents is its first subcomponent, as
   * `Hl7Message.get` reads it (`PID-5.1` of `Smith&Booth` is `Smith`).
   */
  value(): unknown;
  /** Where this node is, for error messages: `PID-3[2]`, `Patient.name[0]`. */
  readonly where: string;
  /** HL7 only: the segments named `name` directly following this segment (NTE after OBX). */
  following?(name: string): SourceNode[];
  /** HL7 only: the segment, when this node is one. */
  readonly segment?: Hl7Segment;
}

/** The first node `path` selects from `node` (`node.select(path.text)[0]`). */
export function firstOf(node: SourceNode, path: SourcePath): SourceNode | undefined {
  if (node.readFirst) return node.readFirst(path);
  return node.read ? node.read(path)[0] : node.select(path.text)[0];
}

const SIMPLE_FHIR_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?)*$/;
const HL7_FIELD_PATH = /^([A-Z][A-Z0-9]{2})(\[(?:\d+|\*)\])?-/;
const HL7_SEGMENT_START = /^[A-Z][A-Z0-9]{2}/;
const HL7_VALUE_PATH = /^(\d+)(?:\.(\d+))?$/;

/** A component path (`1`, `4.2`) taken apart; `segment` for a path that names a segment. */
type ValuePath = { a: number; b: number | undefined } | 'segment' | null;

/** The segment name a field path (`OBX-5`, `OBX[2]-5`) names, and whether it gave an occurrence. */
type FieldPath = { name: string; occurrence: boolean } | null;

const interned = new Map<string, SourcePath>();

/**
 * A `from` or condition path, taken apart once (when a transformer is compiled) and read many
 * times. Each way of reading it (an HL7 path, a component path) is worked out on first use;
 * whether the path can be read where it stands is checked when the transformer is compiled
 * (scope.ts).
 */
export class SourcePath {
  private hl7Path: Hl7Path | null | undefined;
  private valuePathParsed: ValuePath | undefined;
  private fieldPathParsed: FieldPath | undefined;
  /** The parameter a `%name` path reads (`event`), null for other paths. */
  readonly param: string | null;

  private constructor(readonly text: string) {
    this.param = PARAM_PATH.exec(text)?.[1] ?? null;
  }

  /** The one `SourcePath` for `text`: nodes cache what they read by path. */
  static of(text: string): SourcePath {
    let p = interned.get(text);
    if (p === undefined) {
      p = new SourcePath(text);
      if (interned.size < 10_000) interned.set(text, p);
    }
    return p;
  }

  /** The path as an HL7 path (`PID-3[2].1`); throws Hl7ParseError when it is not one. */
  hl7(): Hl7Path {
    if (this.hl7Path === undefined) {
      try {
        this.hl7Path = parsePath(this.text);
      } catch {
        this.hl7Path = null;
      }
    }
    return this.hl7Path ?? parsePath(this.text);
  }

  /** `{ a, b }` for `a` / `a.b`, `segment` for a path starting with a segment name, else null. */
  valuePath(): ValuePath {
    if (this.valuePathParsed === undefined) {
      if (HL7_SEGMENT_START.test(this.text)) this.valuePathParsed = 'segment';
      else {
        const m = HL7_VALUE_PATH.exec(this.text);
        this.valuePathParsed = m
          ? { a: Number(m[1]), b: m[2] === undefined ? undefined : Number(m[2]) }
          : null;
      }
    }
    return this.valuePathParsed;
  }

  /** The segment a field path (`OBX-5`, `OBX[2]-5`) starts with, or null. */
  fieldPath(): FieldPath {
    if (this.fieldPathParsed === undefined) {
      const m = HL7_FIELD_PATH.exec(this.text);
      this.fieldPathParsed = m ? { name: m[1] as string, occurrence: m[2] !== undefined } : null;
    }
    return this.fieldPathParsed;
  }
}

const NONE: readonly SourceNode[] = Object.freeze([]);

/** An absent, empty or blank piece, or an HL7 null (`""`): it selects nothing. */
function isEmpty(piece: string | undefined): piece is undefined | '' {
  if (piece === undefined || piece === '') return true;
  // Only a piece that starts or ends with a blank can trim to nothing or to `""`.
  const first = piece.charCodeAt(0);
  const last = piece.charCodeAt(piece.length - 1);
  if (first > 32 && last > 32 && first !== 0xa0 && last !== 0xa0 && first < 0x1680 && last < 0x1680) {
    return piece === '""';
  }
  const t = piece.trim();
  return t === '' || t === '""';
}

/** `text` without the characters `code` it ends with. */
function trimEnd(text: string, code: number): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === code) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** What an HL7 value node holds: a whole repetition, one component, or one subcomponent. */
const enum Level {
  Repetition,
  Component,
  Subcomponent,
}

/** How HL7 values are read as text. */
export interface Hl7SourceOptions {
  /**
   * `text` (default): formatting escapes are rendered for a reader, `\.br\` as a line break
   * (what FHIR strings and JSON values need); `keep`: they stay as written, so that a map
   * writing HL7 v2 writes them back unchanged.
   */
  formatting?: FormattingMode;
  /** The map's parameters, read by `%name` paths. */
  params?: Readonly<Record<string, ParamValue>>;
}

/** A map parameter's value (`%event`), read like a field value. */
class ParamNode implements SourceNode {
  constructor(
    private readonly v: ParamValue,
    readonly where: string,
  ) {}
  select(path: string): SourceNode[] {
    return path === '.' ? [this] : [];
  }
  text(): string {
    return String(this.v);
  }
  value(): unknown {
    return this.v;
  }
}

/** The node for parameter `name` of `params`, in a list; empty when it has no value. */
function paramNodes(
  params: Readonly<Record<string, ParamValue>> | undefined,
  name: string,
): readonly SourceNode[] {
  const v =
    params !== undefined && Object.prototype.hasOwnProperty.call(params, name) ? params[name] : undefined;
  return v === undefined ? NONE : [new ParamNode(v, `%${name}`)];
}

/**
 * What the nodes of one message share while a transformer runs on it: the segment nodes (one
 * per segment), each segment's occurrence number, and what message-level paths selected.
 */
class Hl7Doc {
  readonly d: Delimiters;
  private readonly formatting: FormattingMode;
  private readonly params: Readonly<Record<string, ParamValue>> | undefined;
  private nodes: Array<Hl7SegmentNode | undefined> = [];
  private occurrences: number[] | undefined;
  private byName: Map<string, number[]> | undefined;
  private readonly namedNodes = new Map<string, Hl7SegmentNode[]>();
  private readonly selected = new Map<SourcePath, readonly SourceNode[]>();
  /** Texts of composite repetitions, by their encoded text. */
  private readonly composites = new Map<string, string>();

  constructor(
    readonly msg: Hl7Message,
    options: Hl7SourceOptions = {},
  ) {
    this.d = msg.delimiters;
    this.formatting = options.formatting ?? 'text';
    this.params = options.params;
  }

  /** One atomic value decoded with the message's delimiters and character set. */
  private decode(raw: string): string {
    return decodeValue(raw, this.d, this.msg.encoding, this.formatting);
  }

  private index(): void {
    const occ: number[] = [];
    const byName = new Map<string, number[]>();
    const segs = this.msg.segments;
    for (let i = 0; i < segs.length; i++) {
      const name = (segs[i] as Hl7Segment).name;
      let list = byName.get(name);
      if (list === undefined) byName.set(name, (list = []));
      list.push(i);
      occ.push(list.length);
    }
    this.occurrences = occ;
    this.byName = byName;
  }

  /** Positions of the segments named `name`, in order. */
  positions(name: string): readonly number[] {
    if (this.byName === undefined) this.index();
    return (this.byName as Map<string, number[]>).get(name) ?? [];
  }

  /** The node of the segment at position `i`. */
  node(i: number): Hl7SegmentNode {
    let n = this.nodes[i];
    if (n === undefined) {
      if (this.occurrences === undefined) this.index();
      const occ = (this.occurrences as number[])[i] as number;
      n = new Hl7SegmentNode(this.msg, this.msg.segments[i] as Hl7Segment, occ, i, this);
      this.nodes[i] = n;
    }
    return n;
  }

  /** The nodes of every segment named `name`, in order. */
  named(name: string): Hl7SegmentNode[] {
    let list = this.namedNodes.get(name);
    if (list === undefined) {
      list = this.positions(name).map((i) => this.node(i));
      this.namedNodes.set(name, list);
    }
    return list;
  }

  /** What a message-level path (`PID-3`, `OBX[2]-5`, `OBX[*]-5`) selects; read once per message. */
  select(path: SourcePath): readonly SourceNode[] {
    const hit = this.selected.get(path);
    if (hit !== undefined) return hit;
    if (path.param !== null) return paramNodes(this.params, path.param);
    const p = path.hl7();
    const positions = this.positions(p.segment);
    let out: readonly SourceNode[] = NONE;
    if (p.occurrence === '*') {
      const all: SourceNode[] = [];
      for (const i of positions) {
        const node = this.node(i);
        if (p.field === undefined) all.push(node);
        else all.push(...selectInSegment(this, p, node));
      }
      out = all;
    } else {
      const i = positions[p.occurrence - 1];
      if (i !== undefined) {
        const node = this.node(i);
        out = p.field === undefined ? [node] : selectInSegment(this, p, node);
      }
    }
    this.selected.set(path, out);
    return out;
  }

  /**
   * The text of encoded piece `raw` at `level`: decoded; a repetition's components joined with
   * `^` and a component's subcomponents with `&`, without trailing empty ones.
   */
  text(raw: string, level: Level): string {
    if (raw === '""') return '';
    const d = this.d;
    if (level === Level.Repetition && raw.includes(d.component)) {
      // Rules often read the same composite value (OBX-6 for each of the limits and the value).
      let text = this.composites.get(raw);
      if (text === undefined) {
        const parts = raw.split(d.component);
        for (let i = 0; i < parts.length; i++) parts[i] = this.joinSubs(parts[i] as string);
        text = trimEnd(parts.join('^'), 94 /* ^ */);
        this.composites.set(raw, text);
      }
      return text;
    }
    if (level !== Level.Subcomponent) return this.joinSubs(raw);
    return this.decode(raw);
  }

  /** A component's value: its first subcomponent, decoded (as `Hl7Message.get` reads it). */
  firstSub(raw: string): string {
    if (raw === '""') return '';
    const sub = this.d.subcomponent;
    const at = sub === undefined ? -1 : raw.indexOf(sub);
    return this.decode(at < 0 ? raw : raw.slice(0, at));
  }

  private joinSubs(raw: string): string {
    const sub = this.d.subcomponent;
    if (sub === undefined || !raw.includes(sub)) return this.decode(raw);
    const parts = raw.split(sub);
    for (let i = 0; i < parts.length; i++) parts[i] = this.decode(parts[i] as string);
    return trimEnd(parts.join('&'), 38 /* & */);
  }
}

const componentPathError = (path: SourcePath) =>
  new MappingError(MappingErrorCode.Schema, `${JSON.stringify(path.text)} is not a component path (1, 4.2)`);

/**
 * One repetition, component or subcomponent of an HL7 field. Component paths (`1`, `4.2`) read
 * inside it; segment paths (`OBX-2`, `PID-3`) read from the segment it belongs to, as they do
 * there, so rules about one OBX-5 repetition can look at OBX-2 and OBX-6.
 */
class Hl7ValueNode implements SourceNode {
  private whereText: string | undefined;
  private textValue: string | undefined;
  /** A repetition's components, split on the first component read. */
  private comps: string[] | undefined;

  /**
   * @param field the field number; `rep`, `comp` and `sub` the indices shown in `where`
   *   (`undefined` when not shown)
   */
  constructor(
    private readonly doc: Hl7Doc,
    private readonly raw: string,
    private readonly level: Level,
    private readonly owner: Hl7SegmentNode,
    private readonly field: number,
    private readonly rep: number | undefined,
    private readonly comp: number | undefined,
    private readonly sub: number | undefined,
  ) {}

  get where(): string {
    if (this.whereText === undefined) {
      let w = `${this.owner.where}-${this.field}`;
      if (this.rep !== undefined) w += `[${this.rep}]`;
      if (this.comp !== undefined) w += `.${this.comp}`;
      if (this.sub !== undefined) w += `.${this.sub}`;
      this.whereText = w;
    }
    return this.whereText;
  }

  select(path: string): SourceNode[] {
    return [...this.read(SourcePath.of(path))];
  }

  read(path: SourcePath): readonly SourceNode[] {
    if (path.param !== null) return this.owner.read(path);
    if (path.text !== '.' && path.valuePath() === 'segment') return this.owner.read(path);
    const node = this.readFirst(path);
    return node === undefined ? NONE : [node];
  }

  readFirst(path: SourcePath): SourceNode | undefined {
    if (path.text === '.') return this;
    if (path.param !== null) return this.owner.readFirst(path);
    const parsed = path.valuePath();
    if (parsed === 'segment') return this.owner.readFirst(path);
    if (parsed === null) throw componentPathError(path);
    if (this.level === Level.Subcomponent) return undefined;
    const { a, b } = parsed;
    const d = this.doc.d;
    if (this.level === Level.Component) {
      if (b !== undefined) return undefined;
      const sub = nthPiece(this.raw, d.subcomponent, a);
      return isEmpty(sub) ? undefined : this.child(sub, Level.Subcomponent, this.comp, a);
    }
    const comp = this.component(a);
    if (isEmpty(comp)) return undefined;
    if (b === undefined) return this.child(comp, Level.Component, a, undefined);
    const sub = nthPiece(comp, d.subcomponent, b);
    return isEmpty(sub) ? undefined : this.child(sub, Level.Subcomponent, a, b);
  }

  readText(path: SourcePath): string {
    if (path.text === '.') return this.text().trim();
    if (path.param !== null) return this.owner.readText(path);
    const parsed = path.valuePath();
    if (parsed === 'segment') return this.owner.readText(path);
    if (parsed === null) throw componentPathError(path);
    if (this.level === Level.Subcomponent) return '';
    const { a, b } = parsed;
    const d = this.doc.d;
    if (this.level === Level.Component) {
      if (b !== undefined) return '';
      const sub = nthPiece(this.raw, d.subcomponent, a);
      return isEmpty(sub) ? '' : this.doc.text(sub, Level.Subcomponent).trim();
    }
    const comp = this.component(a);
    if (isEmpty(comp)) return '';
    if (b === undefined) return this.doc.text(comp, Level.Component).trim();
    const sub = nthPiece(comp, d.subcomponent, b);
    return isEmpty(sub) ? '' : this.doc.text(sub, Level.Subcomponent).trim();
  }

  /** Component `a` of a repetition (`nthPiece` on the component separator). */
  private component(a: number): string | undefined {
    if (a < 1) return nthPiece(this.raw, this.doc.d.component, a);
    return (this.comps ??= this.raw.split(this.doc.d.component))[a - 1];
  }

  private child(raw: string, level: Level, comp: number | undefined, sub: number | undefined): Hl7ValueNode {
    return new Hl7ValueNode(this.doc, raw, level, this.owner, this.field, this.rep, comp, sub);
  }

  text(): string {
    if (this.textValue === undefined) this.textValue = this.doc.text(this.raw, this.level);
    return this.textValue;
  }

  value(): unknown {
    if (this.level === Level.Component) {
      const sub = this.doc.d.subcomponent;
      if (sub !== undefined && this.raw.includes(sub)) return this.doc.firstSub(this.raw);
    }
    return this.text();
  }
}

const levelOf = (p: Hl7Path): Level =>
  p.component === undefined
    ? Level.Repetition
    : p.subcomponent === undefined
      ? Level.Component
      : Level.Subcomponent;

/** The piece of repetition `raw` that `p` names (a component, a subcomponent); undefined when empty. */
function narrow(doc: Hl7Doc, raw: string, p: Hl7Path): string | undefined {
  if (p.component === undefined) return raw;
  const comp = nthPiece(raw, doc.d.component, p.component);
  if (isEmpty(comp)) return undefined;
  if (p.subcomponent === undefined) return comp;
  const sub = nthPiece(comp, doc.d.subcomponent, p.subcomponent);
  return isEmpty(sub) ? undefined : sub;
}

/** The node for repetition `raw` (number `rep` as shown in `where`) narrowed to `p`. */
function pick(
  doc: Hl7Doc,
  raw: string,
  owner: Hl7SegmentNode,
  p: Hl7Path,
  rep: number | undefined,
): Hl7ValueNode | undefined {
  const piece = narrow(doc, raw, p);
  if (piece === undefined) return undefined;
  return new Hl7ValueNode(doc, piece, levelOf(p), owner, p.field as number, rep, p.component, p.subcomponent);
}

/** Reads `SEG-f[r].c.s` from a segment: every repetition for `[*]`, else the one named. */
function selectInSegment(doc: Hl7Doc, p: Hl7Path, owner: Hl7SegmentNode): readonly SourceNode[] {
  if (p.repetition !== '*') {
    const node = firstInSegment(doc, p, owner);
    return node === undefined ? NONE : [node];
  }
  const field = p.field === undefined ? undefined : owner.segment.fields()[p.field];
  if (field === undefined || field === '') return NONE;
  const sep = doc.d.repetition;
  if ((owner.segment.isHeader && (p.field as number) <= 2) || !field.includes(sep)) {
    const node = firstInSegment(doc, p, owner);
    return node === undefined ? NONE : [node];
  }
  const reps = splitOn(field, sep);
  const out: SourceNode[] = [];
  for (let r = 0; r < reps.length; r++) {
    const rep = reps[r];
    if (isEmpty(rep)) continue;
    const node = pick(doc, rep, owner, p, r + 1);
    if (node !== undefined) out.push(node);
  }
  return out;
}

/** The first node `SEG-f[r].c.s` selects in a segment (the first one with a value for `[*]`). */
function firstInSegment(doc: Hl7Doc, p: Hl7Path, owner: Hl7SegmentNode): Hl7ValueNode | undefined {
  if (p.field === undefined) return undefined;
  const seg = owner.segment;
  const field = seg.fields()[p.field];
  if (field === undefined || field === '') return undefined;
  if (seg.isHeader && p.field <= 2) {
    return new Hl7ValueNode(doc, field, Level.Subcomponent, owner, p.field, undefined, undefined, undefined);
  }
  const sep = doc.d.repetition;
  if (p.repetition !== '*') {
    const rep = nthPiece(field, sep, p.repetition);
    return isEmpty(rep) ? undefined : pick(doc, rep, owner, p, p.repetitionGiven ? p.repetition : undefined);
  }
  let start = 0;
  for (let r = 1; ; r++) {
    const end = field.indexOf(sep, start);
    const rep = end < 0 ? field.slice(start) : field.slice(start, end);
    if (!isEmpty(rep)) {
      const node = pick(doc, rep, owner, p, r);
      if (node !== undefined) return node;
    }
    if (end < 0) return undefined;
    start = end + 1;
  }
}

/** The trimmed text of the first node `SEG-f[r].c.s` selects in a segment, or `''`. */
function textInSegment(doc: Hl7Doc, p: Hl7Path, seg: Hl7Segment): string {
  if (p.field === undefined) return '';
  const field = seg.fields()[p.field];
  if (field === undefined || field === '') return '';
  if (seg.isHeader && p.field <= 2) return doc.text(field, Level.Subcomponent).trim();
  const sep = doc.d.repetition;
  if (p.repetition !== '*') {
    const rep = nthPiece(field, sep, p.repetition);
    if (isEmpty(rep)) return '';
    const piece = narrow(doc, rep, p);
    return piece === undefined ? '' : doc.text(piece, levelOf(p)).trim();
  }
  let start = 0;
  for (;;) {
    const end = field.indexOf(sep, start);
    const rep = end < 0 ? field.slice(start) : field.slice(start, end);
    if (!isEmpty(rep)) {
      const piece = narrow(doc, rep, p);
      if (piece !== undefined) return doc.text(piece, levelOf(p)).trim();
    }
    if (end < 0) return '';
    start = end + 1;
  }
}

/**
 * Segments that v2.5+ message structures place between a segment and its notes (OBX, {PRT},
 * {NTE}; SCH, [TQ1], [NTE]): `following` looks past them.
 */
const SATELLITES = new Set(['PRT', 'TQ1', 'TQ2']);

/** How many texts a segment node keeps (see `readText`). */
const TEXTS_KEPT = 6;

/** A segment of a message; paths naming another segment read from the whole message. */
export class Hl7SegmentNode implements SourceNode {
  readonly where: string;
  private readonly doc: Hl7Doc;
  private self: readonly SourceNode[] | undefined;
  /** The last texts `readText` gave, by path (a few, replaced in turn). */
  private textKeys: SourcePath[] | undefined;
  private texts: string[] | undefined;
  private nextText = 0;

  constructor(
    msg: Hl7Message,
    readonly segment: Hl7Segment,
    occurrence: number,
    /** Position of the segment in the message. */
    readonly index: number,
    doc?: Hl7Doc,
  ) {
    this.doc = doc ?? new Hl7Doc(msg);
    this.where = occurrence > 1 ? `${segment.name}[${occurrence}]` : segment.name;
  }

  /** True when `path` reads a field of this segment (`OBX-5` in an OBX, not `OBX[2]-5`). */
  private own(path: SourcePath): boolean {
    const m = path.fieldPath();
    return m !== null && m.name === this.segment.name && !m.occurrence;
  }

  select(path: string): SourceNode[] {
    return [...this.read(SourcePath.of(path))];
  }

  read(path: SourcePath): readonly SourceNode[] {
    // The segment's own name is the segment itself, as its own fields are (`NTE` in an NTE).
    if (path.text === this.segment.name) return (this.self ??= [this]);
    if (this.own(path)) return selectInSegment(this.doc, path.hl7(), this);
    return this.doc.select(path);
  }

  readFirst(path: SourcePath): SourceNode | undefined {
    if (path.text === this.segment.name) return this;
    if (this.own(path)) return firstInSegment(this.doc, path.hl7(), this);
    return this.doc.select(path)[0];
  }

  readText(path: SourcePath): string {
    if (path.text === this.segment.name) return '';
    // Conditions read the same few fields again and again (OBX-2 in each rule of a value map).
    const keys = (this.textKeys ??= []);
    const at = keys.indexOf(path);
    if (at >= 0) return (this.texts as string[])[at] as string;
    let text: string;
    if (this.own(path)) text = textInSegment(this.doc, path.hl7(), this.segment);
    else {
      const node = this.doc.select(path)[0];
      text = node === undefined ? '' : node.text().trim();
    }
    const texts = (this.texts ??= []);
    const slot = keys.length < TEXTS_KEPT ? keys.length : this.nextText++ % TEXTS_KEPT;
    keys[slot] = path;
    texts[slot] = text;
    return text;
  }

  following(name: string): SourceNode[] {
    const out: SourceNode[] = [];
    const segs = this.doc.msg.segments;
    for (let i = this.index + 1; i < segs.length; i++) {
      const seg = segs[i] as Hl7Segment;
      if (seg.name === name) out.push(this.doc.node(i));
      else if (!SATELLITES.has(seg.name)) break;
    }
    return out;
  }

  text(): string {
    return '';
  }
  value(): unknown {
    return undefined;
  }
}

/** The whole message: paths are absolute (`PID-3`, `OBX[2]-5`, `OBX[*]-5`). */
export class Hl7MessageNode implements SourceNode {
  readonly where = 'message';
  private readonly doc: Hl7Doc;
  constructor(
    readonly msg: Hl7Message,
    options: Hl7SourceOptions = {},
  ) {
    this.doc = new Hl7Doc(msg, options);
  }

  select(path: string): SourceNode[] {
    return [...this.doc.select(SourcePath.of(path))];
  }

  read(path: SourcePath): readonly SourceNode[] {
    return this.doc.select(path);
  }

  /** Every segment named `name`, as nodes (for `each:`). */
  segments(name: string): Hl7SegmentNode[] {
    return [...this.doc.named(name)];
  }

  text(): string {
    return '';
  }
  value(): unknown {
    return undefined;
  }
}

/**
 * FHIR input: paths are FHIRPath expressions. `%name` reads the map's parameter `name`, and
 * `resolve()` steps follow References to the resources of the input Bundle (bundle-refs.ts).
 */
export class FhirNode implements SourceNode {
  constructor(
    private readonly data: unknown,
    readonly where: string,
    /** What the nodes of one run share; a node made on its own indexes its own data. */
    private run?: FhirRun,
  ) {}

  select(path: string): SourceNode[] {
    if (path === '.' || path === '$this') return [this];
    const param = PARAM_PATH.exec(path)?.[1];
    if (param !== undefined) {
      const v = this.run?.params[param];
      return v === undefined ? [] : [new FhirNode(v, path, this.run)];
    }
    if (callsResolve(path)) {
      const run = (this.run ??= new FhirRun(this.data));
      return run.withReferences(() => this.selectPlain(path));
    }
    return this.selectPlain(path);
  }

  private selectPlain(path: string): FhirNode[] {
    const prefix = this.where === '$' ? '' : `${this.where}.`;
    if (SIMPLE_FHIR_PATH.test(path))
      return this.walk(path).map(([v, w]) => new FhirNode(v, prefix + w, this.run));
    let results: unknown[];
    try {
      results = this.evaluate(path);
    } catch (err) {
      throw new MappingError(
        MappingErrorCode.Schema,
        `FHIRPath ${JSON.stringify(path)} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return results
      .filter((r) => r !== undefined && r !== null && r !== '' && r !== UNRESOLVED)
      .map((r, i) => {
        const type = r && typeof r === 'object' && 'resourceType' in r ? String(r.resourceType) : undefined;
        const index = results.length > 1 ? `[${i}]` : '';
        return new FhirNode(r, type ? `${type}${index}` : `${prefix}${path}${index}`, this.run);
      });
  }

  /**
   * The values of a FHIRPath expression, with the map's parameters as `%name` variables and the
   * whole input as `%rootResource`.
   */
  private evaluate(path: string): unknown[] {
    const run = this.run;
    if (run === undefined || !path.includes('%')) return evalFhirPath(path, this.data);
    const variables: Record<string, TypedValue> = { '%rootResource': toTypedValue(run.input) };
    for (const [name, v] of Object.entries(run.params)) variables[`%${name}`] = toTypedValue(v);
    const input = Array.isArray(this.data) ? this.data : [this.data];
    return evalFhirPathTyped(path, input.map(toTypedValue), variables).map((t) => t.value as unknown);
  }

  /**
   * Plain element paths (`name[0].given`, `type.coding.code`) are walked directly, with
   * FHIRPath's flattening of lists: FHIRPath on an element without its type is unreliable.
   */
  private walk(path: string): Array<[unknown, string]> {
    let current: Array<[unknown, string]> = [[this.data, '']];
    for (const step of path.split('.')) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$/.exec(step) as RegExpExecArray;
      const key = m[1] as string;
      const index = m[2] === undefined ? undefined : Number(m[2]);
      const next: Array<[unknown, string]> = [];
      for (const [v, w] of current) {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
        const child = (v as Record<string, unknown>)[key];
        const name = w ? `${w}.${key}` : key;
        if (Array.isArray(child)) {
          child.forEach((c, i) => {
            if (index === undefined || index === i) next.push([c, `${name}[${i}]`]);
          });
        } else if (child !== undefined && index === undefined) next.push([child, name]);
        else if (child !== undefined && index === 0) next.push([child, name]);
      }
      current = next;
    }
    return current.filter(([v]) => v !== undefined && v !== null && v !== '');
  }

  text(): string {
    const v = this.data;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return '';
  }

  value(): unknown {
    return this.data;
  }
}

/** JSON input: dotted paths with `[n]` and `[*]` (`appointment.slots[*].start`). */
export class JsonNode implements SourceNode {
  constructor(
    private readonly data: unknown,
    readonly where: string,
    /** The map's parameters, read by `%name` paths. */
    private readonly params?: Readonly<Record<string, ParamValue>>,
  ) {}

  select(path: string): SourceNode[] {
    if (path === '.' || path === '$') return [this];
    const param = PARAM_PATH.exec(path)?.[1];
    if (param !== undefined) return [...paramNodes(this.params, param)];
    const steps = path.replace(/^\$\.?/, '').split('.');
    let current: Array<[unknown, string]> = [[this.data, this.where]];
    for (const step of steps) {
      const m = /^([^[\]]+)((?:\[(?:\d+|\*)\])*)$/.exec(step);
      if (!m)
        throw new MappingError(
          MappingErrorCode.Schema,
          `${JSON.stringify(path)} is not a JSON path (a.b[0].c)`,
        );
      const next: Array<[unknown, string]> = [];
      for (const [v, w] of current) {
        if (v === null || typeof v !== 'object') continue;
        let items: Array<[unknown, string]> = [
          [(v as Record<string, unknown>)[m[1] as string], `${w}.${m[1]}`],
        ];
        for (const idx of (m[2] ?? '').match(/\[(\d+|\*)\]/g) ?? []) {
          const i = idx.slice(1, -1);
          items = items.flatMap(([x, xw]) => {
            if (!Array.isArray(x)) return [];
            if (i === '*') return x.map((e, k) => [e, `${xw}[${k}]`] as [unknown, string]);
            return [[x[Number(i)], `${xw}[${i}]`] as [unknown, string]];
          });
        }
        next.push(...items);
      }
      current = next;
    }
    return current
      .filter(([v]) => v !== undefined && v !== null && v !== '')
      .map(([v, w]) => new JsonNode(v, w, this.params));
  }

  text(): string {
    const v = this.data;
    return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  }

  value(): unknown {
    return this.data;
  }
}
