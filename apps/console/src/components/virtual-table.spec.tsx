import { renderToStaticMarkup } from 'react-dom/server';
import { VirtualTable, type Column } from './virtual-table';

interface Row {
  id: string;
  n: number;
}
const rows: Row[] = Array.from({ length: 5000 }, (_, i) => ({ id: `m${i}`, n: i }));
const columns: Array<Column<Row>> = [
  { id: 'id', header: 'Id', cell: (r) => <a href={`/messages/${r.id}`}>{r.id}</a> },
  { id: 'n', header: 'Number', numeric: true, cell: (r) => r.n },
];

describe('the virtualised table', () => {
  it('renders only the rows in view, with table semantics and the full row count', () => {
    const html = renderToStaticMarkup(
      <VirtualTable
        label="Messages found"
        rows={rows}
        columns={columns}
        rowKey={(r) => r.id}
        rowHeight={40}
        initialRect={{ width: 1200, height: 400 }}
      />,
    );
    expect(html).toContain('role="table" aria-label="Messages found" aria-rowcount="5001"');
    expect(html.match(/role="columnheader"/g)).toHaveLength(2);
    const rendered = html.match(/role="row"/g)?.length ?? 0;
    // 400 px of 40 px rows, plus the overscan, plus the header: nowhere near 5000.
    expect(rendered).toBeGreaterThan(10);
    expect(rendered).toBeLessThan(30);
    expect(html).toContain('aria-rowindex="2"');
    expect(html).toContain('>m0</a>');
    expect(html).not.toContain('>m100</a>');
    // The body is as tall as all the rows, so the scrollbar is right.
    expect(html).toContain('height:200000px');
    // Its scroll area is reachable from the keyboard.
    expect(html).toMatch(/class="vtable-scroll"[^>]*tabindex="0"/);
  });

  it('counts rows not yet loaded when told how many there are, or says it does not know', () => {
    const html = renderToStaticMarkup(
      <VirtualTable label="t" rows={rows.slice(0, 3)} totalRows={4} columns={columns} rowKey={(r) => r.id} />,
    );
    expect(html).toContain('aria-rowcount="5"');
    const more = renderToStaticMarkup(
      <VirtualTable
        label="t"
        rows={rows.slice(0, 3)}
        totalRows={-1}
        columns={columns}
        rowKey={(r) => r.id}
      />,
    );
    expect(more).toContain('aria-rowcount="-1"');
  });
});
