import { useEffect, useId, useMemo, useRef } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { useTitle } from '../app';
import { Chart, type ChartSeries } from '../components/chart';
import { Empty, ErrorBox, Loading, QueryView } from '../components/states';
import { ago, Time } from '../components/time';
import { api, reconcileApi } from '../lib/api';
import {
  useOverview,
  type ChannelState,
  type LiveState,
  type OverviewChannel,
  type OverviewDestination,
} from '../lib/events';
import { useSession } from '../lib/session';
import './dashboard.css';

/** `GET /api/v1/channels/{id}/stats`. */
export interface ChannelStats {
  channel: string;
  since: string;
  until: string;
  hours: Array<{
    hour: string;
    received: number;
    filtered: number;
    rejected: number;
    errored: number;
    sent: number;
    dead_lettered: number;
  }>;
  totals: {
    received: number;
    filtered: number;
    rejected: number;
    errored: number;
    sent: number;
    dead_lettered: number;
  };
  queued: { total: number; by_status: Partial<Record<string, number>> };
  ack_latency_ms: Percentiles;
  end_to_end_latency_ms: Percentiles;
}

export interface Percentiles {
  count: number;
  p50?: number;
  p95?: number;
  p99?: number;
}

const STATE_LABEL: Record<ChannelState, string> = {
  running: 'Running',
  paused: 'Paused',
  failing: 'Failing',
};
const STATE_CLASS: Record<ChannelState, string> = { running: 'ok', paused: 'warn', failing: 'bad' };

/** A channel's state in words (colour only repeats it), with why when it is paused or failing. */
export function StateBadge({ state, reason }: { state: ChannelState; reason?: string | undefined }) {
  return (
    <span className="state-badge">
      <span className={`badge ${STATE_CLASS[state]}`}>{STATE_LABEL[state]}</span>
      {reason ? <span className="state-reason"> {reason}</span> : null}
    </span>
  );
}

/** Counters of the last 24 h, in the order a message goes through them. */
export const COUNTERS: ReadonlyArray<{ key: keyof OverviewChannel['last_24h']; label: string }> = [
  { key: 'received', label: 'Received' },
  { key: 'filtered', label: 'Filtered' },
  { key: 'rejected', label: 'Rejected' },
  { key: 'errored', label: 'Errored' },
  { key: 'sent', label: 'Sent' },
  { key: 'dead_lettered', label: 'Dead-lettered' },
];

/** A latency in words: `850 ms`, `2.4 s`, `3.1 min`. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** `2026-12-07 08:45:00 UTC`, as <Time> shows on hover. */
function utcText(iso: string): string {
  return new Date(iso)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

function DestinationStatus({ d }: { d: OverviewDestination }) {
  if (d.up === true) return <span className="badge ok">Up</span>;
  if (d.up === false)
    return (
      <span>
        <span className="badge bad">Down</span>{' '}
        {d.down_reason ? <span className="state-reason">{d.down_reason}</span> : null}
        {d.down_since ? (
          <span className="muted">
            {' '}
            since <Time value={d.down_since} />
          </span>
        ) : null}
      </span>
    );
  return <span className="badge unknown">Unknown</span>;
}

/** One channel on the dashboard: its state, counters, queue and destinations, with links. */
export function ChannelCard({ channel, now }: { channel: OverviewChannel; now?: Date }) {
  const { can } = useSession();
  const titleId = useId();
  const c = channel;
  return (
    <article className="card channel-card" aria-labelledby={titleId}>
      <header className="channel-card-head">
        <h2 id={titleId}>
          <Link to={`/channels/${encodeURIComponent(c.id)}`}>{c.id}</Link>
        </h2>
        <StateBadge state={c.state} reason={c.state_reason} />
      </header>
      {c.description ? <p className="muted channel-description">{c.description}</p> : null}
      <p className="channel-source muted">
        {c.source.type}
        {c.source.listening ? ` on ${c.source.listening}` : ''}
      </p>
      <h3 className="visually-hidden">Last 24 hours</h3>
      <dl className="counters">
        {COUNTERS.map(({ key, label }) => (
          <div key={key} className={`counter counter-${key}`}>
            <dt>{label}</dt>
            <dd className={c.last_24h[key] > 0 ? 'nonzero' : undefined}>{c.last_24h[key]}</dd>
          </div>
        ))}
        <div className="counter counter-queued">
          <dt>Queued</dt>
          <dd>{c.queued}</dd>
        </div>
      </dl>
      <p className="muted counters-note">Last 24 hours; queued now.</p>
      {c.destinations.length === 0 ? (
        <p className="muted">No destinations.</p>
      ) : (
        <table className="destinations">
          <caption className="visually-hidden">Destinations of {c.id}</caption>
          <thead>
            <tr>
              <th scope="col">Destination</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Queued
              </th>
              <th scope="col">Oldest queued</th>
            </tr>
          </thead>
          <tbody>
            {c.destinations.map((d) => (
              <tr key={d.name}>
                <th scope="row">
                  {d.name} <span className="muted">({d.type})</span>
                </th>
                <td>
                  <DestinationStatus d={d} />
                </td>
                <td className="num">{d.queued}</td>
                <td>
                  {d.oldest_queued_at ? (
                    <time dateTime={d.oldest_queued_at} title={utcText(d.oldest_queued_at)}>
                      {ago(new Date(d.oldest_queued_at), now)}
                    </time>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav className="channel-links" aria-label={`${c.id} links`}>
        <Link to={`/channels/${encodeURIComponent(c.id)}`}>Channel</Link>
        {can('messages:read') ? (
          <>
            <Link to={`/messages?channel=${encodeURIComponent(c.id)}`}>Messages</Link>
            <Link to={`/dead-letters?channel=${encodeURIComponent(c.id)}`}>Dead letters</Link>
          </>
        ) : null}
      </nav>
    </article>
  );
}

const LIVE_TEXT: Record<LiveState, string> = {
  connecting: 'Connecting to live updates…',
  live: 'Live',
  polling: 'Live updates unavailable: refreshed every 30 s',
};

export function LiveBadge({ live }: { live: LiveState }) {
  return (
    <p className="live" role="status">
      <span className={`badge ${live === 'live' ? 'ok' : live === 'polling' ? 'warn' : 'unknown'}`}>
        {LIVE_TEXT[live]}
      </span>
    </p>
  );
}

const HOUR = 3600_000;

/** A channel's statistics since `hours` hours ago (refreshed every `refreshMs`). */
export function useChannelStats(channelId: string, hours: number, refreshMs: number) {
  return useQuery({
    queryKey: ['stats', channelId, hours],
    queryFn: ({ signal }) =>
      api<ChannelStats>(`/api/v1/channels/${encodeURIComponent(channelId)}/stats`, {
        query: { since: new Date(Date.now() - hours * HOUR).toISOString() },
        signal,
      }),
    refetchInterval: refreshMs,
    staleTime: refreshMs / 2,
  });
}

/** Received, sent and dead-lettered per hour, as chart series. */
export function statsSeries(stats: ChannelStats): { times: number[]; series: ChartSeries[] } {
  const times = stats.hours.map((h) => Date.parse(h.hour));
  return {
    times,
    series: [
      { label: 'Received', colour: '#0550ae', line: 'solid', values: stats.hours.map((h) => h.received) },
      { label: 'Sent', colour: '#116329', line: 'dashed', values: stats.hours.map((h) => h.sent) },
      {
        label: 'Dead-lettered',
        colour: '#a40e26',
        line: 'dotted',
        values: stats.hours.map((h) => h.dead_lettered),
      },
    ],
  };
}

/** ACK and end-to-end latency percentiles of a window. */
export function LatencyTable({ stats, caption }: { stats: ChannelStats; caption: string }) {
  const rows: Array<[string, Percentiles]> = [
    ['ACK', stats.ack_latency_ms],
    ['End to end', stats.end_to_end_latency_ms],
  ];
  return (
    <table className="latency">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Latency</th>
          <th scope="col" className="num">
            p50
          </th>
          <th scope="col" className="num">
            p95
          </th>
          <th scope="col" className="num">
            p99
          </th>
          <th scope="col" className="num">
            Measured
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([label, p]) => (
          <tr key={label}>
            <th scope="row">{label}</th>
            <td className="num">{formatMs(p.p50)}</td>
            <td className="num">{formatMs(p.p95)}</td>
            <td className="num">{formatMs(p.p99)}</td>
            <td className="num">{p.count}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Refetches `query` when `change` changes (the channel's counters moved), at most once per
 * `gapMs`: a busy channel does not turn every overview event into statistics requests.
 */
function useRefetchOnChange(
  query: { refetch: () => unknown; dataUpdatedAt: number },
  change: string | undefined,
  gapMs: number,
) {
  const last = useRef(change);
  const latest = useRef(query);
  useEffect(() => {
    latest.current = query;
  });
  useEffect(() => {
    if (change === last.current) return;
    last.current = change;
    const wait = Math.max(0, latest.current.dataUpdatedAt + gapMs - Date.now());
    const timer = setTimeout(() => void latest.current.refetch(), wait);
    return () => clearTimeout(timer);
  }, [change, gapMs]);
}

function StatsWindow({
  channelId,
  hours,
  title,
  change,
}: {
  channelId: string;
  hours: number;
  title: string;
  change: string | undefined;
}) {
  // The 7 days' statistics cost the engine far more than the 24 hours' (a week of the ledger is
  // read; on SQLite the read holds the engine's event loop): asked again at most every 10 min.
  const query = useChannelStats(channelId, hours, hours <= 24 ? 60_000 : 600_000);
  useRefetchOnChange(query, change, hours <= 24 ? 5_000 : 600_000);
  const chart = useMemo(() => (query.data ? statsSeries(query.data) : undefined), [query.data]);
  return (
    <div className="stats-window">
      <h3>{title}</h3>
      {query.isPending ? (
        <Loading what={`Loading ${title.toLowerCase()}`} />
      ) : query.error || !query.data || !chart ? (
        <ErrorBox error={query.error} retry={() => void query.refetch()} />
      ) : (
        <>
          <Chart
            title={`${channelId}: messages per hour, ${title.toLowerCase()}`}
            times={chart.times}
            series={chart.series}
          />
          <LatencyTable stats={query.data} caption={`Latency, ${title.toLowerCase()}`} />
        </>
      )}
    </div>
  );
}

/** Per-hour charts over 24 h and 7 days, and latency percentiles, for one channel. */
export function ChannelStatsPanel({ channelId, change }: { channelId: string; change?: string | undefined }) {
  return (
    <div className="stats-panel">
      <StatsWindow channelId={channelId} hours={24} title="Last 24 hours" change={change} />
      <StatsWindow channelId={channelId} hours={24 * 7} title="Last 7 days" change={change} />
    </div>
  );
}

/** The counters of a channel as one string: it changes when any of them does. */
export function countersKey(c: OverviewChannel | undefined): string | undefined {
  return c ? `${Object.values(c.last_24h).join(',')}/${c.queued}` : undefined;
}

/**
 * The open sync-error flags of the reconciliations, above everything else: systems reading the
 * sync status are being told it is not safe, and named channels may be paused.
 */
export function SyncBanner() {
  const { can } = useSession();
  const allowed = can('reconciliations:read');
  const status = useQuery({
    queryKey: ['sync-status'],
    queryFn: ({ signal }) => reconcileApi.syncStatus(signal),
    enabled: allowed,
    refetchInterval: 30_000,
  });
  const flags = status.data?.flags ?? [];
  if (!allowed || flags.length === 0) return null;
  return (
    <section className="sync-banner" aria-labelledby="sync-banner-title" data-testid="sync-banner">
      <h2 id="sync-banner-title">
        Sync error: {flags.length} open flag{flags.length === 1 ? '' : 's'}
      </h2>
      <ul>
        {flags.map((f) => (
          <li key={f.id}>
            {f.reconciliation}: {f.count} {f.entity} {f.class.replaceAll('_', ' ')}, raised{' '}
            <Time value={f.raisedAt} /> ·{' '}
            <Link to={`/reconciliations/runs/${encodeURIComponent(f.runId)}`}>see the run</Link>
          </li>
        ))}
      </ul>
      <p>
        <Link to="/reconciliations">Review and acknowledge</Link> once it is safe: until then the sync status
        says it is not, and the channels the reconciliation names stay paused.
      </p>
    </section>
  );
}

export default function Dashboard() {
  useTitle('Dashboard');
  const overview = useOverview();
  const [params, setParams] = useSearchParams();
  const picked = params.get('channel') ?? undefined;
  const channels = overview.data?.channels;
  const selected = picked && channels?.some((c) => c.id === picked) ? picked : channels?.[0]?.id;
  return (
    <section className="dashboard">
      <div className="page-head">
        <h1>Dashboard</h1>
        <LiveBadge live={overview.live} />
      </div>
      <SyncBanner />
      <QueryView query={overview} what="the channels">
        {(data) =>
          data.channels.length === 0 ? (
            <Empty>
              No channels are deployed. Put channel files in the engine’s channel folder and deploy them
              (`sinew deploy`).
            </Empty>
          ) : (
            <>
              <p className="muted generated">
                As of <Time value={data.generated_at} />
              </p>
              <div className="dashboard-cards">
                {data.channels.map((c) => (
                  <ChannelCard key={c.id} channel={c} />
                ))}
              </div>
              <h2>Traffic and latency</h2>
              <div className="toolbar">
                <div className="field">
                  <label htmlFor="dashboard-channel">Channel</label>
                  <select
                    id="dashboard-channel"
                    value={selected}
                    onChange={(e) => setParams({ channel: e.currentTarget.value }, { replace: true })}
                  >
                    {data.channels.map((c) => (
                      <option key={c.id} value={c.id}>
                        {c.id}
                      </option>
                    ))}
                  </select>
                </div>
              </div>
              {selected ? (
                <ChannelStatsPanel
                  channelId={selected}
                  change={countersKey(data.channels.find((c) => c.id === selected))}
                />
              ) : null}
            </>
          )
        }
      </QueryView>
    </section>
  );
}
