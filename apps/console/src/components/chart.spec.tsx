import { renderToStaticMarkup } from 'react-dom/server';
import { bucketLabel, Chart, summarise, tableRows, type ChartSeries } from './chart';

const H = 3600_000;
const start = Date.UTC(2026, 11, 7, 6);
const times = [start, start + H, start + 2 * H, start + 3 * H];
const series: ChartSeries[] = [
  { label: 'Received', colour: '#0550ae', values: [0, 3, 1, 0] },
  { label: 'Sent', colour: '#116329', line: 'dashed', values: [0, 2, 2, 0] },
  { label: 'Dead-lettered', colour: '#a40e26', line: 'dotted', values: [0, 0, 0, 0] },
];

describe('the chart', () => {
  it('sums each series up in its accessible label: total and busiest hour', () => {
    const text = summarise('lab: messages per hour', times, series);
    expect(text).toBe(
      `lab: messages per hour, 4 hours from ${bucketLabel(times[0] as number)} to ${bucketLabel(times[3] as number)}. ` +
        `Received: 4 messages in all, at most 3 in the hour from ${bucketLabel(times[1] as number)}; ` +
        `Sent: 4 messages in all, at most 2 in the hour from ${bucketLabel(times[1] as number)}; ` +
        'Dead-lettered: none.',
    );
    expect(summarise('empty', [], [])).toBe('empty: no data.');
  });

  it('lists only the hours where something happened in its table', () => {
    expect(tableRows(times, series)).toEqual([
      { time: times[1], values: [3, 2, 0] },
      { time: times[2], values: [1, 2, 0] },
    ]);
  });

  it('renders an image with that label, a legend in words and line styles, and the numbers on request', () => {
    const closed = renderToStaticMarkup(
      <Chart title="lab: messages per hour" times={times} series={series} />,
    );
    expect(closed).toContain('role="img"');
    expect(closed).toContain(`aria-label="${summarise('lab: messages per hour', times, series)}"`);
    expect(closed).toContain('chart-swatch-dashed');
    expect(closed).toContain('<summary>Show the numbers</summary>');
    expect(closed).not.toContain('<table');

    const open = renderToStaticMarkup(
      <Chart title="lab: messages per hour" times={times} series={series} tableOpen />,
    );
    expect(open).toContain('<th scope="col" class="num">Dead-lettered</th>');
    expect(open).toContain(`<th scope="row"><time dateTime="${new Date(times[1] as number).toISOString()}">`);
    expect(open).toContain('Hours where every value is zero are left out.');
  });
});
