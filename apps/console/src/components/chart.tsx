import { useEffect, useId, useMemo, useRef, useState } from 'react';
import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './chart.css';
import { formatLocal } from './time';

/**
 * A time-series chart (uPlot, loaded when the first chart is shown) that a screen reader can
 * read too: the figure is an image whose label sums the data up, and the numbers are in a
 * table behind a "Show the numbers" toggle. Series differ by line style as well as colour.
 */

export type LineStyle = 'solid' | 'dashed' | 'dotted';

export interface ChartSeries {
  label: string;
  values: ReadonlyArray<number | null>;
  /** A colour with AA contrast on white. */
  colour: string;
  line?: LineStyle;
}

export interface ChartProps {
  title: string;
  /** The start of each bucket, in ms since the epoch. */
  times: readonly number[];
  series: readonly ChartSeries[];
  kind?: 'line' | 'bars';
  height?: number;
  /** What one bucket is, for the summary and the table's first column (`hour`). */
  bucket?: string;
  /** The values' unit in the summary (`messages`). */
  unit?: string;
  /** Show the table at first (tests; a page may open it). */
  tableOpen?: boolean;
  /** Whole numbers only on the value axis (counts). */
  integer?: boolean;
}

const INTEGER_STEPS = [1, 2, 5]
  .flatMap((m) => [1, 10, 100, 1000, 10_000, 100_000].map((p) => m * p))
  .sort((a, b) => a - b);

const DASH: Record<LineStyle, number[] | undefined> = { solid: undefined, dashed: [8, 4], dotted: [2, 3] };

/** `2026-12-07 09:00` in the browser's time zone. */
export function bucketLabel(ms: number): string {
  return formatLocal(new Date(ms)).slice(0, 16);
}

/** One sentence per series: its total, and its busiest bucket. */
export function summarise(
  title: string,
  times: readonly number[],
  series: readonly ChartSeries[],
  bucket = 'hour',
  unit = 'messages',
): string {
  if (times.length === 0) return `${title}: no data.`;
  const parts = series.map((s) => {
    let total = 0;
    let peak = -1;
    let at = -1;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      total += v;
      if (v > peak) {
        peak = v;
        at = i;
      }
    });
    const t = times[at];
    if (total === 0 || t === undefined) return `${s.label}: none`;
    return `${s.label}: ${total} ${unit} in all, at most ${peak} in the ${bucket} from ${bucketLabel(t)}`;
  });
  const from = bucketLabel(times[0] as number);
  const to = bucketLabel(times[times.length - 1] as number);
  return `${title}, ${times.length} ${bucket}s from ${from} to ${to}. ${parts.join('; ')}.`;
}

/** The rows of the numbers table: buckets where some series is not zero (the rest are left out). */
export function tableRows(
  times: readonly number[],
  series: readonly ChartSeries[],
): Array<{ time: number; values: Array<number | null> }> {
  const rows: Array<{ time: number; values: Array<number | null> }> = [];
  times.forEach((time, i) => {
    const values = series.map((s) => s.values[i] ?? null);
    if (values.some((v) => v !== null && v !== 0)) rows.push({ time, values });
  });
  return rows;
}

export function Chart({
  title,
  times,
  series,
  kind = 'line',
  height = 180,
  bucket = 'hour',
  unit = 'messages',
  tableOpen = false,
  integer = true,
}: ChartProps) {
  const plotRef = useRef<HTMLDivElement>(null);
  const [open, setOpen] = useState(tableOpen);
  const id = useId();
  const label = useMemo(
    () => summarise(title, times, series, bucket, unit),
    [title, times, series, bucket, unit],
  );

  useEffect(() => {
    const el = plotRef.current;
    if (!el) return;
    let cancelled = false;
    let plot: uPlot | undefined;
    let observer: ResizeObserver | undefined;
    void import('uplot').then(({ default: UPlot }) => {
      if (cancelled) return;
      const bars = kind === 'bars' ? UPlot.paths.bars?.({ size: [0.7, 40] }) : undefined;
      const axis = {
        stroke: '#57606a',
        grid: { stroke: '#eaeef2', width: 1 },
        ticks: { stroke: '#d0d7de', width: 1 },
      };
      const options: uPlot.Options = {
        width: Math.max(el.clientWidth, 200),
        height,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        // Counts: ticks on whole numbers only.
        axes: [axis, { ...axis, size: 44, ...(integer ? { incrs: INTEGER_STEPS } : {}) }],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.colour,
            width: 2,
            ...(DASH[s.line ?? 'solid'] ? { dash: DASH[s.line ?? 'solid'] } : {}),
            ...(bars ? { paths: bars, fill: `${s.colour}33` } : {}),
            points: { show: false },
          })),
        ],
      };
      const data: uPlot.AlignedData = [
        times.map((t) => t / 1000),
        ...series.map((s) => s.values.map((v) => (v === undefined ? null : v))),
      ];
      plot = new UPlot(options, data, el);
      observer = new ResizeObserver(() => {
        const width = Math.max(el.clientWidth, 200);
        if (plot && width !== plot.width) plot.setSize({ width, height });
      });
      observer.observe(el);
    });
    return () => {
      cancelled = true;
      observer?.disconnect();
      plot?.destroy();
    };
  }, [times, series, kind, height, integer]);

  const rows = open ? tableRows(times, series) : [];
  return (
    <figure className="chart" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`} className="chart-title">
        {title}
      </figcaption>
      <ul className="chart-legend">
        {series.map((s) => (
          <li key={s.label}>
            <span
              className={`chart-swatch chart-swatch-${s.line ?? 'solid'}`}
              style={{ borderTopColor: s.colour }}
              aria-hidden="true"
            />
            {s.label}
          </li>
        ))}
      </ul>
      <div className="chart-plot" role="img" aria-label={label} ref={plotRef} style={{ minHeight: height }} />
      <details
        className="chart-data"
        open={open}
        onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
      >
        <summary>Show the numbers</summary>
        {open ? (
          rows.length === 0 ? (
            <p className="muted">Every {bucket} is zero.</p>
          ) : (
            <table>
              <caption className="visually-hidden">{title}</caption>
              <thead>
                <tr>
                  <th scope="col">{bucket[0]?.toUpperCase() + bucket.slice(1)}</th>
                  {series.map((s) => (
                    <th key={s.label} scope="col" className="num">
                      {s.label}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.time}>
                    <th scope="row">
                      <time dateTime={new Date(r.time).toISOString()}>{bucketLabel(r.time)}</time>
                    </th>
                    {r.values.map((v, i) => (
                      <td key={series[i]?.label ?? i} className="num">
                        {v ?? '—'}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          )
        ) : null}
        {open && rows.length > 0 && rows.length < times.length ? (
          <p className="muted">
            {bucket[0]?.toUpperCase() + bucket.slice(1)}s where every value is zero are left out.
          </p>
        ) : null}
      </details>
    </figure>
  );
}
