import { splitOn, type Hl7Message, type Hl7Segment } from '@sinew/hl7v2';
import { componentDefinition, fieldDefinition, segmentDescription } from '@sinew/hl7v2';

/**
 * A message broken down as `sinew inspect` shows it. Every element keeps its 1-based `index`
 * and its `path` in the standard's notation (what `--get` takes). Empty elements are left
 * out. An element holds either `value` (decoded) or the list of its parts; `encoded` is its
 * text as the message writes it, for the readable view (not part of the JSON output).
 */
export interface InspectedMessage {
  file: string;
  /** 1-based position of the message in its file. */
  index: number;
  /** Number of messages in the file. */
  of: number;
  type: string;
  controlId: string;
  version: string;
  segments: InspectedSegment[];
}

export interface InspectedSegment {
  name: string;
  /** 1-based occurrence among the message's segments of this name. */
  occurrence: number;
  /** `PID`, or `OBX[2]` when the message holds several segments of the name. */
  path: string;
  description?: string;
  fields: InspectedField[];
}

export interface InspectedLeaf {
  index: number;
  path: string;
  name?: string;
  value: string;
}

export interface InspectedComponent {
  index: number;
  path: string;
  name?: string;
  value?: string;
  encoded?: string;
  subcomponents?: InspectedLeaf[];
}

export interface InspectedRepetition {
  index: number;
  path: string;
  value?: string;
  encoded?: string;
  components?: InspectedComponent[];
}

export interface InspectedField {
  index: number;
  path: string;
  name?: string;
  value?: string;
  encoded?: string;
  repetitions?: InspectedRepetition[];
}

/** `{ index, path, name }`, without `name` when the dictionary has none. */
function base(
  index: number,
  path: string,
  name: string | undefined,
): { index: number; path: string; name?: string } {
  return name === undefined ? { index, path } : { index, path, name };
}

/** Fields whose data type another field of the segment gives: OBX-5 takes OBX-2's. */
const TYPE_GIVEN_BY: Readonly<Record<string, Readonly<Record<number, number>>>> = { OBX: { 5: 2 } };

function fieldType(msg: Hl7Message, seg: Hl7Segment, field: number): string | undefined {
  const from = TYPE_GIVEN_BY[seg.name]?.[field];
  const given =
    from === undefined ? '' : msg.decode(splitOn(seg.field(from), msg.delimiters.component)[0] ?? '');
  return given || fieldDefinition(seg.name, field)?.type;
}

function inspectComponent(
  msg: Hl7Message,
  text: string,
  index: number,
  path: string,
  type: string | undefined,
): InspectedComponent | undefined {
  const def = type ? componentDefinition(type, index) : undefined;
  const subs = splitOn(text, msg.delimiters.subcomponent);
  if (subs.length === 1) {
    return text === '' ? undefined : { ...base(index, path, def?.name), value: msg.decode(text) };
  }
  const subcomponents: InspectedLeaf[] = [];
  subs.forEach((s, i) => {
    if (s === '') return;
    const name = def ? componentDefinition(def.type, i + 1)?.name : undefined;
    subcomponents.push({ ...base(i + 1, `${path}.${i + 1}`, name), value: msg.decode(s) });
  });
  if (subcomponents.length === 0) return undefined;
  return { ...base(index, path, def?.name), encoded: text, subcomponents };
}

function inspectRepetition(
  msg: Hl7Message,
  text: string,
  index: number,
  path: string,
  type: string | undefined,
): InspectedRepetition | undefined {
  const d = msg.delimiters;
  const comps = text.split(d.component);
  if (comps.length === 1 && (d.subcomponent === undefined || !text.includes(d.subcomponent))) {
    return text === '' ? undefined : { index, path, value: msg.decode(text) };
  }
  const components: InspectedComponent[] = [];
  comps.forEach((c, i) => {
    const node = inspectComponent(msg, c, i + 1, `${path}.${i + 1}`, type);
    if (node) components.push(node);
  });
  return components.length === 0 ? undefined : { index, path, encoded: text, components };
}

function inspectField(
  msg: Hl7Message,
  seg: Hl7Segment,
  segPath: string,
  index: number,
): InspectedField | undefined {
  const raw = seg.field(index);
  if (raw === '') return undefined;
  const path = `${segPath}-${index}`;
  const head = base(index, path, fieldDefinition(seg.name, index)?.name);
  // MSH-1 and MSH-2 (FHS, BHS too) are the delimiters themselves.
  if (seg.isHeader && index <= 2) return { ...head, value: raw };
  const reps = raw.split(msg.delimiters.repetition);
  const type = fieldType(msg, seg, index);
  if (reps.length === 1) {
    const only = inspectRepetition(msg, raw, 1, path, type);
    if (!only) return undefined;
    if (only.value !== undefined) return { ...head, value: only.value };
    return { ...head, encoded: raw, repetitions: [only] };
  }
  const repetitions: InspectedRepetition[] = [];
  reps.forEach((r, i) => {
    const node = inspectRepetition(msg, r, i + 1, `${path}[${i + 1}]`, type);
    if (node) repetitions.push(node);
  });
  return repetitions.length === 0 ? undefined : { ...head, encoded: raw, repetitions };
}

/** Breaks a message down to its decoded values, with the dictionary's names. */
export function inspectMessage(
  msg: Hl7Message,
  where: { file: string; index: number; of: number },
): InspectedMessage {
  const counts = new Map<string, number>();
  for (const s of msg.segments) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
  const seen = new Map<string, number>();
  const segments = msg.segments.map((seg): InspectedSegment => {
    const occurrence = (seen.get(seg.name) ?? 0) + 1;
    seen.set(seg.name, occurrence);
    const path = (counts.get(seg.name) ?? 0) > 1 ? `${seg.name}[${occurrence}]` : seg.name;
    const fields: InspectedField[] = [];
    for (let n = 1; n <= seg.fieldCount; n++) {
      const f = inspectField(msg, seg, path, n);
      if (f) fields.push(f);
    }
    const description = segmentDescription(seg.name);
    return description
      ? { name: seg.name, occurrence, path, description, fields }
      : { name: seg.name, occurrence, path, fields };
  });
  return {
    ...where,
    type: msg.messageType,
    controlId: msg.controlId,
    version: msg.version,
    segments,
  };
}
