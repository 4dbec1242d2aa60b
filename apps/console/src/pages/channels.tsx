import { Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { useTitle } from '../app';
import { Empty, QueryView } from '../components/states';
import { api } from '../lib/api';
import { useOverview, type ChannelState, type OverviewChannel } from '../lib/events';
import { StateBadge } from './dashboard';
import './channels.css';

/** `GET /api/v1/channels` items. */
export interface ChannelSummary {
  id: string;
  paused: boolean;
  version?: number;
  file: string;
  source: { type: string; listening?: string };
  destinations: Array<{ name: string; type: string; ordering: string }>;
  counts: {
    since: string;
    messages: Partial<Record<string, number>>;
    open_deliveries: Partial<Record<string, number>>;
  };
}

/** `GET /api/v1/channels/{id}`. */
export interface ChannelDetail extends ChannelSummary {
  hash: string;
  configuration: unknown;
}

export function sum(record: Partial<Record<string, number>>): number {
  return Object.values(record).reduce<number>((a, b) => a + (b ?? 0), 0);
}

/** The state the overview gives, or what the channel's own answer says (paused or running). */
export function stateOf(
  summary: Pick<ChannelSummary, 'id' | 'paused'>,
  overview: readonly OverviewChannel[] | undefined,
): { state: ChannelState; reason?: string | undefined } {
  const o = overview?.find((c) => c.id === summary.id);
  // The channel's own answer is the newer one right after a pause or resume.
  if (summary.paused) return { state: 'paused', reason: o?.paused ? o.state_reason : undefined };
  if (o && o.state !== 'paused') return { state: o.state, reason: o.state_reason };
  return { state: 'running' };
}

export function ChannelsTable({
  items,
  overview,
}: {
  items: readonly ChannelSummary[];
  overview?: readonly OverviewChannel[] | undefined;
}) {
  return (
    <div className="table-scroll">
      <table className="channels-table">
        <caption className="visually-hidden">Deployed channels</caption>
        <thead>
          <tr>
            <th scope="col">Channel</th>
            <th scope="col">State</th>
            <th scope="col">Source</th>
            <th scope="col">Destinations</th>
            <th scope="col" className="num">
              Version
            </th>
            <th scope="col" className="num">
              Received (24 h)
            </th>
            <th scope="col" className="num">
              Queued
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((c) => {
            const s = stateOf(c, overview);
            return (
              <tr key={c.id}>
                <th scope="row">
                  <Link to={`/channels/${encodeURIComponent(c.id)}`}>{c.id}</Link>
                </th>
                <td>
                  <StateBadge state={s.state} reason={s.reason} />
                </td>
                <td>
                  {c.source.type}
                  {c.source.listening ? <span className="muted"> on {c.source.listening}</span> : null}
                </td>
                <td>
                  {c.destinations.length === 0
                    ? '—'
                    : c.destinations.map((d) => `${d.name} (${d.type})`).join(', ')}
                </td>
                <td className="num">{c.version ?? '—'}</td>
                <td className="num">{sum(c.counts.messages)}</td>
                <td className="num">{sum(c.counts.open_deliveries)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export default function Channels() {
  useTitle('Channels');
  const list = useQuery({
    queryKey: ['channels'],
    queryFn: ({ signal }) => api<{ items: ChannelSummary[] }>('/api/v1/channels', { signal }),
    refetchInterval: 30_000,
  });
  const overview = useOverview();
  return (
    <section className="channels-page">
      <h1>Channels</h1>
      <QueryView query={list} what="the channels">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              No channels are deployed. Put channel files in the engine’s channel folder and deploy them
              (`sinew deploy`).
            </Empty>
          ) : (
            <ChannelsTable items={data.items} overview={overview.data?.channels} />
          )
        }
      </QueryView>
    </section>
  );
}
