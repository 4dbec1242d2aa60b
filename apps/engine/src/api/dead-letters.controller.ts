import { Controller, Inject, UseGuards } from '@nestjs/common';
import { mayUseChannel, type Principal } from '@sinew/auth';
import type { DeliveryRecord } from '@sinew/store';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { idParam } from './schemas';

/** Dead letters read at most (newest first) to group or to replay by filter. */
const SCAN_LIMIT = 10_000;

const group = z.object({
  channel: z.string(),
  destination: z.string(),
  error: z.string().describe('The last attempt’s error, as the destination answered'),
  count: z.number().int(),
  first_seen: z.string(),
  last_seen: z.string(),
  sample_message_id: z.string(),
  sample_delivery_id: z.string(),
});

const filter = z.strictObject({
  channel: idParam.optional(),
  destination: z.string().min(1).max(200).optional(),
});

const replayBody = filter.extend({
  dry_run: z
    .boolean()
    .default(true)
    .describe('Only count what would be replayed (the default); `false` replays them'),
});

function allowed(p: Principal, channel: string | undefined): void {
  if (channel !== undefined && !mayUseChannel(p, channel))
    throw new ApiProblem({
      status: 403,
      code: 'channel.forbidden',
      detail: `no access to channel ${channel}`,
    });
}

/** Dead letters grouped by destination and error, and replayed by filter. */
@Controller()
@UseGuards(ApiGuard)
export class DeadLettersController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  private async deadLetters(p: Principal, f: z.output<typeof filter>): Promise<DeliveryRecord[]> {
    allowed(p, f.channel);
    const rows = await this.deps.store.listDeadLetters({
      ...(f.channel !== undefined ? { channelId: f.channel } : {}),
      ...(f.destination !== undefined ? { destination: f.destination } : {}),
      limit: SCAN_LIMIT,
    });
    return rows.filter((d) => mayUseChannel(p, d.channelId));
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/dead-letters',
    operationId: 'listDeadLetterGroups',
    summary: 'Dead letters grouped by destination and error',
    description: `Each group: how many, first and last seen, one sample. Reads the newest ${SCAN_LIMIT} dead letters.`,
    tag: 'Dead letters',
    scope: 'messages:read',
    query: filter,
    response: z.object({ groups: z.array(group), total: z.number().int() }),
  })
  async groups(
    @Input('query') q: z.output<typeof filter>,
    @Ctx() c: ApiContext,
  ): Promise<{ groups: Array<z.output<typeof group>>; total: number }> {
    c.filter = { ...q };
    const rows = await this.deadLetters(c.principal as Principal, q);
    const groups = new Map<string, z.output<typeof group>>();
    for (const d of rows) {
      const error = d.lastError ?? '(no error recorded)';
      const k = JSON.stringify([d.channelId, d.destination, error]);
      const at = d.updatedAt.toISOString();
      const g = groups.get(k);
      if (!g) {
        groups.set(k, {
          channel: d.channelId,
          destination: d.destination,
          error,
          count: 1,
          first_seen: at,
          last_seen: at,
          sample_message_id: d.messageId,
          sample_delivery_id: d.id,
        });
      } else {
        g.count++;
        if (at < g.first_seen) g.first_seen = at;
        if (at > g.last_seen) g.last_seen = at;
      }
    }
    return { groups: [...groups.values()].sort((a, b) => b.count - a.count), total: rows.length };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/dead-letters/replay',
    operationId: 'replayDeadLetters',
    summary: 'Replay dead letters by filter',
    description:
      'First call with `dry_run` true (the default): the answer says how many would be replayed. Call again with `dry_run: false` to replay them.',
    tag: 'Dead letters',
    scope: 'messages:replay',
    body: replayBody,
    response: z.object({ dry_run: z.boolean(), count: z.number().int(), requeued: z.array(z.string()) }),
  })
  async replay(
    @Input('body') b: z.output<typeof replayBody>,
    @Ctx() c: ApiContext,
  ): Promise<{ dry_run: boolean; count: number; requeued: string[] }> {
    c.filter = {
      ...(b.channel ? { channel: b.channel } : {}),
      ...(b.destination ? { destination: b.destination } : {}),
      dry_run: String(b.dry_run),
    };
    const rows = await this.deadLetters(c.principal as Principal, b);
    if (b.dry_run) return { dry_run: true, count: rows.length, requeued: [] };
    const requeued: string[] = [];
    for (const d of rows) requeued.push((await this.deps.store.requeueDelivery(d.id)).id);
    c.objectIds.push(...requeued);
    if (requeued.length > 0) void this.deps.engine.sweep();
    return { dry_run: false, count: requeued.length, requeued };
  }
}
