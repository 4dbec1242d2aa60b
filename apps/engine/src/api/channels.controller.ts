import { Controller, Inject, UseGuards } from '@nestjs/common';
import { mayUseChannel, type Principal } from '@sinew/auth';
import { maskSecrets, type CompiledChannel, type CompiledDestination } from '@sinew/channels';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { DELIVERY_STATUSES, idParam, MESSAGE_STATUSES, queryInt } from './schemas';

const counts = z.object({
  since: z.string().describe('Start of the window (the last 24 hours)'),
  messages: z
    .partialRecord(z.enum(MESSAGE_STATUSES), z.number().int())
    .describe('Messages received since, by status'),
  open_deliveries: z
    .partialRecord(z.enum(DELIVERY_STATUSES), z.number().int())
    .describe('Deliveries not finished (pending, retrying, parked), by status'),
});

const channelSummary = z.object({
  id: z.string(),
  paused: z
    .boolean()
    .describe('A paused channel refuses new input (send again later) and holds its deliveries'),
  version: z.number().int().optional().describe('Deployed version (deployment history)'),
  file: z.string(),
  source: z.object({ type: z.string(), listening: z.string().optional() }),
  destinations: z.array(z.object({ name: z.string(), type: z.string(), ordering: z.string() })),
  counts,
});

const channelDetail = channelSummary.extend({
  hash: z.string().describe('sha256 of the channel file as deployed'),
  configuration: z
    .unknown()
    .describe('The channel as deployed, every ${…} resolved, secrets shown as ******'),
});

const deployment = z.object({
  version: z.number().int(),
  outcome: z.enum(['deployed', 'refused']),
  deployed_at: z.string(),
  deployed_by: z.string(),
  content_hash: z.string(),
  file_path: z.string(),
  git_commit: z.string().optional(),
  problems: z.array(z.string()),
});

const idPath = z.strictObject({ id: idParam });

/** A keyed destination's ordering expression as written (`PID-3.1`). */
function orderingOf(channel: CompiledChannel, destination: string): string {
  const d = (channel.spec.destinations as ReadonlyArray<{ name: string; ordering?: unknown }>).find(
    (x) => x.name === destination,
  );
  return typeof d?.ordering === 'string' ? d.ordering : 'key';
}

/** A destination's ordering as the API shows it: the key expression (`PID-3.1`), or its kind. */
export function orderingText(channel: CompiledChannel, d: CompiledDestination): string {
  return d.ordering.kind === 'key' ? orderingOf(channel, d.name) : d.ordering.kind;
}

/** Channels: what is deployed, with counters from the ledger, and their deployment history. */
@Controller()
@UseGuards(ApiGuard)
export class ChannelsController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/channels',
    operationId: 'listChannels',
    summary: 'Deployed channels with their counters',
    description: 'Counters come from the ledger, so they survive restarts.',
    tag: 'Channels',
    scope: 'channels:read',
    response: z.object({ items: z.array(channelSummary) }),
  })
  async list(@Ctx() c: ApiContext): Promise<{ items: Array<z.output<typeof channelSummary>> }> {
    const principal = c.principal as Principal;
    const { engine } = this.deps;
    const ids = engine.channelIds.filter((id) => mayUseChannel(principal, id)).sort();
    const items = [];
    for (const id of ids) {
      const channel = engine.channel(id);
      if (channel) items.push(await this.summary(channel));
    }
    return { items };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/channels/{id}',
    operationId: 'getChannel',
    summary: 'One channel as deployed (secrets masked)',
    tag: 'Channels',
    scope: 'channels:read',
    params: idPath,
    response: channelDetail,
    errors: [404],
  })
  async get(
    @Input('params') p: { id: string },
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof channelDetail>> {
    const channel = this.visible(p.id, c);
    const masked = JSON.parse(
      maskSecrets(JSON.stringify(channel.resolved ?? null), channel.secrets),
    ) as unknown;
    return { ...(await this.summary(channel)), hash: channel.hash, configuration: masked };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/channels/{id}/deployments',
    operationId: 'listDeployments',
    summary: 'A channel’s deployment history, newest first',
    tag: 'Channels',
    scope: 'channels:read',
    params: idPath,
    query: z.strictObject({ limit: queryInt(1, 500).optional().describe('At most (default 50)') }),
    response: z.object({ items: z.array(deployment) }),
  })
  async deployments(
    @Input('params') p: { id: string },
    @Input('query') q: { limit?: number },
    @Ctx() c: ApiContext,
  ): Promise<{ items: Array<z.output<typeof deployment>> }> {
    if (!mayUseChannel(c.principal as Principal, p.id))
      throw new ApiProblem({ status: 404, code: 'channel.not_found', detail: `no channel ${p.id}` });
    c.objectIds.push(p.id);
    const rows = await this.deps.store.listDeployments(p.id, q.limit ?? 50);
    return {
      items: rows.map((d) => ({
        version: d.version,
        outcome: d.outcome,
        deployed_at: d.deployedAt.toISOString(),
        deployed_by: d.deployedBy,
        content_hash: d.contentHash,
        file_path: d.filePath,
        ...(d.gitCommit ? { git_commit: d.gitCommit } : {}),
        problems: d.problems.map((x) =>
          [x.line !== undefined ? `${x.line}:${x.column ?? 1}` : '', x.level, x.code, x.message]
            .filter(Boolean)
            .join(' '),
        ),
      })),
    };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/channels/{id}/pause',
    operationId: 'pauseChannel',
    summary: 'Pause a channel: new input is refused (send again later), deliveries hold',
    description:
      'MLLP senders get AR (CE in enhanced mode), HTTP senders 503 with Retry-After; nothing is stored, so nothing is lost. Messages already received still run through the pipeline; their deliveries wait. Every engine process applies it within one sweep interval.',
    tag: 'Channels',
    scope: 'channels:operate',
    params: idPath,
    response: channelSummary,
    errors: [404],
  })
  async pause(
    @Input('params') p: { id: string },
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof channelSummary>> {
    const channel = this.visible(p.id, c);
    await this.deps.engine.pauseChannel(channel.id, `${c.principal?.kind}:${c.principal?.name}`);
    return this.summary(channel);
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/channels/{id}/resume',
    operationId: 'resumeChannel',
    summary: 'Resume a paused channel: input is taken again, held deliveries go at once',
    tag: 'Channels',
    scope: 'channels:operate',
    params: idPath,
    response: channelSummary,
    errors: [404],
  })
  async resume(
    @Input('params') p: { id: string },
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof channelSummary>> {
    const channel = this.visible(p.id, c);
    await this.deps.engine.resumeChannel(channel.id, `${c.principal?.kind}:${c.principal?.name}`);
    return this.summary(channel);
  }

  private visible(id: string, c: ApiContext): CompiledChannel {
    const channel = this.deps.engine.channel(id);
    if (!channel || !mayUseChannel(c.principal as Principal, id))
      throw new ApiProblem({ status: 404, code: 'channel.not_found', detail: `no channel ${id}` });
    c.objectIds.push(id);
    return channel;
  }

  private async summary(channel: CompiledChannel): Promise<z.output<typeof channelSummary>> {
    const { engine, store } = this.deps;
    const since = new Date(Date.now() - 24 * 3600_000);
    const n = await store.channelCounts(channel.id, since);
    const version = engine.channelVersion(channel.id);
    const listening = engine.source(channel.id)?.describe();
    return {
      id: channel.id,
      paused: engine.isPaused(channel.id),
      ...(version !== undefined ? { version } : {}),
      file: channel.file,
      source: { type: channel.source.type, ...(listening ? { listening } : {}) },
      destinations: channel.destinations.map((d) => ({
        name: d.name,
        type: d.type,
        ordering: orderingText(channel, d),
      })),
      counts: { since: since.toISOString(), messages: n.messages, open_deliveries: n.openDeliveries },
    };
  }
}
