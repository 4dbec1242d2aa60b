import { Cron } from 'croner';
import { z } from 'zod';
import { errorCode, httpUrl } from './common';
import type { IngestReply, Source, SourceContext, SourceCursor, SourceDefinition } from './connector';
import { JSON_PATH, readJsonPath } from './json-path';

function validCron(expr: string): boolean {
  try {
    new Cron(expr, { paused: true });
    return true;
  } catch {
    return false;
  }
}

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const httpFetchConfig = z
  .strictObject({
    url: httpUrl('https://pms.example/api/appointments', 'The endpoint called on each run (GET).'),
    headers: z
      .record(z.string(), z.string())
      .default({})
      .describe('Request headers (write secrets as `${ENV_VAR}`: `Authorization: Bearer ${PMS_TOKEN}`).'),
    items_path: z
      .string()
      .regex(JSON_PATH)
      .default('$')
      .describe(
        'Where the items are in the JSON response (`data`, `results.items`); `$`: the response is the array.',
      ),
    next_link_path: z
      .string()
      .regex(JSON_PATH)
      .optional()
      .describe(
        "Paging by link: where the next page's URL is in the response (`links.next`); none or empty ends the run.",
      ),
    cursor_path: z
      .string()
      .regex(JSON_PATH)
      .optional()
      .describe(
        'Paging by cursor: where the response gives the cursor for the next request (`meta.next_cursor`). The ' +
          'last cursor is kept in the ledger, and the next run starts from it (changes since the last run).',
      ),
    cursor_param: z
      .string()
      .min(1)
      .default('cursor')
      .describe('The query parameter that carries the cursor (with `cursor_path`).'),
    max_pages: z.number().int().min(1).default(100).describe('Pages read at most per run.'),
    timeout_ms: z.number().int().positive().default(30_000).describe('How long one request may take.'),
  })
  .refine((c) => c.next_link_path === undefined || c.cursor_path === undefined, {
    message: 'page either by next_link_path or by cursor_path, not both',
    path: ['cursor_path'],
  });

export const scheduleSourceConfig = z.strictObject({
  cron: z
    .string()
    .refine(validCron, {
      message: 'not a cron expression (5 or 6 fields: [second] minute hour day month weekday)',
    })
    .describe('When to run: a cron expression (`*/5 * * * *`, `0 2 * * *`; 6 fields add seconds).'),
  timezone: z
    .string()
    .default('UTC')
    .refine(validZone, { message: 'not an IANA time zone (e.g. Europe/Berlin, America/New_York)' })
    .describe(
      'The IANA time zone the cron expression is read in. Across DST changes: a time that does not exist ' +
        '(02:30 on the spring-forward day) runs at the first instant after the gap; a time that occurs twice runs once.',
    ),
  http: httpFetchConfig
    .optional()
    .describe(
      'Call an HTTP endpoint on each run and make a message of each item; without it, each run is one trigger message.',
    ),
  retry_interval_ms: z
    .number()
    .int()
    .positive()
    .default(30_000)
    .describe(
      'After a failed run (endpoint down, ledger unavailable), try the same run again after this long.',
    ),
});
export type ScheduleSourceConfig = z.output<typeof scheduleSourceConfig>;
type HttpFetch = NonNullable<ScheduleSourceConfig['http']>;

/** The next run strictly after `after`, in `timezone` (null when the expression never runs again). */
export function nextRun(cron: string, timezone: string, after: Date): Date | null {
  return new Cron(cron, { timezone, paused: true }).nextRun(after);
}

/** The latest run at or before `at`, if any. */
export function previousRun(cron: string, timezone: string, at: Date): Date | undefined {
  return new Cron(cron, { timezone, paused: true }).previousRuns(1, new Date(at.getTime() + 1))[0];
}

/**
 * The ledger cursor of a schedule source.
 * - `done`: the scheduled time (ISO) of the last run finished;
 * - `run`: the scheduled time of a run under way, with where it is: the `page` request (URL)
 *   and the items of that page already committed (`skip`);
 * - `cursor`: the paging cursor the next run starts from (cursor paging).
 */
export interface ScheduleCursor {
  done?: string;
  run?: { at: string; page: string; skip: number };
  cursor?: string;
}

/**
 * Runs on a cron schedule in a time zone: each run is a trigger message, or a call to an HTTP
 * endpoint whose items each become a message. What has run is kept in the ledger cursor, so
 * each scheduled time runs once across restarts; a run missed while stopped runs once at
 * start (the latest missed time only), and a run cut short resumes where it stopped.
 */
export class ScheduleSource implements Source {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly config: ScheduleSourceConfig,
    private readonly context: SourceContext,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private get cursor(): SourceCursor {
    const cursor = this.context.cursor;
    if (!cursor) throw new Error('schedule source: the engine keeps no ledger cursor for this channel');
    return cursor;
  }

  async start(): Promise<void> {
    void this.cursor;
    this.stopped = false;
    const state = await this.state();
    if (!state.done && !state.run) {
      // First start: nothing is overdue; mark now as the starting point.
      await this.save({ ...state, done: this.now().toISOString() });
    }
    this.plan(0);
  }

  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const running = this.running;
    if (!running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  describe(): string {
    return `schedule ${this.config.cron} (${this.config.timezone})${this.config.http ? ` → ${new URL(this.config.http.url).origin}` : ''}`;
  }

  private async state(): Promise<ScheduleCursor> {
    const text = await this.cursor.get();
    return text === undefined ? {} : (JSON.parse(text) as ScheduleCursor);
  }

  private save(state: ScheduleCursor): Promise<void> {
    return this.cursor.set(JSON.stringify(state));
  }

  /** Waits `delayMs`, then runs what is due (if anything) and plans the next wake-up. */
  private plan(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        this.running = this.tick()
          .catch((err: unknown) => {
            // Stopping ends a run between two items; the next start resumes it.
            if (this.stopped) return 0;
            this.context.logger.warn(
              { channelId: this.context.channelId, error: errorCode(err) },
              'schedule source: the run failed; it is tried again',
            );
            return this.config.retry_interval_ms;
          })
          .then((next) => {
            this.running = undefined;
            this.plan(next);
          });
      },
      Math.min(delayMs, 2 ** 31 - 1),
    );
  }

  /** Runs the due run (unfinished or latest missed), then returns the wait until the next one. */
  private async tick(): Promise<number> {
    const state = await this.state();
    const now = this.now();
    const { cron, timezone } = this.config;
    if (state.run) {
      await this.execute(state, new Date(state.run.at));
    } else {
      const due = previousRun(cron, timezone, now);
      const done = state.done ? new Date(state.done) : undefined;
      if (due && (!done || due > done)) await this.execute(state, due);
    }
    const next = nextRun(cron, timezone, this.now());
    return next ? Math.max(0, next.getTime() - this.now().getTime()) : 2 ** 31 - 1;
  }

  private async execute(state: ScheduleCursor, at: Date): Promise<void> {
    if (!this.config.http) {
      const done: ScheduleCursor = { ...state, done: at.toISOString() };
      delete done.run;
      const body = JSON.stringify({
        scheduled_at: at.toISOString(),
        timezone: this.config.timezone,
        fired_at: this.now().toISOString(),
      });
      const reply = await this.ingest(Buffer.from(body), done);
      if (reply.disposition.kind !== 'accepted') await this.save(done);
      return;
    }
    await this.fetchRun(state, at, this.config.http);
  }

  private firstPage(http: HttpFetch, state: ScheduleCursor): string {
    if (http.cursor_path === undefined || state.cursor === undefined) return http.url;
    const url = new URL(http.url);
    url.searchParams.set(http.cursor_param, state.cursor);
    return url.toString();
  }

  /** Reads the pages of one run, committing each item with the run's position. */
  private async fetchRun(state: ScheduleCursor, at: Date, http: HttpFetch): Promise<void> {
    const atText = at.toISOString();
    let page = state.run?.at === atText ? state.run.page : this.firstPage(http, state);
    let skip = state.run?.at === atText ? state.run.skip : 0;
    let cursor = state.cursor;
    for (let n = 0; n < http.max_pages; n++) {
      if (this.stopped) throw new Error('stopped');
      const response = await this.get(page, http);
      const items = readJsonPath(response, http.items_path);
      if (!Array.isArray(items))
        throw new Error(`schedule source: no array at ${http.items_path} in the response`);
      for (let i = skip; i < items.length; i++) {
        if (this.stopped) throw new Error('stopped');
        const position: ScheduleCursor = {
          ...state,
          ...(cursor !== undefined ? { cursor } : {}),
          run: { at: atText, page, skip: i + 1 },
        };
        const reply = await this.ingest(Buffer.from(JSON.stringify(items[i])), position);
        if (reply.disposition.kind !== 'accepted') await this.save(position);
      }
      const following = this.following(response, http, page);
      if (http.cursor_path !== undefined) {
        const c = readJsonPath(response, http.cursor_path);
        if (typeof c === 'string' || typeof c === 'number') cursor = String(c);
      }
      if (!following || items.length === 0) break;
      page = following;
      skip = 0;
      // The page is finished: the run goes on from the next one.
      await this.save({
        ...state,
        ...(cursor !== undefined ? { cursor } : {}),
        run: { at: atText, page, skip: 0 },
      });
    }
    const done: ScheduleCursor = { ...state, done: atText, ...(cursor !== undefined ? { cursor } : {}) };
    delete done.run;
    await this.save(done);
  }

  /** The next page's request, or undefined when this page was the last. */
  private following(response: unknown, http: HttpFetch, page: string): string | undefined {
    if (http.next_link_path !== undefined) {
      const link = readJsonPath(response, http.next_link_path);
      return typeof link === 'string' && link !== '' ? new URL(link, page).toString() : undefined;
    }
    if (http.cursor_path !== undefined) {
      const c = readJsonPath(response, http.cursor_path);
      if (typeof c !== 'string' && typeof c !== 'number') return undefined;
      const url = new URL(page);
      if (url.searchParams.get(http.cursor_param) === String(c)) return undefined;
      url.searchParams.set(http.cursor_param, String(c));
      return url.toString();
    }
    return undefined;
  }

  private async get(url: string, http: HttpFetch): Promise<unknown> {
    const response = await fetch(url, {
      headers: { accept: 'application/json', ...http.headers },
      signal: AbortSignal.timeout(http.timeout_ms),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw Object.assign(new Error(`HTTP ${response.status}`), { code: `HTTP_${response.status}` });
    }
    return (await response.json()) as unknown;
  }

  /** Hands a message over with the cursor after it; throws when the ledger did not take it. */
  private async ingest(body: Buffer, after: ScheduleCursor): Promise<IngestReply> {
    const reply = await this.context.ingest({
      body,
      contentType: 'json',
      source: 'schedule',
      cursor: JSON.stringify(after),
    });
    if (reply.disposition.kind === 'unavailable') throw new Error('the ledger is unavailable');
    if (reply.disposition.kind !== 'accepted') {
      this.context.logger.warn(
        { channelId: this.context.channelId, disposition: reply.disposition.kind },
        'schedule source: an item was not accepted by the channel; moving past it',
      );
    }
    return reply;
  }
}

export const scheduleSource: SourceDefinition<ScheduleSourceConfig> = {
  kind: 'source',
  type: 'schedule',
  produces: () => ['json'],
  description:
    'Runs on a cron schedule read in an IANA time zone. Without `http`, each run is one JSON message ' +
    '`{ "scheduled_at", "timezone", "fired_at" }` (a trigger for the channel). With `http`, each run calls the ' +
    'endpoint and each item of the response (at `items_path`) becomes a JSON message, page after page (by a ' +
    'next link or a cursor parameter); with cursor paging the last cursor is kept and the next run starts ' +
    'from it. A run missed while Sinew was stopped runs once when it starts (the latest missed time only, ' +
    'not once per missed time); the first start runs nothing until the first scheduled time.',
  guarantee:
    "At least once, and in fact once per scheduled time: the run's progress (which time, which page, how " +
    'many items) is committed in the ledger with each message, so a crash or restart neither repeats nor ' +
    'skips a time or an item (as long as the endpoint answers the same page the same way). Several engines ' +
    'running the same channel each run it.',
  configSchema: scheduleSourceConfig,
  example: {
    cron: '*/15 7-19 * * 1-5',
    timezone: 'Europe/Berlin',
    http: {
      url: 'https://pms.example/api/appointments/changes',
      headers: { authorization: 'Bearer ${PMS_TOKEN}' },
      items_path: 'data',
      cursor_path: 'next_cursor',
      cursor_param: 'since',
    },
  },
  create: (config, context) => new ScheduleSource(config, context),
};
