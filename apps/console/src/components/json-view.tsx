import { useRef, type ReactNode } from 'react';
import './json-view.css';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON text parsed, or undefined when it is not JSON. */
export function parseJson(text: string): Json | undefined {
  const t = text.trim();
  if (!t.startsWith('{') && !t.startsWith('[')) return undefined;
  try {
    return JSON.parse(t) as Json;
  } catch {
    return undefined;
  }
}

function scalar(v: Exclude<Json, Json[] | { [k: string]: Json }>): ReactNode {
  if (v === null) return <span className="json-null">null</span>;
  if (typeof v === 'string') return <span className="json-string">{JSON.stringify(v)}</span>;
  if (typeof v === 'number') return <span className="json-number">{String(v)}</span>;
  return <span className="json-bool">{String(v)}</span>;
}

function Node({
  name,
  value,
  depth,
  last,
  openDepth,
}: {
  name?: string;
  value: Json;
  depth: number;
  last: boolean;
  openDepth: number;
}) {
  const key =
    name !== undefined ? (
      <>
        <span className="json-key">{JSON.stringify(name)}</span>
        {': '}
      </>
    ) : null;
  const comma = last ? '' : ',';
  if (value === null || typeof value !== 'object') {
    return (
      <div className="json-line">
        {key}
        {scalar(value)}
        {comma}
      </div>
    );
  }
  const isArray = Array.isArray(value);
  const entries: Array<[string | undefined, Json]> = isArray
    ? value.map((v) => [undefined, v])
    : Object.entries(value);
  const [open, close] = isArray ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0)
    return (
      <div className="json-line">
        {key}
        {open}
        {close}
        {comma}
      </div>
    );
  const count = isArray
    ? `${entries.length} item${entries.length === 1 ? '' : 's'}`
    : `${entries.length} key${entries.length === 1 ? '' : 's'}`;
  // A FHIR resource says what it is: shown on the folded line.
  const kind =
    !isArray && typeof (value as Record<string, Json>).resourceType === 'string'
      ? ` ${String((value as Record<string, Json>).resourceType)}`
      : '';
  return (
    <details className="json-node" open={depth < openDepth}>
      <summary>
        {key}
        {open}
        <span className="json-folded">
          … {close}
          {comma}{' '}
          <span className="json-count">
            ({count}
            {kind})
          </span>
        </span>
      </summary>
      <div className="json-children">
        {entries.map(([k, v], i) => (
          <Node
            key={k ?? i}
            {...(k !== undefined ? { name: k } : {})}
            value={v}
            depth={depth + 1}
            last={i === entries.length - 1}
            openDepth={openDepth}
          />
        ))}
      </div>
      <div className="json-line json-close">
        {close}
        {comma}
      </div>
    </details>
  );
}

/**
 * JSON (a FHIR resource or bundle) pretty-printed, each object and array foldable (native
 * <details>: keyboard and screen readers know it). Levels deeper than `openDepth` start folded.
 * Text that is not JSON is shown as it is.
 */
export function JsonView({
  text,
  label,
  openDepth = 4,
}: {
  text: string;
  label: string;
  openDepth?: number;
}) {
  const value = parseJson(text);
  if (value === undefined)
    return (
      <pre className="json-view" aria-label={label} tabIndex={0}>
        {text}
      </pre>
    );
  return <Foldable value={value} label={label} openDepth={openDepth} />;
}

/** How many objects and arrays a value holds (itself included). */
function containers(v: Json): number {
  if (v === null || typeof v !== 'object') return 0;
  const children: Json[] = Array.isArray(v) ? v : Object.values(v);
  return 1 + children.reduce<number>((n, c) => n + containers(c), 0);
}

function Foldable({ value, label, openDepth }: { value: Json; label: string; openDepth: number }) {
  const ref = useRef<HTMLDivElement>(null);
  const setAll = (open: boolean) =>
    ref.current?.querySelectorAll('details').forEach((d) => {
      d.open = open;
    });
  return (
    <div className="json-wrap">
      {containers(value) > 3 ? (
        <div className="json-tools">
          <button type="button" onClick={() => setAll(true)}>
            Expand all<span className="json-sr"> of {label}</span>
          </button>
          <button type="button" onClick={() => setAll(false)}>
            Collapse all<span className="json-sr"> of {label}</span>
          </button>
        </div>
      ) : null}
      <div ref={ref} className="json-view mono" role="group" aria-label={label}>
        <Node value={value} depth={0} last openDepth={openDepth} />
      </div>
    </div>
  );
}
