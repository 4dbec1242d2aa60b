import { HubWriteError, type FhirResource, type HubWriter } from '@sinew/hub';
import { z } from 'zod';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';

export const storeDestinationConfig = z.strictObject({
  environment: z
    .enum(['production', 'sandbox'])
    .default('production')
    .describe(
      'Which data the resources belong to: `production` (the clinic\u2019s) or `sandbox` (synthetic data that ' +
        'only sandbox apps read).',
    ),
});
export type StoreDestinationConfig = z.output<typeof storeDestinationConfig>;

/** Keeps FHIR resources and Bundles in the clinic data hub (docs/hub.md). */
export class StoreDestination implements Destination {
  constructor(
    private readonly config: StoreDestinationConfig,
    private readonly context: DestinationContext,
  ) {}

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    const hub: HubWriter | undefined = this.context.hub;
    if (!hub) {
      return {
        status: 'failed',
        code: 'HUB_MISSING',
        error: 'this engine runs without the clinic data hub, so the store destination cannot keep anything',
      };
    }
    let resource: unknown;
    try {
      resource = JSON.parse(request.body.toString('utf8'));
    } catch {
      return { status: 'failed', code: 'INVALID_PAYLOAD', error: 'the payload is not valid JSON' };
    }
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
      return {
        status: 'failed',
        code: 'INVALID_PAYLOAD',
        error: 'the payload is not a FHIR resource (a JSON object)',
      };
    }
    try {
      const changes = await hub.write(resource as FhirResource, {
        environment: this.config.environment,
        channelId: request.channelId,
        messageId: request.messageId,
        destination: request.destination,
      });
      const summary = changes
        .map((c) => `${c.action} ${c.resourceType}/${c.id}/_history/${c.versionId}`)
        .join('\n');
      return {
        status: 'sent',
        code: changes.length ? `STORED ${changes.length}` : 'UNCHANGED',
        response: Buffer.from(summary, 'utf8'),
      };
    } catch (error) {
      if (error instanceof HubWriteError) {
        return { status: 'failed', code: 'INVALID_PAYLOAD', error: error.message };
      }
      // The database could not commit (down, locked): the next attempt may.
      const message = error instanceof Error ? error.message : String(error);
      return { status: 'retry', code: 'HUB_UNAVAILABLE', error: `the hub could not store it: ${message}` };
    }
  }

  async close(): Promise<void> {}

  describe(): string {
    return `hub (${this.config.environment})`;
  }
}

export const storeDestination: DestinationDefinition<StoreDestinationConfig> = {
  kind: 'destination',
  accepts: ['fhir', 'json'],
  type: 'store',
  description:
    'Keeps the FHIR resources a channel produces in the clinic data hub, in Sinew\u2019s own database (the ' +
    'ledger\u2019s SQLite file or PostgreSQL), where the FHIR API, bulk export and webhooks read them. Takes a ' +
    'single resource or a Bundle (its entries are stored together, references between them rewritten to the ' +
    'stored ids). Each resource is upserted by business identifier (same type and identifier system|value: a ' +
    'new version of the same resource); a Patient merge (ADT^A40) moves the merged patient\u2019s records to the ' +
    'surviving patient; a cancel (ADT^A11, SIU^S15) updates the stored Encounter or Appointment. A body that ' +
    'is not FHIR JSON is dead-lettered at once (`INVALID_PAYLOAD`); a database that cannot commit is retried ' +
    '(`HUB_UNAVAILABLE`). See docs/hub.md.',
  guarantee:
    'At least once, idempotent: each delivery is one database transaction, and storing the same content again ' +
    'makes no new version and no change event, so a retried or replayed delivery changes nothing twice.',
  configSchema: storeDestinationConfig,
  example: { environment: 'production' },
  create: (config, context) => new StoreDestination(config, context),
};
