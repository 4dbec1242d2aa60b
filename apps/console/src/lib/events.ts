import { useEffect, useState } from 'react';
import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { api } from './api';

/**
 * The dashboard's data, live: `GET /api/v1/overview` once, then every change pushed by the
 * server-sent events of `GET /api/v1/events` into the query cache under ['overview']. When the
 * stream fails the overview is fetched every 30 s instead, and the stream is tried again later,
 * waiting longer after each failure: one stream and at most one request per 30 s, never a storm.
 */

export type ChannelState = 'running' | 'paused' | 'failing';

export interface OverviewCounts {
  received: number;
  filtered: number;
  rejected: number;
  errored: number;
  processed: number;
  failed: number;
  sent: number;
  dead_lettered: number;
}

export interface OverviewDestination {
  name: string;
  type: string;
  ordering: string;
  /** null: no worker in the answering process knows. */
  up: boolean | null;
  down_since?: string;
  down_reason?: string;
  queued: number;
  oldest_queued_at?: string;
  dead_letters: number;
}

export interface OverviewChannel {
  id: string;
  description?: string;
  state: ChannelState;
  state_reason?: string;
  paused: boolean;
  source: { type: string; listening?: string };
  last_24h: OverviewCounts;
  queued: number;
  destinations: OverviewDestination[];
}

export interface Overview {
  generated_at: string;
  channels: OverviewChannel[];
}

export const OVERVIEW_KEY = ['overview'] as const;
/** How often the overview is fetched while the stream is down. */
export const FALLBACK_POLL_MS = 30_000;
/** The longest wait before the stream is tried again. */
export const MAX_RECONNECT_MS = 5 * 60_000;

/** How the page is kept up to date: the stream is opening, open, or down (fetching every 30 s). */
export type LiveState = 'connecting' | 'live' | 'polling';

/** The wait before opening the stream again after `failures` failures in a row (30 s, 60 s, … 5 min). */
export function reconnectDelay(failures: number): number {
  const n = Math.max(1, failures);
  return Math.min(FALLBACK_POLL_MS * 2 ** (n - 1), MAX_RECONNECT_MS);
}

/** An `overview` event's data, or undefined when it is not an overview. */
export function parseOverview(data: unknown): Overview | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const v = JSON.parse(data) as Partial<Overview> | null;
    if (!v || typeof v !== 'object' || !Array.isArray(v.channels) || typeof v.generated_at !== 'string')
      return undefined;
    return v as Overview;
  } catch {
    return undefined;
  }
}

/** What the live feed needs of an EventSource (the browser's, or a stand-in in tests). */
export interface StreamLike {
  addEventListener(type: string, listener: (e: { data?: unknown }) => void): void;
  close(): void;
  onerror: ((e: unknown) => void) | null;
}

export interface LiveFeedOptions {
  open?: (url: string) => StreamLike;
  setTimer?: (f: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

/**
 * One stream per query cache, however many components want it: opened by the first
 * `acquire`, closed when the last one lets go.
 */
export class LiveFeed {
  private stream: StreamLike | undefined;
  private users = 0;
  private failures = 0;
  private retry: unknown;
  private state: LiveState = 'connecting';
  private readonly listeners = new Set<(s: LiveState) => void>();
  private readonly open: (url: string) => StreamLike;
  private readonly setTimer: (f: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;

  constructor(
    private readonly queries: QueryClient,
    options: LiveFeedOptions = {},
  ) {
    this.open =
      options.open ?? ((url) => new EventSource(url, { withCredentials: true }) as unknown as StreamLike);
    this.setTimer = options.setTimer ?? ((f, ms) => setTimeout(f, ms));
    this.clearTimer = options.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>));
  }

  get current(): LiveState {
    return this.state;
  }

  /** Starts listening (opening the stream if none is open); the returned function stops. */
  acquire(onState: (s: LiveState) => void): () => void {
    this.listeners.add(onState);
    onState(this.state);
    this.users++;
    if (this.users === 1) this.connect();
    return () => {
      this.listeners.delete(onState);
      this.users--;
      if (this.users === 0) this.stop();
    };
  }

  private set(state: LiveState): void {
    if (state === this.state) return;
    this.state = state;
    for (const l of this.listeners) l(state);
  }

  private connect(): void {
    this.retry = undefined;
    let stream: StreamLike;
    try {
      stream = this.open('/api/v1/events');
    } catch {
      this.failed();
      return;
    }
    this.stream = stream;
    stream.addEventListener('overview', (e) => {
      const overview = parseOverview(e.data);
      if (!overview) return;
      this.failures = 0;
      this.queries.setQueryData(OVERVIEW_KEY, overview);
      this.set('live');
    });
    stream.onerror = () => {
      // The browser would reconnect on its own every few seconds (or never, after a 4xx):
      // the stream is closed here and tried again on this feed's own, slower schedule.
      if (this.stream !== stream) return;
      stream.close();
      this.stream = undefined;
      this.failed();
    };
  }

  private failed(): void {
    this.failures++;
    this.set('polling');
    if (this.users > 0) this.retry = this.setTimer(() => this.connect(), reconnectDelay(this.failures));
  }

  private stop(): void {
    if (this.retry !== undefined) this.clearTimer(this.retry);
    this.retry = undefined;
    this.stream?.close();
    this.stream = undefined;
    this.failures = 0;
    this.state = 'connecting';
  }
}

const feeds = new WeakMap<QueryClient, LiveFeed>();

function feedFor(queries: QueryClient): LiveFeed {
  let feed = feeds.get(queries);
  if (!feed) {
    feed = new LiveFeed(queries);
    feeds.set(queries, feed);
  }
  return feed;
}

/** The overview, kept current by the event stream (or by a fetch every 30 s while it is down). */
export function useOverview() {
  const queries = useQueryClient();
  const [live, setLive] = useState<LiveState>(() => feedFor(queries).current);
  useEffect(() => feedFor(queries).acquire(setLive), [queries]);
  const query = useQuery({
    queryKey: OVERVIEW_KEY,
    queryFn: ({ signal }) => api<Overview>('/api/v1/overview', { signal }),
    refetchInterval: live === 'polling' ? FALLBACK_POLL_MS : false,
    // While the stream is open it is the source of truth: no refetch on mount.
    staleTime: live === 'live' ? Infinity : 10_000,
  });
  return { ...query, live };
}
