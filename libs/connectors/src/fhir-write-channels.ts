import type { HubEnvironment } from '@sinew/hub';
import type { IngestReply } from './connector';

/** What a write through the FHIR API hands to the channel that takes its type. */
export interface FhirWriteRequest {
  /** The resource as JSON bytes (`id` removed for a create; for an update, the id of the URL). */
  body: Buffer;
  /** The registered app that made the write; recorded as the message's `app` key. */
  appId: string;
}

/** A running channel whose source is `type: fhir`: the resource types it takes, and its way into the ledger. */
export interface FhirWriteChannel {
  channelId: string;
  environment: HubEnvironment;
  resources: readonly string[];
  /** Commits the resource as a message of the channel; resolves with the engine's reply once committed. */
  write(request: FhirWriteRequest): Promise<IngestReply>;
}

/** Two channels claim one resource type in one environment. */
export class FhirWriteClaimError extends Error {
  constructor(
    readonly resourceType: string,
    readonly environment: HubEnvironment,
    readonly channels: readonly [string, string],
  ) {
    super(
      `channels ${channels[0]} and ${channels[1]} both take FHIR writes of ${resourceType} in ${environment}; ` +
        'one resource type goes to one channel per environment',
    );
    this.name = 'FhirWriteClaimError';
  }
}

/**
 * The `fhir` sources running in this process, by environment and resource type. A source adds
 * itself when its channel starts and removes itself when it stops; the FHIR API's write
 * routes find the channel for a resource here. Invariant: one channel per type and environment.
 */
export class FhirWriteChannels {
  private readonly byChannel = new Map<string, FhirWriteChannel>();

  /** Adds a channel; throws `FhirWriteClaimError` when another running channel takes one of its types. */
  register(channel: FhirWriteChannel): void {
    for (const other of this.byChannel.values()) {
      if (other.channelId === channel.channelId || other.environment !== channel.environment) continue;
      const clash = channel.resources.find((t) => other.resources.includes(t));
      if (clash !== undefined)
        throw new FhirWriteClaimError(clash, channel.environment, [other.channelId, channel.channelId]);
    }
    this.byChannel.set(channel.channelId, channel);
  }

  /** Removes a channel, only when `channel` is the one registered under its id (a redeploy may have replaced it). */
  unregister(channel: FhirWriteChannel): void {
    if (this.byChannel.get(channel.channelId) === channel) this.byChannel.delete(channel.channelId);
  }

  /** The channel taking writes of `resourceType` in `environment`. */
  find(environment: HubEnvironment, resourceType: string): FhirWriteChannel | undefined {
    for (const c of this.byChannel.values())
      if (c.environment === environment && c.resources.includes(resourceType)) return c;
    return undefined;
  }

  /** The resource types some running channel takes in `environment`, sorted. */
  types(environment: HubEnvironment): string[] {
    const out = new Set<string>();
    for (const c of this.byChannel.values())
      if (c.environment === environment) for (const t of c.resources) out.add(t);
    return [...out].sort();
  }
}

/** The process's registry: the `fhir` source registers here and the write router reads it. */
export const fhirWriteChannels = new FhirWriteChannels();
