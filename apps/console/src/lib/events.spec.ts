import { QueryClient } from '@tanstack/react-query';
import {
  FALLBACK_POLL_MS,
  LiveFeed,
  MAX_RECONNECT_MS,
  OVERVIEW_KEY,
  parseOverview,
  reconnectDelay,
  type LiveState,
  type Overview,
  type StreamLike,
} from './events';

const overview: Overview = {
  generated_at: '2026-12-07T09:00:00.000Z',
  channels: [
    {
      id: 'lab-results',
      state: 'running',
      paused: false,
      source: { type: 'mllp', listening: '127.0.0.1:2575' },
      last_24h: {
        received: 3,
        filtered: 0,
        rejected: 0,
        errored: 0,
        processed: 3,
        failed: 0,
        sent: 3,
        dead_lettered: 0,
      },
      queued: 0,
      destinations: [],
    },
  ],
};

/** A stand-in for the browser's EventSource: the test fires its events. */
class Stream implements StreamLike {
  onerror: ((e: unknown) => void) | null = null;
  closed = false;
  private readonly listeners = new Map<string, Array<(e: { data?: unknown }) => void>>();
  constructor(readonly url: string) {}
  addEventListener(type: string, l: (e: { data?: unknown }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }
  close(): void {
    this.closed = true;
  }
  emit(type: string, data: string): void {
    for (const l of this.listeners.get(type) ?? []) l({ data });
  }
}

function harness() {
  const queries = new QueryClient();
  const streams: Stream[] = [];
  const timers: Array<{ f: () => void; ms: number; cleared: boolean }> = [];
  const feed = new LiveFeed(queries, {
    open: (url) => {
      const s = new Stream(url);
      streams.push(s);
      return s;
    },
    setTimer: (f, ms) => {
      const t = { f, ms, cleared: false };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      (t as { cleared: boolean }).cleared = true;
    },
  });
  const states: LiveState[] = [];
  return { queries, streams, timers, feed, states, onState: (s: LiveState) => states.push(s) };
}

describe('the live overview', () => {
  it('waits 30 s before trying the stream again, twice as long after each failure, at most 5 min', () => {
    expect(reconnectDelay(1)).toBe(FALLBACK_POLL_MS);
    expect(reconnectDelay(2)).toBe(60_000);
    expect(reconnectDelay(3)).toBe(120_000);
    expect(reconnectDelay(4)).toBe(240_000);
    expect(reconnectDelay(5)).toBe(MAX_RECONNECT_MS);
    expect(reconnectDelay(50)).toBe(MAX_RECONNECT_MS);
  });

  it('reads an overview event and nothing else', () => {
    expect(parseOverview(JSON.stringify(overview))).toEqual(overview);
    expect(parseOverview('not json')).toBeUndefined();
    expect(parseOverview('{"channels": 3, "generated_at": "x"}')).toBeUndefined();
    expect(parseOverview(undefined)).toBeUndefined();
  });

  it('puts each overview the stream pushes into the query cache and says it is live', () => {
    const h = harness();
    const stop = h.feed.acquire(h.onState);
    expect(h.streams).toHaveLength(1);
    expect(h.streams[0]?.url).toBe('/api/v1/events');
    h.streams[0]?.emit('overview', JSON.stringify(overview));
    expect(h.queries.getQueryData(OVERVIEW_KEY)).toEqual(overview);
    expect(h.states).toEqual(['connecting', 'live']);
    stop();
    expect(h.streams[0]?.closed).toBe(true);
  });

  it('opens one stream however many pages listen, and closes it when the last one stops', () => {
    const h = harness();
    const a = h.feed.acquire(() => undefined);
    const b = h.feed.acquire(() => undefined);
    expect(h.streams).toHaveLength(1);
    a();
    expect(h.streams[0]?.closed).toBe(false);
    b();
    expect(h.streams[0]?.closed).toBe(true);
  });

  it('falls back to polling when the stream fails, and reopens it later on its own schedule (no storm)', () => {
    const h = harness();
    const stop = h.feed.acquire(h.onState);
    const first = h.streams[0] as Stream;
    first.onerror?.({});
    // The browser's own quick reconnect is stopped: the stream is closed, the page polls.
    expect(first.closed).toBe(true);
    expect(h.states.at(-1)).toBe('polling');
    expect(h.timers.map((t) => t.ms)).toEqual([30_000]);
    expect(h.streams).toHaveLength(1);
    h.timers[0]?.f();
    expect(h.streams).toHaveLength(2);
    h.streams[1]?.onerror?.({});
    expect(h.timers.map((t) => t.ms)).toEqual([30_000, 60_000]);
    h.timers[1]?.f();
    // Back: the failures are forgotten.
    h.streams[2]?.emit('overview', JSON.stringify(overview));
    expect(h.states.at(-1)).toBe('live');
    h.streams[2]?.onerror?.({});
    expect(h.timers.at(-1)?.ms).toBe(30_000);
    stop();
    expect(h.timers.at(-1)?.cleared).toBe(true);
  });

  it('ignores an error of a stream it has already replaced', () => {
    const h = harness();
    h.feed.acquire(h.onState);
    const first = h.streams[0] as Stream;
    first.onerror?.({});
    h.timers[0]?.f();
    first.onerror?.({});
    expect(h.timers).toHaveLength(1);
    expect(h.streams[1]?.closed).toBe(false);
  });
});
