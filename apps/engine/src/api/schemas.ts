import { SCOPES, type IngestScope } from '@sinew/auth';
import { z } from 'zod';

/** Shared pieces of the admin API's request and response schemas. */

export const MESSAGE_STATUSES = [
  'received',
  'filtered',
  'rejected',
  'errored',
  'processed',
  'delivered',
  'failed',
] as const;
export const DELIVERY_STATUSES = ['pending', 'retrying', 'parked', 'sent', 'dead_lettered'] as const;

/** An id in a path: printable, bounded (ids are UUIDs, channel names, `<uuid>.<destination>`). */
export const idParam = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'not a valid id');

/** An ISO 8601 instant in a query string. */
export const instant = z
  .string()
  .max(40)
  .refine(
    (v) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) && !Number.isNaN(Date.parse(v)),
    {
      message: 'expected an ISO 8601 date-time such as 2026-12-01T00:00:00Z',
    },
  )
  .transform((v) => new Date(v));

/** A positive integer in a query string, within bounds. */
export const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** `true`/`false` in a query string. */
export const queryBool = z.enum(['true', 'false']).transform((v) => v === 'true');

/** Bytes as JSON: UTF-8 text when they are, else base64. */
export const content = z
  .object({
    encoding: z.enum(['utf8', 'base64']),
    data: z.string(),
    bytes: z.number().int(),
  })
  .describe('Bytes as stored: text when they are valid UTF-8, else base64');

export const issue = z.object({
  severity: z.enum(['error', 'warning']),
  code: z.string(),
  location: z.string().optional(),
  message: z.string(),
  step: z.string().optional(),
});

/** A scope: one of the declared ones, or `ingest:<channel>` (sending to a channel's HTTP source). */
export const scopeSchema = z.union([
  z.enum(SCOPES),
  z
    .string()
    .regex(/^ingest:[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, 'a declared scope, or ingest:<channel>')
    .transform((v) => v as IngestScope),
]);
