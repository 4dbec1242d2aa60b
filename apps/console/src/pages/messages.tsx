import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useTitle } from '../app';
import { Empty, ErrorBox, Loading } from '../components/states';
import { Time } from '../components/time';
import { VirtualTable, type Column } from '../components/virtual-table';
import { api } from '../lib/api';
import {
  filtersFromParams,
  MESSAGE_STATUSES,
  paramsFromFilters,
  parseSearch,
  searchText,
  type MessageFilters,
} from '../lib/search';
import './messages.css';

/** One row of GET /api/v1/messages. */
export interface MessageSummary {
  id: string;
  channel: string;
  received_at: string;
  type?: string;
  control_id?: string;
  sender: string;
  status: string;
  ack_code?: string;
  keys?: Record<string, string>;
}

interface SearchPage {
  items: MessageSummary[];
  next_cursor: string | null;
}

const PAGE_SIZE = 100;

/** The page size a link asks for (`?limit=`, 1–500), else the default. */
function pageSize(params: URLSearchParams): number {
  const n = Number(params.get('limit'));
  return Number.isInteger(n) && n >= 1 && n <= 500 ? n : PAGE_SIZE;
}

/** The badge class of a message status (the word is always shown too). */
export function statusTone(status: string): string {
  if (status === 'delivered' || status === 'processed' || status === 'sent') return 'badge ok';
  if (status === 'failed' || status === 'errored' || status === 'rejected' || status === 'dead_lettered')
    return 'badge bad';
  if (status === 'retrying' || status === 'parked') return 'badge warn';
  return 'badge';
}

export function ackTone(code: string | undefined): string {
  if (!code) return '';
  return code === 'AA' || code === 'CA' ? 'badge ok' : 'badge bad';
}

/** `2026-12-01T08:00` (a datetime-local input's value) for an ISO instant, in local time. */
function localInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function isoOf(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export default function Messages() {
  useTitle('Messages');
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const limit = pageSize(params);
  const [text, setText] = useState(() => searchText(filters));
  const [typeText, setTypeText] = useState(filters.type ?? '');
  const [problems, setProblems] = useState<string[]>([]);

  // The URL changed from elsewhere (a link, back/forward): the inputs follow it.
  const shownText = searchText(filters);
  useEffect(() => {
    setText(shownText);
  }, [shownText]);
  useEffect(() => {
    setTypeText(filters.type ?? '');
  }, [filters.type]);

  const apply = useCallback(
    (next: MessageFilters) => setParams(paramsFromFilters(next), { replace: false }),
    [setParams],
  );

  const channels = useQuery({
    queryKey: ['channels'],
    queryFn: ({ signal }) => api<{ items: Array<{ id: string }> }>('/api/v1/channels', { signal }),
  });

  const results = useInfiniteQuery({
    queryKey: ['messages', 'search', filters, limit],
    queryFn: ({ pageParam, signal }) =>
      api<SearchPage>('/api/v1/messages', {
        query: { ...filters, limit, cursor: pageParam },
        signal,
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

  const rows = useMemo(() => results.data?.pages.flatMap((p) => p.items) ?? [], [results.data]);
  const withKeys = rows.some((r) => r.keys && Object.keys(r.keys).length > 0);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = results;
  const loadMore = useCallback(() => {
    if (hasNextPage && !isFetchingNextPage) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseSearch(text);
    if (parsed.kind === 'message') {
      void navigate(`/messages/${encodeURIComponent(parsed.id)}`);
      return;
    }
    setProblems(parsed.problems);
    if (parsed.problems.length > 0) return;
    const type = typeText.trim();
    // The field's own filters replace the previous ones; tokens such as channel: win over the controls.
    apply({
      ...(filters.channel ? { channel: filters.channel } : {}),
      ...(filters.status ? { status: filters.status } : {}),
      ...(filters.since ? { since: filters.since } : {}),
      ...(filters.until ? { until: filters.until } : {}),
      ...(type ? { type } : {}),
      ...parsed.filters,
    });
  };

  const set = (name: keyof MessageFilters, value: string | undefined) => {
    const next: MessageFilters = { ...filters };
    if (value) next[name] = value;
    else delete next[name];
    apply(next);
  };

  const columns: Array<Column<MessageSummary>> = [
    {
      id: 'received',
      header: 'Received',
      width: '12.5rem',
      cell: (m) => (
        <Link to={`/messages/${encodeURIComponent(m.id)}`}>
          <Time value={m.received_at} />
          <span className="visually-hidden"> message {m.control_id ?? m.id}</span>
        </Link>
      ),
    },
    { id: 'channel', header: 'Channel', width: 'minmax(5rem, 1fr)', cell: (m) => m.channel },
    { id: 'type', header: 'Type', width: '6.5rem', cell: (m) => m.type ?? <span className="muted">—</span> },
    {
      id: 'control',
      header: 'Control id',
      width: 'minmax(5rem, 1fr)',
      cell: (m) =>
        m.control_id ? <span className="mono">{m.control_id}</span> : <span className="muted">—</span>,
    },
    {
      id: 'status',
      header: 'Status',
      width: '7rem',
      cell: (m) => <span className={statusTone(m.status)}>{m.status}</span>,
    },
    {
      id: 'ack',
      header: 'ACK',
      width: '3.5rem',
      cell: (m) =>
        m.ack_code ? (
          <span className={ackTone(m.ack_code)}>{m.ack_code}</span>
        ) : (
          <span className="muted">—</span>
        ),
    },
  ];
  if (withKeys)
    columns.push({
      id: 'keys',
      header: 'Keys',
      width: 'minmax(6rem, 1.5fr)',
      cell: (m) => (
        <span className="mono">
          {Object.entries(m.keys ?? {})
            .map(([k, v]) => `${k}:${v}`)
            .join(' ')}
        </span>
      ),
    });

  const filtered = Object.keys(filters).length > 0;

  return (
    <section className="messages-page">
      <h1>Messages</h1>
      <form className="messages-search" role="search" onSubmit={onSubmit}>
        <div className="field messages-q">
          <label htmlFor="messages-q">Search messages</label>
          <input
            id="messages-q"
            type="search"
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="MRN, control id, message id, or key:value"
            aria-describedby="messages-q-help"
            autoComplete="off"
            spellCheck={false}
          />
          <span id="messages-q-help" className="muted help">
            e.g. <code>MRN-1</code>, <code>mrn:MRN-1</code>, <code>control:ABC123</code>, a message id, or{' '}
            <code>channel:lab-results status:failed</code>
          </span>
        </div>
        <div className="toolbar">
          <div className="field">
            <label htmlFor="messages-channel">Channel</label>
            <select
              id="messages-channel"
              value={filters.channel ?? ''}
              onChange={(e) => set('channel', e.target.value || undefined)}
            >
              <option value="">All channels</option>
              {filters.channel && !channels.data?.items.some((c) => c.id === filters.channel) ? (
                <option value={filters.channel}>{filters.channel}</option>
              ) : null}
              {channels.data?.items.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.id}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="messages-type">Type</label>
            <input
              id="messages-type"
              value={typeText}
              onChange={(e) => setTypeText(e.target.value)}
              placeholder="ORU^R01"
              size={10}
            />
          </div>
          <div className="field">
            <label htmlFor="messages-status">Status</label>
            <select
              id="messages-status"
              value={filters.status ?? ''}
              onChange={(e) => set('status', e.target.value || undefined)}
            >
              <option value="">Any status</option>
              {MESSAGE_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s.replace('_', ' ')}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="messages-since">Since</label>
            <input
              id="messages-since"
              type="datetime-local"
              value={localInput(filters.since)}
              onChange={(e) => set('since', isoOf(e.target.value))}
            />
          </div>
          <div className="field">
            <label htmlFor="messages-until">Until</label>
            <input
              id="messages-until"
              type="datetime-local"
              value={localInput(filters.until)}
              onChange={(e) => set('until', isoOf(e.target.value))}
            />
          </div>
          <button type="submit" className="primary">
            Search
          </button>
          {filtered ? (
            <button
              type="button"
              onClick={() => {
                setText('');
                setTypeText('');
                setProblems([]);
                apply({});
              }}
            >
              Clear
            </button>
          ) : null}
        </div>
        {problems.length > 0 ? (
          <ul className="error" role="alert">
            {problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        ) : null}
      </form>

      {results.isPending ? (
        <Loading what="Searching messages" />
      ) : results.isError && rows.length === 0 ? (
        <ErrorBox error={results.error} retry={() => void results.refetch()} />
      ) : rows.length === 0 ? (
        <Empty>
          {filtered
            ? 'No messages match this search. Try fewer filters or a wider time range.'
            : 'No messages yet. Messages appear here as channels receive them.'}
        </Empty>
      ) : (
        <>
          <p className="muted results-count" role="status">
            {rows.length} message{rows.length === 1 ? '' : 's'}
            {hasNextPage ? ' shown, more to load' : ''}
            {results.isFetching && !isFetchingNextPage ? ' · refreshing…' : ''}
          </p>
          <VirtualTable
            label="Messages found"
            rows={rows}
            columns={columns}
            rowKey={(m) => m.id}
            {...(hasNextPage ? { totalRows: -1 } : {})}
            onNearEnd={loadMore}
            onRowOpen={(m) => void navigate(`/messages/${encodeURIComponent(m.id)}`)}
          />
          <div className="load-more">
            {results.isError ? <ErrorBox error={results.error} retry={loadMore} /> : null}
            {hasNextPage ? (
              <button type="button" onClick={loadMore} disabled={isFetchingNextPage}>
                {isFetchingNextPage ? 'Loading…' : 'Load more'}
              </button>
            ) : (
              <span className="muted">End of results.</span>
            )}
          </div>
        </>
      )}
    </section>
  );
}
