import { useEffect, useRef, type KeyboardEvent, type ReactNode } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import './virtual-table.css';

export interface Column<T> {
  /** Stable id of the column. */
  id: string;
  header: string;
  cell: (row: T) => ReactNode;
  /** A CSS grid track: `10rem`, `minmax(8rem, 1fr)`. */
  width?: string;
  /** Right-aligned numbers. */
  numeric?: boolean;
}

/**
 * A long list as a table whose rows are rendered only when scrolled into view. Real table
 * semantics for assistive technology (role table/row/columnheader/cell with aria-rowcount and
 * aria-rowindex); the scroll area is focusable, so the arrow keys and Page Up/Down scroll it.
 * `onNearEnd` is called when the last rows come into view (to load the next page).
 */
export function VirtualTable<T>({
  rows,
  columns,
  rowKey,
  label,
  totalRows,
  onNearEnd,
  onRowOpen,
  rowHeight = 38,
  height = '60vh',
  initialRect,
}: {
  rows: readonly T[];
  columns: ReadonlyArray<Column<T>>;
  rowKey: (row: T) => string;
  /** The table's accessible name. */
  label: string;
  /** Rows there are in all when known, -1 when there are more than loaded but how many is not known. */
  totalRows?: number;
  onNearEnd?: () => void;
  /** A click anywhere on a row (its first cell should hold a link for keyboard users). */
  onRowOpen?: (row: T) => void;
  rowHeight?: number;
  height?: string;
  /** The viewport assumed before the page is measured (server rendering, tests). */
  initialRect?: { width: number; height: number };
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 8,
    ...(initialRect ? { initialRect } : {}),
  });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.length > 0 ? (items[items.length - 1]?.index ?? -1) : -1;

  useEffect(() => {
    if (onNearEnd && rows.length > 0 && lastIndex >= rows.length - 5) onNearEnd();
  }, [lastIndex, rows.length, onNearEnd]);

  const template = columns.map((c) => c.width ?? 'minmax(6rem, 1fr)').join(' ');
  // The header row counts; -1 tells assistive technology the count is not known.
  const rowCount = totalRows === -1 ? -1 : (totalRows ?? rows.length) + 1;

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const el = scrollRef.current;
    if (!el || e.target !== el) return;
    if (e.key === 'Home') {
      el.scrollTop = 0;
      e.preventDefault();
    } else if (e.key === 'End') {
      el.scrollTop = el.scrollHeight;
      e.preventDefault();
    }
  };

  return (
    <div className="vtable" role="table" aria-label={label} aria-rowcount={rowCount}>
      <div role="rowgroup" className="vtable-head">
        <div role="row" aria-rowindex={1} className="vtable-row" style={{ gridTemplateColumns: template }}>
          {columns.map((c) => (
            <div key={c.id} role="columnheader" className={c.numeric ? 'vtable-cell num' : 'vtable-cell'}>
              {c.header}
            </div>
          ))}
        </div>
      </div>
      <div
        ref={scrollRef}
        className="vtable-scroll"
        style={{ maxHeight: height }}
        tabIndex={0}
        onKeyDown={onKeyDown}
        role="rowgroup"
        aria-label={`${label}: scroll with the arrow keys`}
      >
        <div className="vtable-body" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((v) => {
            const row = rows[v.index] as T;
            return (
              <div
                key={rowKey(row)}
                role="row"
                aria-rowindex={v.index + 2}
                className={onRowOpen ? 'vtable-row vtable-openable' : 'vtable-row'}
                data-index={v.index}
                style={{
                  gridTemplateColumns: template,
                  transform: `translateY(${v.start}px)`,
                  height: v.size,
                }}
                onClick={
                  onRowOpen
                    ? (e) => {
                        // A link or button in the row does its own thing.
                        if ((e.target as HTMLElement).closest('a, button')) return;
                        onRowOpen(row);
                      }
                    : undefined
                }
              >
                {columns.map((c) => (
                  <div key={c.id} role="cell" className={c.numeric ? 'vtable-cell num' : 'vtable-cell'}>
                    {c.cell(row)}
                  </div>
                ))}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
