import { z } from 'zod';
import { channelIdField } from './channel.source';
import type {
  ChannelHandOffResult,
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';

export const channelDestinationConfig = z.strictObject({
  channel: channelIdField.describe(
    'The channel that receives the messages. Its source must be of type `channel` and name this channel in `from`.',
  ),
});
export type ChannelDestinationConfig = z.output<typeof channelDestinationConfig>;

/** The delivery outcome of a hand-off; `code` names what happened (`COMMITTED`, `CHANNEL_MISSING` …). */
export function handOffOutcome(target: string, result: ChannelHandOffResult): DeliveryOutcome {
  switch (result.kind) {
    case 'committed':
      return {
        status: 'sent',
        code: result.existed ? 'COMMITTED_BEFORE' : 'COMMITTED',
        response: Buffer.from(result.messageId, 'utf8'),
      };
    case 'duplicate':
      return {
        status: 'sent',
        code: 'DUPLICATE',
        ...(result.messageId ? { response: Buffer.from(result.messageId, 'utf8') } : {}),
      };
    case 'missing':
      return {
        status: 'retry',
        code: 'CHANNEL_MISSING',
        error: `channel ${target} is not deployed (missing or disabled)`,
      };
    case 'paused':
      return { status: 'retry', code: 'CHANNEL_PAUSED', error: `channel ${target} is paused` };
    case 'not_allowed':
      return {
        status: 'failed',
        code: 'CHANNEL_NOT_ALLOWED',
        error: `channel ${target} does not take messages from this channel (its source needs type: channel and this channel in from)`,
      };
    case 'refused':
      return {
        status: 'failed',
        code: result.issue.code,
        error: `channel ${target} refused the message: ${result.issue.message}`,
      };
    case 'unavailable':
      return {
        status: 'retry',
        code: result.issue.code,
        error: `channel ${target} could not commit the message: ${result.issue.message}`,
      };
  }
}

/**
 * Hands each message to another channel of the same engine. The hand-off is a ledger commit
 * of a new message of that channel (with this message as its parent), so it is as durable as
 * any received message; nothing waits in memory.
 */
export class ChannelDestination implements Destination {
  constructor(
    private readonly config: ChannelDestinationConfig,
    private readonly context: DestinationContext,
  ) {}

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    const handOff = this.context.handOff;
    if (!handOff) {
      return {
        status: 'retry',
        code: 'NO_ENGINE',
        error: 'a channel destination delivers only inside a running engine',
      };
    }
    const result = await handOff({
      target: this.config.channel,
      parent: {
        messageId: request.messageId,
        channelId: request.channelId,
        destination: request.destination,
      },
      body: request.body,
      contentType: request.contentType,
    });
    return handOffOutcome(this.config.channel, result);
  }

  async close(): Promise<void> {}

  describe(): string {
    return `channel://${this.config.channel}`;
  }
}

export const channelDestination: DestinationDefinition<ChannelDestinationConfig> = {
  kind: 'destination',
  accepts: ['hl7v2', 'fhir', 'json'],
  type: 'channel',
  description:
    'Hands each message to another channel of this engine, whose source is a `channel` source naming this ' +
    'channel in `from`: the output of one channel becomes the input of the other. The hand-off is this ' +
    'destination\u2019s delivery: the receiving channel commits the message to the ledger as one of its ' +
    'received messages (with this message recorded as its parent), then runs its own pipeline and ' +
    'destinations. A missing, disabled or paused receiving channel is retried (`CHANNEL_MISSING`, ' +
    '`CHANNEL_PAUSED`) and dead-lettered after the last attempt; a channel that does not take messages from ' +
    'this one (`CHANNEL_NOT_ALLOWED`) or refuses the message (unreadable HL7, invalid header) dead-letters ' +
    'at once. The attempt records the child message id as its response.',
  guarantee:
    'At least once, idempotent: a hand-off is retried until the receiving channel commits it, and it commits ' +
    'one child per parent message and destination: the child and its link to the parent are one transaction, ' +
    'and a retry after that commit finds the child instead of committing a second one.',
  configSchema: channelDestinationConfig,
  example: { channel: 'ehr-outbound' },
  create: (config, context) => new ChannelDestination(config, context),
};
