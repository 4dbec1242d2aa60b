import { hasScope, mayUseChannel, type Principal } from '@sinew/auth';
import type { EngineLogger } from '@sinew/engine';
import type { Response } from 'express';
import type { Overview } from './overview';

/** Open event streams a principal may hold at once (per API process). */
export const MAX_STREAMS_PER_PRINCIPAL = 5;
/** A `: ping` comment this often keeps proxies from closing a quiet stream. */
export const PING_INTERVAL_MS = 15_000;
/** After a computation that took T, the next waits at least this many T. */
const SLOW_FACTOR = 4;
/** A subscriber this far behind (bytes not yet taken by its socket) is cut off; it reconnects. */
const MAX_BUFFERED = 1024 * 1024;

/** The caller's credentials checked again: its principal now, or undefined when they no longer hold. */
export type Recheck = () => Promise<Principal | undefined>;

interface Subscriber {
  principal: Principal;
  recheck?: Recheck;
  key: string;
  res: Response;
  /** The last view sent (its channels as JSON), to send only changes. */
  last?: string;
}

export type OpenResult = 'open' | 'too_many' | 'closed';

/**
 * The live overview for server-sent events: ONE timer computes the overview for every
 * subscriber (only while there is one), and each subscriber gets the channels its principal
 * may use, whenever that view changed. A `: ping` comment goes out every 15 s. Each stream's
 * credentials are checked again every few intervals: a session signed out or expired, a user
 * disabled, a key revoked or a scope taken away ends the stream. `close()` ends every stream
 * and stops the timers (the HTTP server can then close).
 */
export class OverviewEvents {
  private readonly subscribers = new Set<Subscriber>();
  private timer?: NodeJS.Timeout;
  private pinger?: NodeJS.Timeout;
  private computing?: Promise<Overview | undefined>;
  private failing = false;
  private closed = false;
  private lastRecheck = Date.now();
  private resumeAt = 0;

  constructor(
    private readonly compute: () => Promise<Overview>,
    private readonly options: {
      intervalMs: number;
      logger: EngineLogger;
      pingMs?: number;
      maxPerPrincipal?: number;
      /** How often the streams' credentials are checked again (default: 5 intervals, at most 15 s). */
      recheckMs?: number;
    },
  ) {}

  private get recheckMs(): number {
    return this.options.recheckMs ?? Math.min(5 * this.options.intervalMs, 15_000);
  }

  /** Open streams in this process. */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Starts a stream on `res` for `principal`: the headers at once, the overview as soon as it
   * is computed, then every change. Refused (nothing written) when the principal holds the
   * most streams already, or when the events are closed (the process is stopping).
   */
  open(principal: Principal, res: Response, recheck?: Recheck): OpenResult {
    if (this.closed) return 'closed';
    const key = `${principal.kind}:${principal.id}`;
    let held = 0;
    for (const s of this.subscribers) if (s.key === key) held++;
    if (held >= (this.options.maxPerPrincipal ?? MAX_STREAMS_PER_PRINCIPAL)) return 'too_many';
    const sub: Subscriber = { principal, key, res, ...(recheck ? { recheck } : {}) };
    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    // Proxies that buffer answers (nginx) pass this one through as it is written.
    res.setHeader('x-accel-buffering', 'no');
    // One stream per connection: when it ends, so does the connection (a stop does not wait on it).
    res.setHeader('connection', 'close');
    res.flushHeaders();
    this.subscribers.add(sub);
    res.on('close', () => this.remove(sub));
    this.startTimers();
    void this.refresh().then((overview) => overview && this.deliver(sub, overview));
    return 'open';
  }

  /**
   * Ends every stream and stops the timers; later streams are refused. Resolves once the
   * streams' connections have closed (at most a second each), so that what is written when an
   * answer ends (its audit row) is under way before the ledger closes.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stopTimers();
    const ended = [...this.subscribers].map(
      (sub) =>
        new Promise<void>((resolve) => {
          this.subscribers.delete(sub);
          if (sub.res.destroyed) return resolve();
          const timer = setTimeout(resolve, 1_000);
          sub.res.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          sub.res.end();
        }),
    );
    await Promise.all([...ended, this.computing]);
  }

  private remove(sub: Subscriber): void {
    this.subscribers.delete(sub);
    if (this.subscribers.size === 0) this.stopTimers();
  }

  private startTimers(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
    this.pinger = setInterval(() => {
      for (const sub of this.subscribers) this.write(sub, ': ping\n\n');
    }, this.options.pingMs ?? PING_INTERVAL_MS);
    this.pinger.unref();
  }

  private stopTimers(): void {
    clearInterval(this.timer);
    clearInterval(this.pinger);
    this.timer = undefined;
    this.pinger = undefined;
  }

  private async tick(): Promise<void> {
    // A computation still running, or a slow one just before: this tick is skipped, not queued.
    if (this.computing || Date.now() < this.resumeAt) return;
    if (Date.now() - this.lastRecheck >= this.recheckMs) {
      this.lastRecheck = Date.now();
      await this.recheck();
    }
    const started = Date.now();
    const overview = await this.refresh();
    // At most about a fifth of the time spent computing: a slow ledger spaces the checks out.
    this.resumeAt = Date.now() + SLOW_FACTOR * (Date.now() - started);
    if (!overview) return;
    for (const sub of this.subscribers) this.deliver(sub, overview);
  }

  /** Ends the streams whose credentials no longer hold; the others take their principal as it is now. */
  private async recheck(): Promise<void> {
    await Promise.all(
      [...this.subscribers].map(async (sub) => {
        if (!sub.recheck) return;
        // A ledger that does not answer keeps the stream: the next check decides.
        const now = await sub.recheck().catch(() => sub.principal);
        if (!this.subscribers.has(sub)) return;
        if (now && hasScope(now, 'channels:read')) {
          sub.principal = now;
          return;
        }
        this.remove(sub);
        sub.res.end();
      }),
    );
  }

  /** The overview computed now, shared by everyone who asks while it is computed. */
  private refresh(): Promise<Overview | undefined> {
    this.computing ??= this.compute()
      .then((overview) => {
        if (this.failing) this.options.logger.info({}, 'live overview computed again');
        this.failing = false;
        return overview;
      })
      .catch((err: unknown) => {
        // Logged once per run of failures, not every interval.
        if (!this.failing && !this.closed)
          this.options.logger.warn(
            { err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) },
            'the live overview could not be computed; streams wait for the next one',
          );
        this.failing = true;
        return undefined;
      })
      .finally(() => {
        this.computing = undefined;
      });
    return this.computing;
  }

  /** Sends the subscriber its view of the overview when it differs from the last one sent. */
  private deliver(sub: Subscriber, overview: Overview): void {
    if (!this.subscribers.has(sub)) return;
    const channels = overview.channels.filter((c) => mayUseChannel(sub.principal, c.id));
    const view = JSON.stringify(channels);
    if (view === sub.last) return;
    sub.last = view;
    this.write(
      sub,
      `event: overview\ndata: ${JSON.stringify({ generated_at: overview.generated_at, channels })}\n\n`,
    );
  }

  private write(sub: Subscriber, text: string): void {
    if (sub.res.writableLength > MAX_BUFFERED) {
      sub.res.destroy();
      this.remove(sub);
      return;
    }
    sub.res.write(text);
  }
}
