import { useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { positionPath, splitMessage, type Hl7Segment } from '../lib/hl7';
import { namesAt, segmentName } from '../lib/hl7-names';
import './hl7-view.css';

/** One value one can point at: a field, a component or a subcomponent, with its names. */
export interface Hl7Leaf {
  path: string;
  /** The most specific name known (`Family name`), or undefined for positions not in the table. */
  name?: string;
  /** The names along the path (`PID-5 Patient name (XPN)`, `PID-5.1 Family name (FN)`). */
  trail: string[];
  value: string;
  segment: number;
}

interface Piece {
  kind: 'sep' | 'leaf' | 'name';
  text: string;
  leaf?: number;
  title?: string;
}

/** The leaves and separators of a message, in order, per segment. */
export function layoutMessage(text: string): { lines: Piece[][]; leaves: Hl7Leaf[] } {
  const { delimiters: d, segments } = splitMessage(text);
  const leaves: Hl7Leaf[] = [];
  const lines = segments.map((seg, s) => layoutSegment(seg, s, d, leaves));
  return { lines, leaves };
}

function layoutSegment(
  seg: Hl7Segment,
  s: number,
  d: { field: string; component: string; repetition: string; subcomponent: string },
  leaves: Hl7Leaf[],
): Piece[] {
  const line: Piece[] = [];
  const segName = segmentName(seg.name);
  line.push({ kind: 'name', text: seg.name, title: segName ? `${seg.name} ${segName}` : seg.name });
  const isHeader = seg.name === 'MSH' || seg.name === 'BHS' || seg.name === 'FHS';
  // OBX-5's type is OBX-2's value.
  const valueType = seg.name === 'OBX' ? seg.fields[1]?.raw : undefined;
  const add = (
    value: string,
    field: number,
    opts: { repetition?: number; component?: number; subcomponent?: number },
  ) => {
    const path = positionPath(seg.name, field, opts);
    const n = namesAt(seg.name, field, opts.component, opts.subcomponent, valueType);
    const fieldPath = positionPath(seg.name, field, { repetition: opts.repetition });
    const trail: string[] = [];
    if (n.field) trail.push(`${fieldPath} ${n.field.name} (${n.field.type})`);
    if (n.component && opts.component !== undefined)
      trail.push(`${fieldPath}.${opts.component} ${n.component.name} (${n.component.type})`);
    if (n.subcomponent) trail.push(`${path} ${n.subcomponent.name} (${n.subcomponent.type})`);
    const name =
      opts.subcomponent !== undefined
        ? n.subcomponent?.name
        : opts.component !== undefined
          ? n.component?.name
          : n.field?.name;
    const leaf: Hl7Leaf = { path, trail, value, segment: s, ...(name ? { name } : {}) };
    leaves.push(leaf);
    line.push({ kind: 'leaf', text: value, leaf: leaves.length - 1, title: name ? `${path} ${name}` : path });
  };
  for (const f of seg.fields) {
    // MSH-1 is the separator itself, and MSH-2 follows it: no separator is written before either.
    if (!(isHeader && f.number <= 2)) line.push({ kind: 'sep', text: d.field });
    if (isHeader && (f.number === 1 || f.number === 2)) {
      add(f.raw, f.number, {});
      continue;
    }
    f.repetitions.forEach((rep, r) => {
      if (r > 0) line.push({ kind: 'sep', text: d.repetition });
      const repetition = f.repetitions.length > 1 ? rep.number : undefined;
      const split = rep.components.length > 1;
      rep.components.forEach((comp, c) => {
        if (c > 0) line.push({ kind: 'sep', text: d.component });
        const subs = comp.subcomponents.length > 1;
        comp.subcomponents.forEach((sub, k) => {
          if (k > 0) line.push({ kind: 'sep', text: d.subcomponent });
          if (sub === '') return;
          const opts = {
            ...(repetition !== undefined ? { repetition } : {}),
            ...(split || subs ? { component: comp.number } : {}),
            ...(subs ? { subcomponent: k + 1 } : {}),
          };
          add(sub, f.number, opts);
        });
      });
    });
  }
  return line;
}

/**
 * A raw HL7 v2 message with every value named: hovering or focusing a value shows its path and
 * name (`PID-5.1 Family name`) in its title and in the panel above. One tab stop: the arrow
 * keys move between values (Left/Right), segments (Up/Down), Home/End to the ends.
 */
export function Hl7View({ text, label = 'HL7 v2 message' }: { text: string; label?: string }) {
  const { lines, leaves } = useMemo(() => layoutMessage(text), [text]);
  const [active, setActive] = useState(0);
  const [shown, setShown] = useState<number | undefined>(undefined);
  const refs = useRef(new Map<number, HTMLSpanElement>());

  const focusLeaf = (i: number) => {
    if (i < 0 || i >= leaves.length) return;
    setActive(i);
    setShown(i);
    refs.current.get(i)?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const cur = leaves[active];
    if (!cur) return;
    let next: number | undefined;
    if (e.key === 'ArrowRight') next = active + 1;
    else if (e.key === 'ArrowLeft') next = active - 1;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = leaves.length - 1;
    else if (e.key === 'ArrowDown') next = leaves.findIndex((l) => l.segment > cur.segment);
    else if (e.key === 'ArrowUp') {
      const prevSeg = [...leaves].reverse().find((l) => l.segment < cur.segment)?.segment;
      next = prevSeg === undefined ? -1 : leaves.findIndex((l) => l.segment === prevSeg);
    }
    if (next === undefined) return;
    e.preventDefault();
    if (next >= 0) focusLeaf(Math.min(next, leaves.length - 1));
  };

  const detail = shown !== undefined ? leaves[shown] : undefined;
  let panel: ReactNode;
  if (detail) {
    panel = (
      <>
        <strong className="hl7-panel-path">{detail.path}</strong>{' '}
        <span className="hl7-panel-name">{detail.name ?? '(not in the field-name table)'}</span>
        {detail.trail.length > 1 ? (
          <span className="hl7-panel-trail muted"> · {detail.trail.join(' › ')}</span>
        ) : null}
      </>
    );
  } else {
    panel = <span className="muted">Point at or focus a value to see its path and name.</span>;
  }

  return (
    <div className="hl7">
      <div className="hl7-panel" aria-live="polite">
        {panel}
      </div>
      <div className="hl7-view mono" role="group" aria-label={label} onKeyDown={onKeyDown}>
        {lines.map((line, s) => (
          <div className="hl7-seg" key={s}>
            {line.map((p, k) => {
              if (p.kind === 'sep')
                return (
                  <span key={k} className="hl7-sep">
                    {p.text}
                  </span>
                );
              if (p.kind === 'name')
                return (
                  <span key={k} className="hl7-seg-name" title={p.title}>
                    {p.text}
                  </span>
                );
              const i = p.leaf as number;
              return (
                <span
                  key={k}
                  ref={(el) => {
                    if (el) refs.current.set(i, el);
                    else refs.current.delete(i);
                  }}
                  className={shown === i ? 'hl7-leaf hl7-shown' : 'hl7-leaf'}
                  tabIndex={i === active ? 0 : -1}
                  title={p.title}
                  data-path={leaves[i]?.path}
                  onMouseEnter={() => setShown(i)}
                  onFocus={() => {
                    setActive(i);
                    setShown(i);
                  }}
                >
                  {p.text}
                </span>
              );
            })}
          </div>
        ))}
      </div>
    </div>
  );
}
