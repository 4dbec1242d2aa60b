import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { Confirm } from '../components/confirm';
import { Empty, QueryView } from '../components/states';
import { Time } from '../components/time';
import { api, errorMessage } from '../lib/api';
import { paramsFromFilters } from '../lib/search';
import { useSession } from '../lib/session';
import './dead-letters.css';

/** One group of GET /api/v1/dead-letters. */
interface Group {
  channel: string;
  destination: string;
  error: string;
  count: number;
  first_seen: string;
  last_seen: string;
  sample_message_id: string;
  sample_delivery_id: string;
}

interface ReplayAnswer {
  dry_run: boolean;
  count: number;
  requeued: string[];
}

interface Pending {
  group: Group;
  /** The dry run's count; undefined while it runs. */
  count?: number;
  error?: unknown;
}

function deliveries(n: number): string {
  return `${n} deliver${n === 1 ? 'y' : 'ies'}`;
}

export default function DeadLetters() {
  useTitle('Dead letters');
  const { can } = useSession();
  const mayReplay = can('messages:replay');
  const [params, setParams] = useSearchParams();
  const channel = params.get('channel') ?? '';
  const queries = useQueryClient();
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const [result, setResult] = useState<string | undefined>(undefined);

  const channels = useQuery({
    queryKey: ['channels'],
    queryFn: ({ signal }) => api<{ items: Array<{ id: string }> }>('/api/v1/channels', { signal }),
  });
  const groups = useQuery({
    queryKey: ['dead-letters', channel],
    queryFn: ({ signal }) =>
      api<{ groups: Group[]; total: number }>('/api/v1/dead-letters', {
        query: { channel: channel || undefined },
        signal,
      }),
  });

  const replay = (g: Group, dryRun: boolean) =>
    api<ReplayAnswer>('/api/v1/dead-letters/replay', {
      method: 'POST',
      body: { channel: g.channel, destination: g.destination, dry_run: dryRun },
    });

  const startReplay = async (g: Group) => {
    setResult(undefined);
    setPending({ group: g });
    try {
      const dry = await replay(g, true);
      setPending({ group: g, count: dry.count });
    } catch (err) {
      setPending({ group: g, error: err });
    }
  };

  const doReplay = useMutation({
    mutationFn: (g: Group) => replay(g, false),
    onSuccess: (r, g) => {
      setPending(undefined);
      setResult(
        `Replayed ${deliveries(r.count)} to ${g.destination} (${g.channel}): queued for another attempt.`,
      );
      void queries.invalidateQueries({ queryKey: ['dead-letters'] });
      void queries.invalidateQueries({ queryKey: ['message'] });
    },
  });

  return (
    <section className="dead-letters-page">
      <h1>Dead letters</h1>
      <p className="muted">
        Deliveries that ran out of attempts, grouped by destination and the error they last got. Fix the
        cause, then replay them.
      </p>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="dl-channel">Channel</label>
          <select
            id="dl-channel"
            value={channel}
            onChange={(e) => {
              const next = new URLSearchParams(params);
              if (e.target.value) next.set('channel', e.target.value);
              else next.delete('channel');
              setParams(next);
            }}
          >
            <option value="">All channels</option>
            {channel && !channels.data?.items.some((c) => c.id === channel) ? (
              <option value={channel}>{channel}</option>
            ) : null}
            {channels.data?.items.map((c) => (
              <option key={c.id} value={c.id}>
                {c.id}
              </option>
            ))}
          </select>
        </div>
        <button type="button" onClick={() => void groups.refetch()} disabled={groups.isFetching}>
          {groups.isFetching ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      {result ? (
        <p className="notice" role="status">
          {result}
        </p>
      ) : null}
      <QueryView query={groups} what="dead letters">
        {(data) =>
          data.groups.length === 0 ? (
            <Empty>
              No dead letters{channel ? ` on ${channel}` : ''}. Every delivery was sent or is still being
              tried.
            </Empty>
          ) : (
            <>
              <p role="status" className="muted">
                {deliveries(data.total)} dead-lettered in {data.groups.length} group
                {data.groups.length === 1 ? '' : 's'}.
              </p>
              <table className="dl-table">
                <thead>
                  <tr>
                    <th scope="col">Channel</th>
                    <th scope="col">Destination</th>
                    <th scope="col">Error</th>
                    <th scope="col" className="num">
                      Count
                    </th>
                    <th scope="col">First seen</th>
                    <th scope="col">Last seen</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.groups.map((g) => {
                    const search = paramsFromFilters({
                      channel: g.channel,
                      status: 'dead_lettered',
                    }).toString();
                    return (
                      <tr
                        key={`${g.channel}\u0000${g.destination}\u0000${g.error}`}
                        data-testid="dead-letter-group"
                      >
                        <td>{g.channel}</td>
                        <td className="mono">{g.destination}</td>
                        <td className="dl-error">{g.error}</td>
                        <td className="num">{g.count}</td>
                        <td>
                          <Time value={g.first_seen} />
                        </td>
                        <td>
                          <Time value={g.last_seen} />
                        </td>
                        <td className="dl-actions">
                          <Link to={`/messages?${search}`}>
                            Messages<span className="visually-hidden"> dead-lettered on {g.channel}</span>
                          </Link>
                          <Link to={`/messages/${encodeURIComponent(g.sample_message_id)}`}>
                            Sample<span className="visually-hidden"> message of this group</span>
                          </Link>
                          {mayReplay ? (
                            <button type="button" onClick={() => void startReplay(g)}>
                              Replay…<span className="visually-hidden"> dead letters to {g.destination}</span>
                            </button>
                          ) : null}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </>
          )
        }
      </QueryView>
      <Confirm
        open={pending !== undefined}
        title={pending ? `Replay dead letters to ${pending.group.destination}?` : 'Replay dead letters?'}
        confirmLabel="Replay"
        busy={(pending?.count === undefined && pending?.error === undefined) || doReplay.isPending}
        onCancel={() => {
          setPending(undefined);
          doReplay.reset();
        }}
        onConfirm={() => {
          // Nothing is replayed without its count shown first.
          if (pending?.count !== undefined) doReplay.mutate(pending.group);
          else setPending(undefined);
        }}
      >
        {pending?.error !== undefined ? (
          <p className="error" role="alert">
            {errorMessage(pending.error)}
          </p>
        ) : pending?.count === undefined ? (
          <p role="status">Counting what would be replayed…</p>
        ) : (
          <>
            <p role="status">
              <strong>{deliveries(pending.count)} will be replayed.</strong>
            </p>
            <p>
              Every dead letter to <span className="mono">{pending.group.destination}</span> on{' '}
              {pending.group.channel} is queued again and sent as it was
              {pending.count !== pending.group.count ? ', whatever error it last got' : ''}.
            </p>
          </>
        )}
        {doReplay.isError ? (
          <p className="error" role="alert">
            {errorMessage(doReplay.error)}
          </p>
        ) : null}
      </Confirm>
    </section>
  );
}
