import type { CompiledChannel, CompiledDestination } from '@sinew/channels';
import type { DestinationHealth, Engine } from '@sinew/engine';
import type { ChannelOverviewCounts, Store } from '@sinew/store';
import { z } from 'zod';
import { orderingText } from './channels.controller';

const DAY_MS = 24 * 3600_000;
const HOUR_MS = 3600_000;

const destinationOverview = z.object({
  name: z.string(),
  type: z.string(),
  ordering: z.string().describe('`none`, `channel` (strict FIFO), or the key expression (`PID-3.1`)'),
  up: z
    .boolean()
    .nullable()
    .describe('Whether the destination answers; null when this process runs no worker to know'),
  down_since: z.string().optional().describe('While down: since the first failed attempt'),
  down_reason: z.string().optional().describe('While down: the failure (`HTTP 500`, `ECONNREFUSED` …)'),
  queued: z.number().int().describe('Deliveries not finished (pending, retrying, parked)'),
  oldest_queued_at: z.string().optional().describe('When the oldest of them was created'),
  dead_letters: z.number().int().describe('Dead-lettered deliveries not replayed'),
});

const last24h = z
  .object({
    received: z.number().int(),
    filtered: z.number().int(),
    rejected: z.number().int(),
    errored: z.number().int(),
    processed: z.number().int().describe('Pipeline done, deliveries made (sent or under way)'),
    failed: z.number().int().describe('A delivery was dead-lettered'),
    sent: z.number().int().describe('Deliveries sent (of the messages received in the window)'),
    dead_lettered: z.number().int().describe('Deliveries dead-lettered (of those messages)'),
  })
  .describe('Messages received in the last 24 hours, by outcome, and their deliveries');

export const channelOverview = z.object({
  id: z.string(),
  description: z.string().optional(),
  state: z
    .enum(['running', 'paused', 'failing'])
    .describe(
      '`paused` when paused; `failing` when a destination is down, or the last hour holds errored messages or dead-lettered deliveries; else `running`',
    ),
  state_reason: z.string().optional().describe('Why it is paused or failing'),
  paused: z.boolean(),
  source: z.object({ type: z.string(), listening: z.string().optional() }),
  last_24h: last24h,
  queued: z.number().int().describe('Deliveries not finished, all destinations'),
  destinations: z.array(destinationOverview),
});

export const overviewSchema = z.object({
  generated_at: z.string(),
  channels: z.array(channelOverview),
});

export type ChannelOverview = z.output<typeof channelOverview>;
export type Overview = z.output<typeof overviewSchema>;

function destinationOf(
  channel: CompiledChannel,
  d: CompiledDestination,
  counts: ChannelOverviewCounts,
  health: DestinationHealth | undefined,
  known: boolean,
): z.output<typeof destinationOverview> {
  const q = counts.destinations.find((x) => x.destination === d.name);
  const out: z.output<typeof destinationOverview> = {
    name: d.name,
    type: d.type,
    ordering: orderingText(channel, d),
    up: known && health ? health.up : null,
    queued: q?.open ?? 0,
    dead_letters: q?.deadLettered ?? 0,
  };
  if (health && !health.up) {
    if (health.since) out.down_since = health.since.toISOString();
    if (health.code) out.down_reason = health.code;
  }
  if (q?.oldestOpenAt) out.oldest_queued_at = q.oldestOpenAt.toISOString();
  return out;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** One channel's overview from its ledger counters and this process's view of its destinations. */
function channelOf(
  engine: Engine,
  channel: CompiledChannel,
  counts: ChannelOverviewCounts,
  deliveries: { sent: number; deadLettered: number },
  health: Map<string, DestinationHealth> | undefined,
  known: boolean,
  pause: { pausedAt: Date; pausedBy: string } | undefined,
): ChannelOverview {
  const m = counts.messages;
  const n = (k: keyof typeof m) => m[k] ?? 0;
  const received = Object.values(m).reduce((a, b) => a + (b ?? 0), 0);
  const destinations = channel.destinations.map((d) =>
    destinationOf(channel, d, counts, health?.get(d.name), known),
  );
  const paused = engine.isPaused(channel.id);
  const down = destinations.filter((d) => d.up === false);
  const recentDead = counts.destinations.reduce((a, d) => a + d.recentDeadLettered, 0);
  let state: ChannelOverview['state'] = 'running';
  let reason: string | undefined;
  if (paused) {
    state = 'paused';
    reason = pause ? `paused by ${pause.pausedBy} since ${pause.pausedAt.toISOString()}` : 'paused';
  } else if (down.length > 0) {
    state = 'failing';
    reason = down
      .map(
        (d) =>
          `destination ${d.name} down${d.down_since ? ` since ${d.down_since}` : ''}${d.down_reason ? ` (${d.down_reason})` : ''}`,
      )
      .join('; ');
  } else if (counts.recentErrored > 0 || recentDead > 0) {
    state = 'failing';
    reason = [
      counts.recentErrored > 0 ? plural(counts.recentErrored, 'errored message', 'errored messages') : '',
      recentDead > 0 ? plural(recentDead, 'dead-lettered delivery', 'dead-lettered deliveries') : '',
    ]
      .filter(Boolean)
      .join(' and ')
      .concat(' in the last hour');
  }
  const listening = engine.source(channel.id)?.describe();
  const description = channel.spec.description;
  return {
    id: channel.id,
    ...(typeof description === 'string' && description !== '' ? { description } : {}),
    state,
    ...(reason ? { state_reason: reason } : {}),
    paused,
    source: { type: channel.source.type, ...(listening ? { listening } : {}) },
    last_24h: {
      received,
      filtered: n('filtered'),
      rejected: n('rejected'),
      errored: n('errored'),
      processed: n('processed') + n('delivered'),
      failed: n('failed'),
      sent: deliveries.sent,
      dead_lettered: deliveries.deadLettered,
    },
    queued: destinations.reduce((a, d) => a + d.queued, 0),
    destinations,
  };
}

/**
 * How long a channel's delivery counts are reused, in multiples of the time their query took:
 * on a small ledger they are read every time; on one with 100,000 messages a day (a second's
 * query) every 20 s or so, so that a live dashboard spends at most a twentieth of its time there.
 */
const DELIVERY_COUNTS_REUSE = 20;

/**
 * The dashboard's data: every deployed channel among those asked for (all when none), with its
 * state, its last 24 hours from the ledger, its queue and each destination's health. Three
 * grouped ledger queries per channel, one for the paused channels, and the deliveries of the
 * last 24 hours, whose query grows with the traffic and is reused for a while when it is slow.
 */
export class OverviewReader {
  private readonly deliveryCounts = new Map<
    string,
    { value: { sent: number; deadLettered: number }; at: number; tookMs: number }
  >();

  constructor(
    private readonly engine: Engine,
    private readonly store: Store,
  ) {}

  async compute(channelIds?: readonly string[], now: Date = new Date()): Promise<Overview> {
    const { engine, store } = this;
    const ids = (channelIds ?? engine.channelIds).filter((id) => engine.channel(id)).sort();
    const health = engine.destinationHealth();
    const pauses = ids.some((id) => engine.isPaused(id))
      ? new Map((await store.listPausedChannels()).map((p) => [p.channelId, p]))
      : new Map<string, { pausedAt: Date; pausedBy: string }>();
    const since = new Date(now.getTime() - DAY_MS);
    const recent = new Date(now.getTime() - HOUR_MS);
    const channels: ChannelOverview[] = [];
    for (const id of ids) {
      const channel = engine.channel(id);
      if (!channel) continue;
      const counts = await store.channelOverview(id, since, recent);
      const deliveries = await this.deliveriesOf(id, since);
      channels.push(
        channelOf(engine, channel, counts, deliveries, health?.get(id), health !== undefined, pauses.get(id)),
      );
    }
    return { generated_at: now.toISOString(), channels };
  }

  private async deliveriesOf(
    channelId: string,
    since: Date,
  ): Promise<{ sent: number; deadLettered: number }> {
    const cached = this.deliveryCounts.get(channelId);
    if (cached && Date.now() - cached.at < cached.tookMs * DELIVERY_COUNTS_REUSE) return cached.value;
    const started = Date.now();
    const value = await this.store.channelDeliveryCounts(channelId, since);
    this.deliveryCounts.set(channelId, { value, at: Date.now(), tookMs: Date.now() - started });
    return value;
  }
}
