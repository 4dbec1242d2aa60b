import { Cron } from 'croner';
import type { Period } from './types';

/** The period forms a reconciliation (or `--period`) may name. */
export const PERIOD_FORMS = [
  'yesterday',
  'today',
  'all',
  'last_24h',
  'last_7d',
  'last_30d',
  'YYYY-MM-DD',
  'YYYY-MM-DD..YYYY-MM-DD',
] as const;

export class PeriodError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeriodError';
  }
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** Whether `timezone` is an IANA time zone name this runtime knows (`UTC` included). */
export function isTimeZone(timezone: string): boolean {
  if (!timezone) return false;
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock parts of an instant in a time zone. */
export function zonedParts(
  t: number,
  timezone: string,
): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timezone).formatToParts(new Date(t)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return {
    year: parts.year as number,
    month: parts.month as number,
    day: parts.day as number,
    hour: (parts.hour as number) % 24,
    minute: parts.minute as number,
    second: parts.second as number,
  };
}

/** The time zone's offset from UTC at instant `t`, in milliseconds (east positive). */
export function zoneOffset(t: number, timezone: string): number {
  const p = zonedParts(t, timezone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(t / 1000) * 1000;
}

/**
 * The instant at which a wall-clock time occurs in a time zone. A time that occurs twice (clocks
 * going back) gives the first occurrence; a time skipped by clocks going forward is read with
 * the offset before the change (02:30 in a 02:00→03:00 gap is 03:30), so a midnight that does
 * not exist gives the first instant of the day.
 */
export function zonedTime(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
  timezone: string,
): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // The offsets just before and after: the earlier candidate is the first occurrence.
  const candidates = [zoneOffset(wall - DAY / 2, timezone), zoneOffset(wall + DAY / 2, timezone)]
    .map((off) => wall - off)
    .filter((t) => zoneOffset(t, timezone) + t === wall)
    .sort((a, b) => a - b);
  if (candidates.length) return candidates[0] as number;
  // In a gap: the wall time does not exist.
  return wall - zoneOffset(wall - DAY / 2, timezone);
}

/** Midnight starting a calendar day in a time zone (the first instant of that day). */
export function startOfDay(year: number, month: number, day: number, timezone: string): Date {
  return new Date(zonedTime(year, month, day, 0, 0, 0, 0, timezone));
}

interface Day {
  year: number;
  month: number;
  day: number;
}

function addDays(d: Day, n: number): Day {
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day + n));
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

function parseDay(text: string): Day | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  const d = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day));
  if (t.getUTCFullYear() !== d.year || t.getUTCMonth() + 1 !== d.month || t.getUTCDate() !== d.day)
    return undefined;
  return d;
}

const dayStart = (d: Day, tz: string) => startOfDay(d.year, d.month, d.day, tz);

/**
 * The time range a period names, `[from, to)`, with days taken in `timezone` (DST-correct: a
 * day may last 23 or 25 hours):
 * - `yesterday`, `today`: that whole day;
 * - `last_7d`, `last_30d`: the 7 (30) whole days before today;
 * - `last_24h`: the 24 hours before `now`;
 * - `all`: no bounds;
 * - `YYYY-MM-DD`: that day; `YYYY-MM-DD..YYYY-MM-DD`: from the first day to the last, both included.
 * Throws PeriodError for anything else.
 */
export function resolvePeriod(spec: string, timezone: string, now: Date): Period {
  if (!isTimeZone(timezone)) throw new PeriodError(`unknown time zone ${timezone}`);
  const text = spec.trim();
  const nowParts = zonedParts(now.getTime(), timezone);
  const today: Day = { year: nowParts.year, month: nowParts.month, day: nowParts.day };
  switch (text) {
    case 'all':
      return { label: 'all' };
    case 'today':
      return { from: dayStart(today, timezone), to: dayStart(addDays(today, 1), timezone), label: text };
    case 'yesterday':
      return { from: dayStart(addDays(today, -1), timezone), to: dayStart(today, timezone), label: text };
    case 'last_7d':
    case 'last_30d': {
      const n = text === 'last_7d' ? 7 : 30;
      return { from: dayStart(addDays(today, -n), timezone), to: dayStart(today, timezone), label: text };
    }
    case 'last_24h':
      return { from: new Date(now.getTime() - DAY), to: new Date(now.getTime()), label: text };
  }
  const range = /^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?$/.exec(text);
  if (range) {
    const first = parseDay(range[1] as string);
    const last = range[2] === undefined ? first : parseDay(range[2]);
    if (!first || !last) throw new PeriodError(`${text} is not a calendar date`);
    const from = dayStart(first, timezone);
    const to = dayStart(addDays(last, 1), timezone);
    if (to.getTime() <= from.getTime()) throw new PeriodError(`${text}: the last day is before the first`);
    return { from, to, label: text };
  }
  throw new PeriodError(`${spec} is not a period; write ${PERIOD_FORMS.join(', ')}`);
}

/** Why a period text is not one (undefined when it is). */
export function periodProblem(spec: string): string | undefined {
  try {
    resolvePeriod(spec, 'UTC', new Date(0));
    return undefined;
  } catch (err) {
    if (err instanceof PeriodError) return err.message;
    throw err;
  }
}

/** The last day a period covers, `YYYY-MM-DD` in `timezone` (today's date for `all`). */
export function periodLastDay(period: Period, timezone: string, now: Date): string {
  const t = period.to ? period.to.getTime() - 1 : now.getTime();
  const p = zonedParts(t, timezone);
  return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

function cron(expression: string, timezone: string): Cron {
  if (expression.trim().split(/\s+/).length !== 5)
    throw new PeriodError(`${expression} is not a 5-field cron expression (minute hour day month weekday)`);
  try {
    return new Cron(expression, { timezone, mode: '5-part', paused: true });
  } catch (err) {
    throw new PeriodError(`${expression} is not a cron expression: ${(err as Error).message}`);
  }
}

/** Why a 5-field cron expression is not one (undefined when it is). */
export function cronProblem(expression: string): string | undefined {
  try {
    cron(expression, 'UTC').stop();
    return undefined;
  } catch (err) {
    if (err instanceof PeriodError) return err.message;
    throw err;
  }
}

/** The first time the schedule fires strictly after `after`. */
export function nextRun(expression: string, timezone: string, after: Date): Date | undefined {
  const job = cron(expression, timezone);
  try {
    return job.nextRun(after) ?? undefined;
  } finally {
    job.stop();
  }
}

/** The last time the schedule fired strictly before `before`. */
export function previousRun(expression: string, timezone: string, before: Date): Date | undefined {
  const job = cron(expression, timezone);
  try {
    const [last] = job.previousRuns(2, before).filter((d) => d.getTime() < before.getTime());
    return last;
  } finally {
    job.stop();
  }
}
