/** Small helpers for writing the sandbox's HL7 v2 messages (default delimiters `|^~\&`). */

/** Escapes text for one HL7 v2 component, so a generated value never splits a field. */
export function esc(value: string): string {
  return value.replace(/[\\|^&~]/g, (c) => {
    switch (c) {
      case '\\':
        return '\\E\\';
      case '|':
        return '\\F\\';
      case '^':
        return '\\S\\';
      case '&':
        return '\\T\\';
      default:
        return '\\R\\';
    }
  });
}

/** A segment from its fields, trailing empty fields left out. */
export function segment(id: string, ...fields: Array<string | number | undefined>): string {
  const values = fields.map((f) => (f === undefined ? '' : String(f)));
  while (values.length > 0 && values[values.length - 1] === '') values.pop();
  return [id, ...values].join('|');
}

/** Components joined by `^`, trailing empty ones left out. */
export function comp(...parts: Array<string | number | undefined>): string {
  const values = parts.map((p) => (p === undefined ? '' : String(p)));
  while (values.length > 0 && values[values.length - 1] === '') values.pop();
  return values.join('^');
}

/** Clinic time: minutes since midnight of the first day, in the clinic's fixed UTC offset. */
export class ClinicClock {
  private readonly baseMs: number;

  /**
   * @param startDate first day, `YYYY-MM-DD`
   * @param offset the clinic's UTC offset, `+HHMM` or `-HHMM`
   */
  constructor(
    startDate: string,
    readonly offset: string,
  ) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(startDate);
    if (!m) throw new Error(`the start date must be YYYY-MM-DD, not ${JSON.stringify(startDate)}`);
    if (!/^[+-]\d{4}$/.test(offset)) throw new Error(`the UTC offset must be +HHMM or -HHMM`);
    this.baseMs = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    if (new Date(this.baseMs).toISOString().slice(0, 10) !== startDate) {
      throw new Error(`the start date ${startDate} is not a date`);
    }
  }

  /** The wall-clock fields of a clinic time. */
  private wall(minutes: number): Date {
    return new Date(this.baseMs + minutes * 60_000);
  }

  /** `YYYYMMDDHHMMSS+ZZZZ`. */
  stamp(minutes: number): string {
    const d = this.wall(minutes);
    return `${ymd(d)}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}${this.offset}`;
  }

  /** `YYYYMMDD`. */
  date(minutes: number): string {
    return ymd(this.wall(minutes));
  }

  /** ISO 8601 with the offset, for people and JSON. */
  iso(minutes: number): string {
    const d = this.wall(minutes);
    const off = `${this.offset.slice(0, 3)}:${this.offset.slice(3)}`;
    return `${d.toISOString().slice(0, 19)}${off}`;
  }

  /** Day of the week of day `day` (0 = Sunday). */
  weekday(day: number): number {
    return this.wall(day * 1440).getUTCDay();
  }

  /** The calendar date `days` days before the first day, `YYYYMMDD`. */
  daysBefore(days: number): string {
    return ymd(this.wall(-days * 1440));
  }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function ymd(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
}
