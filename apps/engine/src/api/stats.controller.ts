import { Controller, Inject, UseGuards } from '@nestjs/common';
import { mayUseChannel, type Principal } from '@sinew/auth';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { idParam, instant } from './schemas';
import { statsBody, statsResponse, statsWindow, type StatsResponse } from './stats-format';

const statsQuery = z.strictObject({
  since: instant.optional().describe('Start of the window (ISO 8601; default: 7 days before `until`)'),
  until: instant
    .optional()
    .describe('End of the window (ISO 8601; default: now). At most 31 days after `since`.'),
});

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
    const w = statsWindow(q.since, q.until);
    if ('error' in w)
      throw new ApiProblem({
        status: 400,
        code: 'request.invalid',
        detail: 'invalid query',
        invalid_params: [{ name: q.since ? 'query.since' : 'query.until', reason: w.error }],
      });
    c.objectIds.push(p.id);
    return statsBody(p.id, await this.deps.store.channelStats(p.id, w.since, w.until));
  }
}
