import { parseHl7DateTime } from '@sinew/hl7v2';
import { z } from 'zod';
import { MappingError, MappingErrorCode } from '../errors';
import { defineFunction } from './define';

function invalid(value: string): never {
  throw new MappingError(
    MappingErrorCode.InvalidDate,
    `not an HL7 date/time (expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ], got ${value.length} characters)`,
  );
}

const two = (n: number) => String(n).padStart(2, '0');

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
    const dt = parseHl7DateTime(value.trim());
    if (!dt) invalid(value);
    let date = String(dt.year).padStart(4, '0');
    if (dt.month !== undefined) date += `-${two(dt.month)}`;
    if (dt.day !== undefined) date += `-${two(dt.day)}`;
    if (args.type === 'date' || dt.hour === undefined) return date;
    const off = dt.offsetMinutes;
    const offset =
      off === undefined
        ? args.default_offset
        : `${off < 0 ? '-' : '+'}${two(Math.trunc(Math.abs(off) / 60))}:${two(Math.abs(off) % 60)}`;
    if (dt.day === undefined) return date;
    if (!offset) {
      if (args.type === 'instant') invalid(value);
      return date;
    }
    const time = `${two(dt.hour)}:${two(dt.minute ?? 0)}:${two(dt.second ?? 0)}`;
    return `${date}T${time}${dt.fraction ? `.${dt.fraction}` : ''}${offset}`;
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
