import { z } from 'zod';
import { MappingError, MappingErrorCode } from '../errors';
import { defineFunction } from './define';

const DTM =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

function invalid(value: string): never {
  throw new MappingError(
    MappingErrorCode.InvalidDate,
    `not an HL7 date/time (expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ], got ${value.length} characters)`,
  );
}

function check(n: string | undefined, min: number, max: number, value: string): void {
  if (n !== undefined && (Number(n) < min || Number(n) > max)) invalid(value);
}

/** Parts of an HL7 DTM, checked for range; `undefined` parts were not sent. */
export function parseHl7DateTime(value: string) {
  const m = DTM.exec(value.trim());
  if (!m) invalid(value);
  const [, y, mo, d, h, mi, s, frac, tz] = m as unknown as Array<string | undefined>;
  check(mo, 1, 12, value);
  if (d !== undefined) {
    const days = new Date(Date.UTC(Number(y), Number(mo), 0)).getUTCDate();
    check(d, 1, days, value);
  }
  check(h, 0, 23, value);
  check(mi, 0, 59, value);
  check(s, 0, 59, value);
  if (tz !== undefined) {
    check(tz.slice(1, 3), 0, 14, value);
    check(tz.slice(3, 5), 0, 59, value);
  }
  return { y: y as string, mo, d, h, mi, s, frac, tz };
}

/**
 * HL7 DTM/TS/DT → FHIR date or dateTime, keeping the precision that was sent. A dateTime with
 * a time needs an offset in FHIR: the message's own offset, else `default_offset`, else the
 * time is dropped to the day (FHIR forbids a time without offset).
 */
export const hl7DateTime = defineFunction({
  name: 'hl7_datetime',
  summary: 'HL7 DTM/TS/DT to a FHIR dateTime (or date with `type: date`), keeping the precision sent.',
  params: z.strictObject({
    type: z.enum(['dateTime', 'date', 'instant']).default('dateTime'),
    default_offset: z
      .string()
      .regex(/^[+-]\d{2}:\d{2}$/)
      .optional(),
  }),
  examples: [
    { input: '2026', output: '2026' },
    { input: '202603', output: '2026-03' },
    { input: '20260314', output: '2026-03-14' },
    { input: '202603141530+0100', output: '2026-03-14T15:30:00+01:00' },
    { input: '20260314153045.12-0500', output: '2026-03-14T15:30:45.12-05:00' },
    { input: '20260314153045', output: '2026-03-14' },
    { input: '20260314153045', args: { default_offset: '+00:00' }, output: '2026-03-14T15:30:45+00:00' },
    { input: '20260314153045+0100', args: { type: 'date' }, output: '2026-03-14' },
    { input: '20260230', error: 'map.invalid_date' },
    { input: '2026-03-14', error: 'map.invalid_date' },
  ],
  run(value, args) {
    const { y, mo, d, h, mi, s, frac, tz } = parseHl7DateTime(value);
    let date = y;
    if (mo) date += `-${mo}`;
    if (d) date += `-${d}`;
    if (args.type === 'date' || h === undefined) return date;
    const offset = tz ? `${tz.slice(0, 3)}:${tz.slice(3)}` : args.default_offset;
    if (!d) return date;
    if (!offset) {
      if (args.type === 'instant') invalid(value);
      return date;
    }
    return `${date}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ? `.${frac}` : ''}${offset}`;
  },
});

/** FHIR date/dateTime → HL7 DTM, keeping precision and offset. */
export const fhirToHl7DateTime = defineFunction({
  name: 'fhir_to_hl7_datetime',
  summary: 'FHIR date/dateTime/instant to an HL7 DTM, keeping precision and offset.',
  params: z.strictObject({}),
  examples: [
    { input: '2026-03-14', output: '20260314' },
    { input: '2026-03-14T15:30:00+01:00', output: '20260314153000+0100' },
    { input: '2026-03-14T15:30:00.250Z', output: '20260314153000.250+0000' },
    { input: 'yesterday', error: 'map.invalid_date' },
  ],
  run(value) {
    const m =
      /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(
        value.trim(),
      );
    if (!m) invalid(value);
    const [, y, mo = '', d = '', h = '', mi = '', s = '', frac, tz] = m as unknown as string[];
    let out = `${y}${mo}${d}${h}${mi}${s}`;
    if (frac) out += `.${frac.slice(0, 4)}`;
    if (tz) out += tz === 'Z' ? '+0000' : tz.replace(':', '');
    return out;
  },
});
