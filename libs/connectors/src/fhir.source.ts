import { HUB_ENVIRONMENTS, type HubEnvironment } from '@sinew/hub';
import { z } from 'zod';
import type { IngestReply, Source, SourceContext, SourceDefinition } from './connector';
import {
  fhirWriteChannels,
  type FhirWriteChannel,
  type FhirWriteChannels,
  type FhirWriteRequest,
} from './fhir-write-channels';

export const fhirSourceConfig = z.strictObject({
  resources: z
    .array(z.string().regex(/^[A-Z][A-Za-z]{1,63}$/, 'a FHIR resource type, such as Appointment'))
    .min(1, 'name at least one resource type')
    .refine((types) => new Set(types).size === types.length, 'a resource type is named twice')
    .describe(
      'The resource types apps may create and update through the FHIR API (`POST /fhir/R4/<type>`, ' +
        '`PUT /fhir/R4/<type>/<id>`) that this channel takes. One channel per type and environment.',
    ),
  environment: z
    .enum(HUB_ENVIRONMENTS as [HubEnvironment, ...HubEnvironment[]])
    .default('production')
    .describe('Whose writes it takes: apps of the `production` or of the `sandbox` environment.'),
});
export type FhirSourceConfig = z.output<typeof fhirSourceConfig>;

/**
 * Takes the writes apps make through the FHIR API. It opens no socket: while the channel runs
 * it is in the process's registry of write channels (`fhirWriteChannels`), where the API's
 * write routes find it by resource type; each write is committed as a message of the channel.
 */
export class FhirSource implements Source {
  private entry: FhirWriteChannel | undefined;

  constructor(
    readonly config: FhirSourceConfig,
    private readonly context: SourceContext,
    private readonly registry: FhirWriteChannels = fhirWriteChannels,
  ) {}

  async start(): Promise<void> {
    if (this.entry) return;
    const entry: FhirWriteChannel = {
      channelId: this.context.channelId,
      environment: this.config.environment,
      resources: this.config.resources,
      write: (request) => this.write(request),
    };
    this.registry.register(entry);
    this.entry = entry;
  }

  async stop(): Promise<void> {
    if (!this.entry) return;
    this.registry.unregister(this.entry);
    this.entry = undefined;
  }

  describe(): string {
    return `fhir://${this.config.environment}/${this.config.resources.join(',')}`;
  }

  private write(request: FhirWriteRequest): Promise<IngestReply> {
    return this.context.ingest({
      body: request.body,
      contentType: 'fhir',
      source: 'fhir',
      remoteAddress: `app:${request.appId}`,
      keys: { app: request.appId },
    });
  }
}

export const fhirSource: SourceDefinition<FhirSourceConfig> = {
  kind: 'source',
  type: 'fhir',
  description:
    'Takes the creates and updates that registered apps make through the FHIR R4 API for the listed resource ' +
    'types, so that the channel can turn them into what the source system reads (an Appointment into SIU, a ' +
    'Patient into ADT) and send them there. It opens no socket: the API answers 202 Accepted once the write is ' +
    'committed as a message of this channel (its `app` key names the app), and the write\u2019s status link shows ' +
    'the message and each destination\u2019s answer. A create arrives without an `id`, an update with the id of ' +
    'its URL, so a filter (`fhirpath: id.exists()`) tells them apart.',
  guarantee:
    'At least once: the API answers 202 only after the message is committed to the ledger, and 503 when it ' +
    'could not be stored; a pipeline that refuses the write makes the API answer 422 with the reason.',
  configSchema: fhirSourceConfig,
  example: { resources: ['Appointment', 'Patient'], environment: 'production' },
  produces: () => ['fhir'],
  create: (config, context) => new FhirSource(config, context),
};
