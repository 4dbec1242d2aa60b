import { MAX_STATS_WINDOW_MS, type ChannelStats } from '@sinew/store';
import { z } from 'zod';
import { DELIVERY_STATUSES } from './schemas';

/**
 * Channel statistics as the admin API answers them (`GET /api/v1/channels/{id}/stats`), shared
 * with `sinew channels stats` on a local ledger. No framework here: the CLI bundles it.
 */

/** The window a statistics request covers when it names none: the last 7 days. */
export const DEFAULT_STATS_WINDOW_MS = 7 * 24 * 3600_000;

const counters = {
  received: z.number().int().describe('Messages received (every outcome)'),
  filtered: z.number().int().describe('Of those, dropped by a filter'),
  rejected: z.number().int().describe('Of those, refused by a validate or map step'),
  errored: z.number().int().describe('Of those, a step failed on (dead-lettered before delivery)'),
  sent: z.number().int().describe('Deliveries sent (by the hour the attempt finished)'),
  dead_lettered: z
    .number()
    .int()
    .describe('Deliveries dead-lettered (by the hour the last attempt finished)'),
};

const percentiles = z.object({
  count: z.number().int().describe('How many values were measured'),
  p50: z.number().optional(),
  p95: z.number().optional(),
  p99: z.number().optional(),
});

export const statsResponse = z.object({
  channel: z.string(),
  since: z.string(),
  until: z.string(),
  hours: z.array(z.object({ hour: z.string().describe('Start of the hour (UTC)'), ...counters })),
  totals: z.object(counters),
  queued: z.object({
    total: z.number().int(),
    by_status: z.partialRecord(z.enum(DELIVERY_STATUSES), z.number().int()),
  }),
  ack_latency_ms: percentiles.describe(
    'Receipt to the ledger commit the ACK follows, for messages acknowledged on receipt (ack.when: received)',
  ),
  end_to_end_latency_ms: percentiles.describe('Receipt to a delivery sent, for every delivery sent'),
});
export type StatsResponse = z.output<typeof statsResponse>;

/** A store's statistics as the admin API (and `sinew channels stats --json`) answers them. */
export function statsBody(channel: string, s: ChannelStats): StatsResponse {
  const totals = { received: 0, filtered: 0, rejected: 0, errored: 0, sent: 0, dead_lettered: 0 };
  const hours = s.hours.map((h) => {
    const row = {
      received: h.received,
      filtered: h.filtered,
      rejected: h.rejected,
      errored: h.errored,
      sent: h.sent,
      dead_lettered: h.deadLettered,
    };
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += row[k];
    return { hour: h.hour.toISOString(), ...row };
  });
  return {
    channel,
    since: s.since.toISOString(),
    until: s.until.toISOString(),
    hours,
    totals,
    queued: { total: Object.values(s.queued).reduce((a, b) => a + (b ?? 0), 0), by_status: s.queued },
    ack_latency_ms: s.ackLatencyMs,
    end_to_end_latency_ms: s.endToEndMs,
  };
}

/** The window of a request: `until` defaults to now, `since` to 7 days before it; an error when it is not 1 ms to 31 days long. */
export function statsWindow(
  since: Date | undefined,
  until: Date | undefined,
  now = new Date(),
): { since: Date; until: Date } | { error: string } {
  const end = until ?? now;
  const start = since ?? new Date(end.getTime() - DEFAULT_STATS_WINDOW_MS);
  const span = end.getTime() - start.getTime();
  if (span <= 0) return { error: 'since must be before until' };
  if (span > MAX_STATS_WINDOW_MS) return { error: 'the window is at most 31 days' };
  return { since: start, until: end };
}
