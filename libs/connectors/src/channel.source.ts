import { z } from 'zod';
import type { Source, SourceContext, SourceDefinition } from './connector';

/** A channel id, as the channel schema spells them. */
export const channelIdField = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a channel id: letters, digits, `_` and `-` only (at most 64)');

export const channelSourceConfig = z.strictObject({
  from: z
    .array(channelIdField)
    .min(1, 'name at least one channel that may send to this one')
    .refine((ids) => new Set(ids).size === ids.length, 'a channel is named twice')
    .describe(
      'The channels whose `channel` destinations may hand messages to this channel. A hand-off from any ' +
        'other channel is refused (its delivery is dead-lettered with `channel.not_allowed`).',
    ),
  content_types: z
    .array(z.enum(['hl7v2', 'fhir', 'json']))
    .min(1)
    .default(['hl7v2', 'fhir', 'json'])
    .describe(
      'The kinds of message the senders hand on. Narrowing it (`[fhir]`) lets the channel compiler check ' +
        'the pipeline and destinations against it; a hand-off of another kind is refused ' +
        '(`channel.content_type`, dead-lettered at the sender).',
    ),
});
export type ChannelSourceConfig = z.output<typeof channelSourceConfig>;

/**
 * Takes the messages other channels hand on. It opens nothing: a `channel` destination commits
 * each message into this channel's ledger directly (in the worker process that delivers it),
 * as a received message with its parent recorded; this declaration says who may do so.
 */
export class ChannelSource implements Source {
  constructor(
    readonly config: ChannelSourceConfig,
    private readonly context: SourceContext,
  ) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  describe(): string {
    return `channel://${this.context.channelId} (from ${this.config.from.join(', ')})`;
  }

  /** Whether `channelId` may hand messages to this channel. */
  accepts(channelId: string): boolean {
    return this.config.from.includes(channelId);
  }
}

export const channelSource: SourceDefinition<ChannelSourceConfig> = {
  kind: 'source',
  type: 'channel',
  description:
    'Receives what other channels hand on with a `channel` destination: the output of one channel becomes ' +
    'the input of this one. Each hand-off is a ledger commit of a new message of this channel (its parent ' +
    'message and channel recorded, shown on both message pages), made as the sending destination\u2019s ' +
    'delivery: while this channel is missing, disabled or paused the sender retries, then dead-letters.',
  guarantee:
    'At least once, idempotent: a sender retries a hand-off until it is committed, and exactly one child is ' +
    'committed per parent message and destination (the child and its link are one transaction; a retry after ' +
    'that commit finds the child instead of making a second one).',
  configSchema: channelSourceConfig,
  example: { from: ['lab-results', 'pms-adt'], content_types: ['hl7v2'] },
  // The compiler also asks with settings that failed their check: `content_types` may be missing then.
  produces: (config) =>
    Array.isArray(config?.content_types) ? config.content_types : ['hl7v2', 'fhir', 'json'],
  create: (config, context) => new ChannelSource(config, context),
};
