import type React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import type { OverviewChannel } from '../lib/events';
import { SessionProvider } from '../lib/session';
import { stateOf, sum } from './channels';
import { ChannelCard, formatMs, LatencyTable, StateBadge, statsSeries, type ChannelStats } from './dashboard';

// react-router ships ES modules only, which this jest setup does not load: links are rendered
// as the plain anchors they become in the browser.
jest.mock('react-router', () => {
  const { createElement } = jest.requireActual<typeof React>('react');
  return {
    Link: ({ to, children }: { to: string; children?: unknown }) =>
      createElement('a', { href: to }, children as never),
  };
});

function page(children: ReactNode): string {
  return renderToStaticMarkup(
    <QueryClientProvider client={new QueryClient()}>
      <SessionProvider>
        <>{children}</>
      </SessionProvider>
    </QueryClientProvider>,
  );
}

const now = new Date('2026-12-07T09:00:00.000Z');
const lab: OverviewChannel = {
  id: 'lab-results',
  description: 'Lab results to the EHR as FHIR',
  state: 'failing',
  state_reason: 'destination ehr down since 08:40 (HTTP 500)',
  paused: false,
  source: { type: 'mllp', listening: '127.0.0.1:2575' },
  last_24h: {
    received: 12,
    filtered: 1,
    rejected: 2,
    errored: 0,
    processed: 9,
    failed: 1,
    sent: 20,
    dead_lettered: 4,
  },
  queued: 3,
  destinations: [
    {
      name: 'ehr',
      type: 'http',
      ordering: 'PID-3.1',
      up: false,
      down_since: '2026-12-07T08:40:00.000Z',
      down_reason: 'HTTP 500',
      queued: 3,
      oldest_queued_at: '2026-12-07T08:45:00.000Z',
      dead_letters: 4,
    },
    { name: 'archive', type: 'file', ordering: 'none', up: null, queued: 0, dead_letters: 0 },
  ],
};

describe('the dashboard', () => {
  it('shows a channel’s state with its reason, its counters of 24 h and its queue', () => {
    const html = page(<ChannelCard channel={lab} now={now} />);
    expect(html).toContain('<a href="/channels/lab-results">lab-results</a>');
    expect(html).toContain('<span class="badge bad">Failing</span>');
    expect(html).toContain('destination ehr down since 08:40 (HTTP 500)');
    for (const [label, n] of [
      ['Received', 12],
      ['Filtered', 1],
      ['Rejected', 2],
      ['Errored', 0],
      ['Sent', 20],
      ['Dead-lettered', 4],
    ])
      expect(html).toContain(`<dt>${label}</dt><dd${n === 0 ? '' : ' class="nonzero"'}>${n}</dd>`);
    expect(html).toContain('<dt>Queued</dt><dd>3</dd>');
  });

  it('shows each destination up, down (with why) or unknown, its queue and the oldest delivery’s age', () => {
    const html = page(<ChannelCard channel={lab} now={now} />);
    expect(html).toContain('<span class="badge bad">Down</span>');
    expect(html).toContain('HTTP 500');
    expect(html).toContain('title="2026-12-07 08:45:00 UTC">15 min ago</time>');
    expect(html).toContain('<span class="badge unknown">Unknown</span>');
    // Nobody signed in (no messages:read): only the channel link.
    expect(html).not.toContain('/dead-letters?channel=');
  });

  it('says every state in words', () => {
    expect(renderToStaticMarkup(<StateBadge state="paused" reason="paused by user:ada" />)).toBe(
      '<span class="state-badge"><span class="badge warn">Paused</span><span class="state-reason"> paused by user:ada</span></span>',
    );
    expect(renderToStaticMarkup(<StateBadge state="running" />)).toContain('Running');
  });

  it('takes a pause from the channel’s own answer over an older overview', () => {
    expect(stateOf({ id: 'lab-results', paused: true }, [lab])).toEqual({
      state: 'paused',
      reason: undefined,
    });
    expect(stateOf({ id: 'lab-results', paused: false }, [lab])).toEqual({
      state: 'failing',
      reason: lab.state_reason,
    });
    expect(
      stateOf({ id: 'lab-results', paused: false }, [{ ...lab, state: 'paused', paused: true }]),
    ).toEqual({
      state: 'running',
    });
    expect(stateOf({ id: 'other', paused: false }, undefined)).toEqual({ state: 'running' });
    expect(sum({ received: 2, processed: 5 })).toBe(7);
  });

  it('charts received, sent and dead-lettered per hour, and shows the latency percentiles', () => {
    const stats: ChannelStats = {
      channel: 'lab-results',
      since: '2026-12-07T07:00:00.000Z',
      until: '2026-12-07T09:00:00.000Z',
      hours: [
        {
          hour: '2026-12-07T07:00:00.000Z',
          received: 2,
          filtered: 0,
          rejected: 0,
          errored: 0,
          sent: 2,
          dead_lettered: 0,
        },
        {
          hour: '2026-12-07T08:00:00.000Z',
          received: 5,
          filtered: 1,
          rejected: 0,
          errored: 0,
          sent: 3,
          dead_lettered: 1,
        },
      ],
      totals: { received: 7, filtered: 1, rejected: 0, errored: 0, sent: 5, dead_lettered: 1 },
      queued: { total: 0, by_status: {} },
      ack_latency_ms: { count: 7, p50: 3.2, p95: 12, p99: 40 },
      end_to_end_latency_ms: { count: 5, p50: 850, p95: 2400, p99: 61_000 },
    };
    const chart = statsSeries(stats);
    expect(chart.times).toEqual([Date.UTC(2026, 11, 7, 7), Date.UTC(2026, 11, 7, 8)]);
    expect(chart.series.map((s) => [s.label, s.values])).toEqual([
      ['Received', [2, 5]],
      ['Sent', [2, 3]],
      ['Dead-lettered', [0, 1]],
    ]);
    // Told apart by line style too, not only colour.
    expect(new Set(chart.series.map((s) => s.line)).size).toBe(3);
    const html = renderToStaticMarkup(<LatencyTable stats={stats} caption="Latency, last 24 hours" />);
    expect(html).toContain(
      '<th scope="row">End to end</th><td class="num">850 ms</td><td class="num">2.40 s</td><td class="num">1.0 min</td><td class="num">5</td>',
    );
    expect(html).toContain('<th scope="row">ACK</th><td class="num">3 ms</td>');
    expect(formatMs(undefined)).toBe('—');
  });
});
