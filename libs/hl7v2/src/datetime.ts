/** How much of a date/time an HL7 value gives. */
export type Hl7DateTimePrecision = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'fraction';

/** A valid HL7 DTM / DT / TS value, taken apart. */
export interface Hl7DateTime {
  year: number;
  month?: number;
  day?: number;
  hour?: number;
  minute?: number;
  second?: number;
  /** Fraction of a second as written (1 to 4 digits). */
  fraction?: string;
  /** The `+/-ZZZZ` offset in minutes east of UTC, when written. */
  offsetMinutes?: number;
  precision: Hl7DateTimePrecision;
  /**
   * Milliseconds since the epoch, for comparing: missing parts take their lowest value (a
   * year is its 1 January, 00:00) and a value without an offset is read as UTC.
   */
  epochMs: number;
}

const DTM =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?(?:([+-])(\d{2})(\d{2}))?$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Parses an HL7 date/time, `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]` (DTM; DT and the
 * first component of TS are subsets), with calendar checks: `20240230` and `20230229` are
 * refused, `20240229` is accepted. Offsets run from -1200 to +1400. Returns undefined when the
 * text is not a valid value.
 */
export function parseHl7DateTime(text: string): Hl7DateTime | undefined {
  const m = DTM.exec(text);
  if (!m) return undefined;
  const num = (i: number): number | undefined => (m[i] === undefined ? undefined : Number(m[i]));
  const year = num(1) as number;
  const month = num(2);
  const day = num(3);
  const hour = num(4);
  const minute = num(5);
  const second = num(6);
  const fraction = m[7];
  if (year < 1) return undefined;
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > daysInMonth(year, month as number))) return undefined;
  if (hour !== undefined && hour > 23) return undefined;
  if (minute !== undefined && minute > 59) return undefined;
  if (second !== undefined && second > 59) return undefined;
  let offsetMinutes: number | undefined;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (om > 59) return undefined;
    offsetMinutes = (m[8] === '-' ? -1 : 1) * (oh * 60 + om);
    if (offsetMinutes < -12 * 60 || offsetMinutes > 14 * 60) return undefined;
  }
  const precision: Hl7DateTimePrecision =
    fraction !== undefined
      ? 'fraction'
      : second !== undefined
        ? 'second'
        : minute !== undefined
          ? 'minute'
          : hour !== undefined
            ? 'hour'
            : day !== undefined
              ? 'day'
              : month !== undefined
                ? 'month'
                : 'year';
  const ms = fraction === undefined ? 0 : Math.round(Number(`0.${fraction}`) * 1000);
  const utc = new Date(0);
  utc.setUTCFullYear(year, (month ?? 1) - 1, day ?? 1);
  utc.setUTCHours(hour ?? 0, minute ?? 0, second ?? 0, ms);
  const epochMs = utc.getTime() - (offsetMinutes ?? 0) * 60_000;
  return { year, month, day, hour, minute, second, fraction, offsetMinutes, precision, epochMs };
}

/** True when `text` is a valid HL7 DTM / DT / TS time value. */
export function isHl7DateTime(text: string): boolean {
  return parseHl7DateTime(text) !== undefined;
}
