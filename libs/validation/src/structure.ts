import type { Hl7Message, Hl7Segment } from '@sinew/hl7v2';
import { ValidationCode, type ValidationIssue } from './issue';
import { compileGrammar, type Grammar } from './structure.grammar';
import { EVENT_STRUCTURES, REQUIRED_FIELDS, STRUCTURES } from './structure.data';

export interface StructureOptions {
  /** Check the fields the standard marks required in each segment (default true). */
  requiredFields?: boolean;
  /**
   * Judge a message only by the version MSH-12 declares (default false). By default a message
   * that breaks its declared version's structure but fits a later version's, and carries
   * segments only that later version defines, gets one `hl7.structure.version` warning.
   */
  strictVersion?: boolean;
}

/** What Sinew knows a message to be. */
export interface MessageStructureInfo {
  /** `ADT_A01`, or undefined when Sinew has no definition for the message type. */
  structure?: string;
  /** The version whose structure applies, e.g. `2.5` for a 2.5.1 message of a 2.5 layout. */
  version?: string;
  /** MSH-12 as written. */
  declaredVersion: string;
}

type Version = readonly number[];

function parseVersion(text: string): Version | undefined {
  const m = /^v?(\d+(?:\.\d+){0,3})$/i.exec(text.trim());
  return m ? (m[1] as string).split('.').map(Number) : undefined;
}

function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The entry of a versioned list that applies to `version`: the last at or below it. */
function entryFor<T>(
  entries: ReadonlyArray<readonly [string, T]>,
  version: Version,
): readonly [string, T] | undefined {
  let hit: readonly [string, T] | undefined;
  for (const e of entries) {
    if (compareVersions(parseVersion(e[0]) as Version, version) <= 0) hit = e;
  }
  return hit;
}

/** The newest version the last structure entries stand for. */
const LATEST_KNOWN = '2.9';

/** `2.5` → `v2.5`; the last entry, which stands for several versions, → `v2.6–2.9`. */
function shown(entryVersion: string): string {
  return entryVersion === '2.6' ? `v2.6–${LATEST_KNOWN}` : `v${entryVersion}`;
}

const grammars = new Map<string, Grammar>();

function grammar(source: string): Grammar {
  let g = grammars.get(source);
  if (!g) {
    g = compileGrammar(source);
    grammars.set(source, g);
  }
  return g;
}

/** The structure names Sinew defines (`ADT_A01`, `ORU_R01`, …). */
export function supportedStructures(): string[] {
  return Object.keys(STRUCTURES);
}

/** Reads MSH-9 and MSH-12 and says which structure and version definition apply. */
export function messageStructureInfo(msg: Hl7Message): MessageStructureInfo {
  const declaredVersion = msg.version;
  const named = msg.get('MSH-9.3');
  const code = msg.messageCode;
  const structure =
    named && STRUCTURES[named]
      ? named
      : code === 'ACK'
        ? 'ACK'
        : EVENT_STRUCTURES[`${code}^${msg.triggerEvent}`];
  if (!structure) return { declaredVersion };
  const entries = STRUCTURES[structure] as ReadonlyArray<readonly [string, string]>;
  const v = parseVersion(declaredVersion);
  const entry = (v && entryFor(entries, v)) ?? entries[v ? 0 : entries.length - 1];
  return { structure, version: entry?.[0], declaredVersion };
}

/** Where a segment stands, for messages: `OBX[2]` and its line. */
interface SegmentRef {
  name: string;
  occurrence: number;
  line: number;
  label: string;
}

function refs(msg: Hl7Message): SegmentRef[] {
  const seen = new Map<string, number>();
  return msg.segments.map((s: Hl7Segment, i) => {
    const n = (seen.get(s.name) ?? 0) + 1;
    seen.set(s.name, n);
    return {
      name: s.name,
      occurrence: n,
      line: s.line || i + 1,
      label: n === 1 ? s.name : `${s.name}[${n}]`,
    };
  });
}

const MAX_REPAIR = 6;

/**
 * Breadth first over the automaton from the states: the shortest chain of positions to insert
 * (segments the message lacks) until `goal` holds for the last one. Returns the chain and every
 * position at that depth meeting the goal, or undefined when none is found within
 * {@link MAX_REPAIR} insertions.
 */
function shortestInsertion(
  g: Grammar,
  states: ReadonlySet<number>,
  goal: (v: number) => boolean,
): { inserted: number[]; ends: number[] } | undefined {
  const parent = new Map<number, number | undefined>();
  let frontier: number[] = [];
  for (const p of states) {
    for (const q of g.follow[p] ?? []) {
      if (!parent.has(q)) {
        parent.set(q, undefined);
        frontier.push(q);
      }
    }
  }
  for (let depth = 1; depth <= MAX_REPAIR && frontier.length > 0; depth++) {
    const ends = frontier.filter(goal);
    if (ends.length > 0) {
      const inserted: number[] = [];
      for (let v: number | undefined = ends[0]; v !== undefined; v = parent.get(v)) inserted.unshift(v);
      return { inserted, ends };
    }
    const next: number[] = [];
    for (const v of frontier) {
      for (const q of g.follow[v] ?? []) {
        if (!parent.has(q)) {
          parent.set(q, v);
          next.push(q);
        }
      }
    }
    frontier = next;
  }
  return undefined;
}

/** The fewest segments to insert so that a segment named `name` may follow the states. */
function repair(
  g: Grammar,
  states: ReadonlySet<number>,
  name: string,
): { reached: Set<number>; inserted: number[] } | undefined {
  const found = shortestInsertion(g, states, (v) => nextOf(g, new Set([v]), name).size > 0);
  if (!found) return undefined;
  const reached = nextOf(g, new Set(found.ends), name);
  return { reached, inserted: found.inserted };
}

function nextOf(g: Grammar, states: ReadonlySet<number>, name: string): Set<number> {
  const out = new Set<number>();
  for (const p of states) for (const q of g.follow[p] ?? []) if (g.positions[q]?.name === name) out.add(q);
  return out;
}

/** True when some position named `name` can follow itself (directly or through a loop). */
function repeats(g: Grammar, name: string): boolean {
  return g.positions.some((pos, q) => {
    if (pos.name !== name) return false;
    const seen = new Set<number>();
    const stack = [...(g.follow[q] ?? [])];
    while (stack.length > 0) {
      const p = stack.pop() as number;
      if (p === q) return true;
      if (seen.has(p)) continue;
      seen.add(p);
      stack.push(...(g.follow[p] ?? []));
    }
    return false;
  });
}

function isZ(name: string): boolean {
  return name.startsWith('Z');
}

function where(g: Grammar, q: number): string {
  const groups = g.positions[q]?.groups ?? [];
  return groups.length > 0 ? ` (in ${groups[groups.length - 1]})` : '';
}

/** Matches the segments against one structure; returns the structure issues. */
function matchStructure(
  g: Grammar,
  structure: string,
  version: string,
  segs: readonly SegmentRef[],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const matchedNames = new Set<string>();
  let states = new Set<number>([0]);
  let previous: SegmentRef | undefined;
  const named = segs.filter((s) => !isZ(s.name));
  named.forEach((seg, k) => {
    if (!g.names.has(seg.name)) {
      issues.push({
        severity: 'error',
        code: ValidationCode.StructureUnexpectedSegment,
        location: seg.label,
        line: seg.line,
        message: `${seg.label} at line ${seg.line} is not part of the ${structure} structure (${version})`,
      });
      return;
    }
    const direct = nextOf(g, states, seg.name);
    if (direct.size > 0) {
      states = direct;
      matchedNames.add(seg.name);
      previous = seg;
      return;
    }
    const after = previous ? `after ${previous.label} (line ${previous.line})` : 'here';
    const fix = repair(g, states, seg.name);
    const following = named[k + 1];
    // A segment whose successor fits where it stands is out of place, not a sign that
    // segments before it are missing.
    const intruder = following !== undefined && nextOf(g, states, following.name).size > 0;
    if (fix && !intruder) {
      for (const q of fix.inserted) {
        const name = g.positions[q]?.name as string;
        issues.push({
          severity: 'error',
          code: ValidationCode.StructureMissingSegment,
          location: name,
          line: seg.line,
          message: `${name}${where(g, q)} is missing: the ${structure} structure (${version}) requires it before ${seg.label} (line ${seg.line})`,
        });
      }
      states = fix.reached;
      matchedNames.add(seg.name);
      previous = seg;
      return;
    }
    const repeated = matchedNames.has(seg.name) && !fix && !repeats(g, seg.name);
    issues.push({
      severity: 'error',
      code: repeated ? ValidationCode.StructureUnexpectedSegment : ValidationCode.StructureOrder,
      location: seg.label,
      line: seg.line,
      message: repeated
        ? `${seg.label} at line ${seg.line} is one ${seg.name} too many: the ${structure} structure (${version}) allows no ${seg.name} ${after}`
        : `${seg.label} at line ${seg.line} is out of order: the ${structure} structure (${version}) does not allow ${seg.name} ${after}`,
    });
  });
  if (![...states].some((p) => g.final.has(p))) {
    const end = shortestInsertion(g, states, (v) => g.final.has(v));
    for (const q of end?.inserted ?? []) {
      const name = g.positions[q]?.name as string;
      issues.push({
        severity: 'error',
        code: ValidationCode.StructureMissingSegment,
        location: name,
        message: `${name}${where(g, q)} is missing: the ${structure} structure (${version}) requires it${
          previous ? ` after ${previous.label} (line ${previous.line})` : ''
        }`,
      });
    }
  }
  return issues;
}

function requiredFieldIssues(
  msg: Hl7Message,
  version: Version,
  segs: readonly SegmentRef[],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  msg.segments.forEach((seg, i) => {
    const entries = REQUIRED_FIELDS[seg.name];
    const fields = entries && entryFor(entries, version)?.[1];
    if (!fields) return;
    const ref = segs[i] as SegmentRef;
    for (const f of fields) {
      const raw = seg.field(f);
      if (raw !== '' && raw !== '""') continue;
      const location = `${ref.label}-${f}`;
      issues.push({
        severity: 'error',
        code: ValidationCode.Hl7Required,
        location,
        line: ref.line,
        message:
          raw === '""' ? `${location} is required but holds the HL7 null ""` : `${location} is required`,
      });
    }
  });
  return issues;
}

/**
 * Checks a message against the abstract message syntax of its type and version: required
 * segments, their order and repetition (groups included), and the fields the standard marks
 * required. Z-segments may stand anywhere. A message type Sinew has no structure for gets a
 * `hl7.structure.unknown` warning (its fields are still checked). Never throws.
 */
export function validateStructure(msg: Hl7Message, options: StructureOptions = {}): ValidationIssue[] {
  try {
    return check(msg, options);
  } catch {
    return [
      {
        severity: 'error',
        code: ValidationCode.Internal,
        location: 'MSH',
        message: 'the structure check failed on this message',
      },
    ];
  }
}

function check(msg: Hl7Message, options: StructureOptions): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const segs = refs(msg);
  const info = messageStructureInfo(msg);
  const declared = parseVersion(info.declaredVersion);
  const fieldVersion = declared ?? (parseVersion(LATEST_KNOWN) as Version);

  if (!info.structure || !info.version) {
    const type = [msg.messageCode, msg.triggerEvent, msg.get('MSH-9.3')].filter(Boolean).join('^');
    issues.push({
      severity: 'warning',
      code: ValidationCode.StructureUnknown,
      location: 'MSH-9',
      line: segs[0]?.line,
      message: type
        ? `no structure is defined for message type ${type}: only its fields are checked`
        : 'MSH-9 is empty: the message structure cannot be checked',
    });
  } else {
    const entries = STRUCTURES[info.structure] as ReadonlyArray<readonly [string, string]>;
    const applied = entries.find((e) => e[0] === info.version) as readonly [string, string];
    const beyond = declared && compareVersions(declared, parseVersion(LATEST_KNOWN) as Version) > 0;
    if (!declared || beyond || compareVersions(declared, parseVersion(applied[0]) as Version) < 0) {
      issues.push({
        severity: 'warning',
        code: ValidationCode.StructureVersion,
        location: 'MSH-12',
        line: segs[0]?.line,
        message: declared
          ? `no ${info.structure} structure is defined for v${info.declaredVersion}: checked against ${shown(applied[0])}`
          : `MSH-12 names no HL7 version: checked against the ${shown(applied[0])} structure`,
      });
    }
    const inRange =
      declared && !beyond && compareVersions(declared, parseVersion(applied[0]) as Version) >= 0;
    const label = inRange ? `v${info.declaredVersion}` : shown(applied[0]);
    const found = matchStructure(grammar(applied[1]), info.structure, label, segs);
    const later = options.strictVersion ? undefined : laterFit(info.structure, applied, segs, found);
    if (later) {
      issues.push({
        severity: 'warning',
        code: ValidationCode.StructureVersion,
        location: 'MSH-12',
        line: segs[0]?.line,
        message: `MSH-12 says ${info.declaredVersion}, but the segments fit only the ${info.structure} structure of ${shown(later)}: checked against that`,
      });
    } else {
      issues.push(...found);
    }
  }
  if (options.requiredFields !== false) issues.push(...requiredFieldIssues(msg, fieldVersion, segs));
  return issues;
}

/**
 * A later version whose structure the message fits without issue, when it broke its own
 * version's and carries segments only the later one has (a sender labelling a v2.8 message
 * 2.5.1, say).
 */
function laterFit(
  structure: string,
  applied: readonly [string, string],
  segs: readonly SegmentRef[],
  found: readonly ValidationIssue[],
): string | undefined {
  if (found.length === 0) return undefined;
  const own = grammar(applied[1]);
  const entries = STRUCTURES[structure] as ReadonlyArray<readonly [string, string]>;
  const start = entries.indexOf(applied) + 1;
  for (const e of entries.slice(start)) {
    const g = grammar(e[1]);
    const newer = segs.some((s) => !isZ(s.name) && !own.names.has(s.name) && g.names.has(s.name));
    if (newer && matchStructure(g, structure, e[0], segs).length === 0) return e[0];
  }
  return undefined;
}
