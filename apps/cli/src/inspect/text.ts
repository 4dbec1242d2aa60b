import { PLAIN, type Style } from './style';
import type { InspectedField, InspectedMessage, InspectedSegment } from './tree';

/** Names longer than this do not widen the name column (the value follows them). */
const MAX_NAME_WIDTH = 36;

interface Row {
  depth: number;
  path: string;
  name: string;
  value: string;
}

/**
 * Shows control characters (CR and LF included) as HL7 hex escapes, `\X0A\`, so that every
 * value stays on its line and nothing in a message can drive the terminal.
 */
export function printable(value: string): string {
  return value.replace(
    /[\x00-\x1f\x7f-\x9f]/g,
    (c) => `\\X${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}\\`,
  );
}

/** `a.hl7`, or `a.hl7, message 2 of 3` when the file holds several messages. */
export function messageLocation(m: { file: string; index: number; of: number }): string {
  return printable(m.of > 1 ? `${m.file}, message ${m.index} of ${m.of}` : m.file);
}

/** `== a.hl7, message 2 of 3: ADT^A04, control id 123, version 2.5.1` */
export function messageHeading(m: InspectedMessage): string {
  const part = (v: string) => (v === '' ? '-' : printable(v));
  return `== ${messageLocation(m)}: ${part(m.type)}, control id ${part(m.controlId)}, version ${part(m.version)}`;
}

function fieldRows(f: InspectedField): Row[] {
  const rows: Row[] = [{ depth: 0, path: f.path, name: f.name ?? '', value: f.value ?? f.encoded ?? '' }];
  const reps = f.repetitions ?? [];
  // One repetition: its components sit right under the field (PID-5.1).
  const many = reps.length > 1 || reps.some((r) => r.index > 1);
  for (const r of reps) {
    const depth = many ? 1 : 0;
    if (many) rows.push({ depth, path: r.path, name: '', value: r.value ?? r.encoded ?? '' });
    for (const c of r.components ?? []) {
      rows.push({ depth: depth + 1, path: c.path, name: c.name ?? '', value: c.value ?? c.encoded ?? '' });
      for (const s of c.subcomponents ?? []) {
        rows.push({ depth: depth + 2, path: s.path, name: s.name ?? '', value: s.value });
      }
    }
  }
  return rows;
}

/** One segment: its heading, then one aligned line per element. */
export function renderSegment(seg: InspectedSegment, style: Style = PLAIN): string[] {
  const heading = seg.description ? `${seg.path}  ${seg.description}` : seg.path;
  const rows = seg.fields.flatMap(fieldRows);
  const pathWidth = Math.max(0, ...rows.map((r) => 2 * r.depth + r.path.length));
  const nameWidth = Math.min(MAX_NAME_WIDTH, Math.max(0, ...rows.map((r) => r.name.length)));
  const lines = [style.heading(heading)];
  for (const r of rows) {
    const indent = ' '.repeat(2 + 2 * r.depth);
    const path = style.path(r.path.padEnd(pathWidth - 2 * r.depth));
    const name = nameWidth > 0 ? `  ${style.name(r.name.padEnd(nameWidth))}` : '';
    lines.push(`${indent}${path}${name}  ${printable(r.value)}`);
  }
  return lines;
}

/** The readable view of one message. */
export function renderMessage(m: InspectedMessage, style: Style = PLAIN): string {
  const blocks = [
    style.heading(messageHeading(m)),
    ...m.segments.map((s) => renderSegment(s, style).join('\n')),
  ];
  return blocks.join('\n\n') + '\n';
}
