import { Controller, Inject, UseGuards } from '@nestjs/common';
import { mayUseChannel, type Principal } from '@sinew/auth';
import { MAX_STATS_WINDOW_MS, type ChannelStats } from '@sinew/store';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { DELIVERY_STATUSES, idParam, instant } from './schemas';

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

const statsQuery = z.strictObject({
  since: instant.optional().describe('Start of the window (ISO 8601; default: 7 days before `until`)'),
  until: instant
    .optional()
    .describe('End of the window (ISO 8601; default: now). At most 31 days after `since`.'),
});

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

/** Channel statistics, read from the ledger (they survive restarts). */
@Controller()
@UseGuards(ApiGuard)
export class StatsController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/channels/{id}/stats',
    operationId: 'channelStats',
    summary: 'A channel’s statistics per hour, its queue, and latency percentiles',
    description:
      'Read from the ledger, so they survive restarts. Per hour of the window (the last 7 days by default, at most 31): messages received, filtered, rejected and errored (by the hour they were received), deliveries sent and dead-lettered (by the hour their attempt finished, for the messages received in the window); the deliveries not finished now; ACK and end-to-end latency percentiles over the window. A channel no longer deployed answers from its history; one the ledger never saw, with zeros.',
    tag: 'Channels',
    scope: 'channels:read',
    params: z.strictObject({ id: idParam }),
    query: statsQuery,
    response: statsResponse,
    errors: [404],
  })
  async stats(
    @Input('params') p: { id: string },
    @Input('query') q: z.output<typeof statsQuery>,
    @Ctx() c: ApiContext,
  ): Promise<StatsResponse> {
    const principal = c.principal as Principal;
    // From the ledger: a channel no longer deployed still has its history.
    if (!mayUseChannel(principal, p.id))
      throw new ApiProblem({ status: 404, code: 'channel.not_found', detail: `no channel ${p.id}` });
    const until = q.until ?? new Date();
    const since = q.since ?? new Date(until.getTime() - DEFAULT_STATS_WINDOW_MS);
    const span = until.getTime() - since.getTime();
    if (span <= 0 || span > MAX_STATS_WINDOW_MS)
      throw new ApiProblem({
        status: 400,
        code: 'request.invalid',
        detail: 'invalid query',
        invalid_params: [
          {
            name: q.since ? 'query.since' : 'query.until',
            reason: span <= 0 ? 'since must be before until' : 'the window is at most 31 days',
          },
        ],
      });
    c.objectIds.push(p.id);
    return statsBody(p.id, await this.deps.store.channelStats(p.id, since, until));
  }
}
