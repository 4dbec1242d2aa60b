import type { CompiledChannel } from '@sinew/channels';
import type { ChannelHandOff, ChannelHandOffResult, ChannelSourceConfig } from '@sinew/connectors';
import { Hl7ErrorCondition } from '@sinew/hl7v2';
import type { Store } from '@sinew/store';
import type { Ingestor } from './ingest';

export interface HandOffDeps {
  store: Store;
  /** The deployed (enabled) channel of this id and its ingestor, if any. */
  deployed(channelId: string): { channel: CompiledChannel; ingestor: Ingestor } | undefined;
  isPaused(channelId: string): boolean;
}

/**
 * Commits a message handed on by a `channel` destination into the receiving channel, as one of
 * its received messages with its parent recorded. Invariant: at most one child per parent
 * message and destination, because the child and its link are one commit under a unique
 * (parent, destination) key, and a hand-off first looks for the child an earlier attempt made.
 */
export async function handOffToChannel(
  deps: HandOffDeps,
  request: ChannelHandOff,
): Promise<ChannelHandOffResult> {
  const { parent } = request;
  const earlier = await deps.store.links.findChild(parent.messageId, parent.destination);
  if (earlier) return { kind: 'committed', messageId: earlier.messageId, existed: true };
  const target = deps.deployed(request.target);
  if (!target) return { kind: 'missing' };
  const source = target.channel.source;
  if (source.type !== 'channel' || !(source.config as ChannelSourceConfig).from.includes(parent.channelId)) {
    return { kind: 'not_allowed' };
  }
  const kinds: readonly string[] = (source.config as ChannelSourceConfig).content_types;
  if (!kinds.includes(request.contentType)) {
    return {
      kind: 'refused',
      issue: {
        code: 'channel.content_type',
        message: `it takes ${kinds.join(', ')}, not ${request.contentType}`,
        condition: Hl7ErrorCondition.ApplicationInternalError,
      },
    };
  }
  if (deps.isPaused(target.channel.id)) return { kind: 'paused' };
  const reply = await target.ingestor.ingest({
    body: request.body,
    contentType: request.contentType,
    source: 'channel',
    remoteAddress: `channel:${parent.channelId}`,
    parent,
  });
  const d = reply.disposition;
  switch (d.kind) {
    case 'accepted':
    case 'errored':
      // Committed (an `errored` child failed its pipeline after the commit: it is the child's problem now).
      return reply.messageId
        ? { kind: 'committed', messageId: reply.messageId, existed: false }
        : {
            kind: 'unavailable',
            issue: {
              code: 'channel.no_id',
              message: 'the receiving channel returned no message id',
              condition: Hl7ErrorCondition.ApplicationInternalError,
            },
          };
    case 'duplicate':
      return { kind: 'duplicate', ...(reply.messageId ? { messageId: reply.messageId } : {}) };
    case 'rejected':
      return { kind: 'refused', issue: d.issue };
    case 'unavailable':
      return d.issue.code === 'channel.paused' ? { kind: 'paused' } : { kind: 'unavailable', issue: d.issue };
  }
}
