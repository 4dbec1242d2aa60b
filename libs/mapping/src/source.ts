import { evalFhirPath } from '@medplum/core';
import { nthPiece, parsePath, splitOn, type Hl7Message, type Hl7Segment } from '@sinew/hl7v2';
import { MappingError, MappingErrorCode } from './errors';

/**
 * A place in the input a rule reads from. HL7 v2 (message, segment, field value), FHIR
 * (FHIRPath) and JSON (dotted paths) inputs all look the same to the compiled rules.
 */
export interface SourceNode {
  /** Every node `path` selects, relative to this one. */
  select(path: string): SourceNode[];
  /** The value as text: decoded; a composite HL7 value has its components joined with `^`. */
  text(): string;
  /** The value itself for FHIR/JSON input (objects stay objects); `text()` for HL7. */
  value(): unknown;
  /** Where this node is, for error messages: `PID-3[2]`, `Patient.name[0]`. */
  readonly where: string;
  /** HL7 only: the segments named `name` directly following this segment (NTE after OBX). */
  following?(name: string): SourceNode[];
  /** HL7 only: the segment, when this node is one. */
  readonly segment?: Hl7Segment;
}

const SIMPLE_FHIR_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?)*$/;
const HL7_FIELD_PATH = /^([A-Z][A-Z0-9]{2})(\[(?:\d+|\*)\])?-/;
const HL7_VALUE_PATH = /^(\d+)(?:\.(\d+))?$/;

type Level = 'repetition' | 'component' | 'subcomponent';

/** A component path (`1`, `4.2`) taken apart once; `segment` for a path that names a segment. */
type ValuePath = { a: number; b: number | undefined } | 'segment' | undefined;
const valuePaths = new Map<string, ValuePath>();

function valuePath(path: string): ValuePath {
  let hit = valuePaths.get(path);
  if (hit === undefined && !valuePaths.has(path)) {
    if (/^[A-Z][A-Z0-9]{2}/.test(path)) hit = 'segment';
    else {
      const m = HL7_VALUE_PATH.exec(path);
      hit = m ? { a: Number(m[1]), b: m[2] === undefined ? undefined : Number(m[2]) } : undefined;
    }
    if (valuePaths.size < 10_000) valuePaths.set(path, hit);
  }
  return hit;
}

/** The segment name a field path (`OBX-5`, `OBX[2]-5`) names, and whether it gave an occurrence. */
const fieldPaths = new Map<string, { name: string; occurrence: boolean } | null>();

function fieldPath(path: string): { name: string; occurrence: boolean } | null {
  let hit = fieldPaths.get(path);
  if (hit === undefined) {
    const m = HL7_FIELD_PATH.exec(path);
    hit = m ? { name: m[1] as string, occurrence: m[2] !== undefined } : null;
    if (fieldPaths.size < 10_000) fieldPaths.set(path, hit);
  }
  return hit;
}

/** An absent, empty or blank piece, or an HL7 null (`""`): it selects nothing. */
const isEmpty = (piece: string | undefined): piece is undefined | '' =>
  piece === undefined || piece.trim() === '' || piece.trim() === '""';

/**
 * One repetition, component or subcomponent of an HL7 field. Component paths (`1`, `4.2`) read
 * inside it; segment paths (`OBX-2`, `PID-3`) read from the segment it belongs to, as they do
 * there, so rules about one OBX-5 repetition can look at OBX-2 and OBX-6.
 */
class Hl7ValueNode implements SourceNode {
  constructor(
    private readonly msg: Hl7Message,
    private readonly raw: string,
    private readonly level: Level,
    readonly where: string,
    private readonly owner?: SourceNode,
  ) {}

  select(path: string): SourceNode[] {
    if (path === '.') return [this];
    const parsed = valuePath(path);
    if (parsed === 'segment' && this.owner) return this.owner.select(path);
    if (parsed === undefined || parsed === 'segment') {
      throw new MappingError(
        MappingErrorCode.Schema,
        `${JSON.stringify(path)} is not a component path (1, 4.2)`,
      );
    }
    const d = this.msg.delimiters;
    const { a, b } = parsed;
    if (this.level === 'subcomponent') return [];
    if (this.level === 'component') {
      if (b !== undefined) return [];
      const sub = nthPiece(this.raw, d.subcomponent, a);
      return isEmpty(sub)
        ? []
        : [new Hl7ValueNode(this.msg, sub, 'subcomponent', `${this.where}.${a}`, this.owner)];
    }
    const comp = nthPiece(this.raw, d.component, a);
    if (isEmpty(comp)) return [];
    if (b === undefined)
      return [new Hl7ValueNode(this.msg, comp, 'component', `${this.where}.${a}`, this.owner)];
    const sub = nthPiece(comp, d.subcomponent, b);
    return isEmpty(sub)
      ? []
      : [new Hl7ValueNode(this.msg, sub, 'subcomponent', `${this.where}.${a}.${b}`, this.owner)];
  }

  text(): string {
    const d = this.msg.delimiters;
    if (this.raw === '""') return '';
    if (this.level === 'repetition' && this.raw.includes(d.component)) {
      return this.raw
        .split(d.component)
        .map((c) => this.joinSubs(c))
        .join('^')
        .replace(/\^+$/, '');
    }
    if (this.level !== 'subcomponent') return this.joinSubs(this.raw);
    return this.msg.decode(this.raw);
  }

  private joinSubs(raw: string): string {
    const sub = this.msg.delimiters.subcomponent;
    if (sub === undefined || !raw.includes(sub)) return this.msg.decode(raw);
    return raw
      .split(sub)
      .map((s) => this.msg.decode(s))
      .join('&')
      .replace(/&+$/, '');
  }

  value(): unknown {
    return this.text();
  }
}

/** Reads `SEG-f[r].c.s` from a segment: every repetition for `[*]`, else the one named. */
function selectInSegment(
  msg: Hl7Message,
  seg: Hl7Segment,
  occurrence: number,
  path: string,
  owner: SourceNode,
): SourceNode[] {
  const p = parsePath(path);
  if (p.field === undefined) return [];
  const label = `${seg.name}${occurrence > 1 ? `[${occurrence}]` : ''}-${p.field}`;
  const field = seg.fields()[p.field];
  if (field === undefined || field === '') return [];
  if (seg.isHeader && p.field <= 2) return [new Hl7ValueNode(msg, field, 'subcomponent', label, owner)];
  let picked: Array<[string, number]>;
  if (p.repetition === '*') picked = splitOn(field, msg.delimiters.repetition).map((r, i) => [r, i + 1]);
  else {
    const rep = nthPiece(field, msg.delimiters.repetition, p.repetition);
    picked = rep === undefined ? [] : [[rep, p.repetition]];
  }
  const out: SourceNode[] = [];
  for (const [rep, r] of picked) {
    if (isEmpty(rep)) continue;
    const where = p.repetition === '*' || p.repetitionGiven ? `${label}[${r}]` : label;
    let node: SourceNode = new Hl7ValueNode(msg, rep, 'repetition', where, owner);
    if (p.component !== undefined) {
      const sel = node.select(
        p.subcomponent === undefined ? `${p.component}` : `${p.component}.${p.subcomponent}`,
      );
      if (!sel[0]) continue;
      node = sel[0];
    }
    out.push(node);
  }
  return out;
}

/**
 * Segments that v2.5+ message structures place between a segment and its notes (OBX, {PRT},
 * {NTE}; SCH, [TQ1], [NTE]): `following` looks past them.
 */
const SATELLITES = new Set(['PRT', 'TQ1', 'TQ2']);

/** A segment of a message; paths naming another segment read from the whole message. */
export class Hl7SegmentNode implements SourceNode {
  readonly where: string;
  constructor(
    private readonly msg: Hl7Message,
    readonly segment: Hl7Segment,
    private readonly occurrence: number,
    /** Position of the segment in the message. */
    readonly index: number,
  ) {
    this.where = `${segment.name}${occurrence > 1 ? `[${occurrence}]` : ''}`;
  }

  select(path: string): SourceNode[] {
    // The segment's own name is the segment itself, as its own fields are (`NTE` in an NTE).
    if (path === this.segment.name) return [this];
    const m = fieldPath(path);
    if (m && m.name === this.segment.name && !m.occurrence) {
      return selectInSegment(this.msg, this.segment, this.occurrence, path, this);
    }
    return new Hl7MessageNode(this.msg).select(path);
  }

  following(name: string): SourceNode[] {
    const out: SourceNode[] = [];
    const segs = this.msg.segments;
    let occ = segs.slice(0, this.index + 1).filter((s) => s.name === name).length;
    for (let i = this.index + 1; i < segs.length; i++) {
      const seg = segs[i] as Hl7Segment;
      if (seg.name === name) out.push(new Hl7SegmentNode(this.msg, seg, ++occ, i));
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
  constructor(readonly msg: Hl7Message) {}

  select(path: string): SourceNode[] {
    const p = parsePath(path);
    const segs = this.msg.segments;
    const out: SourceNode[] = [];
    // The same path without its occurrence, read in each segment that matches.
    const inSegment = path.replace(/^[A-Z][A-Z0-9]{2}(\[(?:\d+|\*)\])?/, p.segment);
    let occ = 0;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i] as Hl7Segment;
      if (s.name !== p.segment) continue;
      occ++;
      if (p.occurrence !== '*' && p.occurrence !== occ) continue;
      const node = new Hl7SegmentNode(this.msg, s, occ, i);
      if (p.field === undefined) out.push(node);
      else out.push(...selectInSegment(this.msg, s, occ, inSegment, node));
      if (p.occurrence !== '*') break;
    }
    return out;
  }

  /** Every segment named `name`, as nodes (for `each:`). */
  segments(name: string): Hl7SegmentNode[] {
    const out: Hl7SegmentNode[] = [];
    let occ = 0;
    this.msg.segments.forEach((s, i) => {
      if (s.name === name) out.push(new Hl7SegmentNode(this.msg, s, ++occ, i));
    });
    return out;
  }

  text(): string {
    return '';
  }
  value(): unknown {
    return undefined;
  }
}

/** FHIR input: paths are FHIRPath expressions. */
export class FhirNode implements SourceNode {
  constructor(
    private readonly data: unknown,
    readonly where: string,
  ) {}

  select(path: string): SourceNode[] {
    if (path === '.' || path === '$this') return [this];
    const prefix = this.where === '$' ? '' : `${this.where}.`;
    if (SIMPLE_FHIR_PATH.test(path)) return this.walk(path).map(([v, w]) => new FhirNode(v, prefix + w));
    let results: unknown[];
    try {
      results = evalFhirPath(path, this.data);
    } catch (err) {
      throw new MappingError(
        MappingErrorCode.Schema,
        `FHIRPath ${JSON.stringify(path)} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return results
      .filter((r) => r !== undefined && r !== null && r !== '')
      .map((r, i) => {
        const type = r && typeof r === 'object' && 'resourceType' in r ? String(r.resourceType) : undefined;
        const index = results.length > 1 ? `[${i}]` : '';
        return new FhirNode(r, type ? `${type}${index}` : `${prefix}${path}${index}`);
      });
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
  ) {}

  select(path: string): SourceNode[] {
    if (path === '.' || path === '$') return [this];
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
      .map(([v, w]) => new JsonNode(v, w));
  }

  text(): string {
    const v = this.data;
    return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  }

  value(): unknown {
    return this.data;
  }
}
