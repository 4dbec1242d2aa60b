import type { IngestRequest, SourceContext } from './connector';
import { FhirWriteChannels, FhirWriteClaimError } from './fhir-write-channels';
import { fhirSource, fhirSourceConfig, FhirSource } from './fhir.source';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A source context that keeps what the source ingests and answers `accepted`. */
function context(channelId: string): SourceContext & { requests: IngestRequest[] } {
  const requests: IngestRequest[] = [];
  return {
    channelId,
    logger: silent,
    requests,
    ingest: async (request) => {
      requests.push(request);
      return { disposition: { kind: 'accepted' }, messageId: `m-${requests.length}` };
    },
  };
}

describe('fhir source', () => {
  it('reads its settings: resource types, environment production by default', () => {
    expect(fhirSourceConfig.parse({ resources: ['Appointment'] })).toEqual({
      resources: ['Appointment'],
      environment: 'production',
    });
    expect(fhirSourceConfig.safeParse({ resources: [] }).error?.issues[0]?.message).toBe(
      'name at least one resource type',
    );
    expect(fhirSourceConfig.safeParse({ resources: ['appointment'] }).error?.issues[0]?.message).toBe(
      'a FHIR resource type, such as Appointment',
    );
    expect(fhirSourceConfig.safeParse({ resources: ['Patient', 'Patient'] }).error?.issues[0]?.message).toBe(
      'a resource type is named twice',
    );
    expect(fhirSourceConfig.safeParse({ resources: ['Patient'], environment: 'staging' }).success).toBe(
      false,
    );
    expect(fhirSource.produces(fhirSourceConfig.parse({ resources: ['Patient'] }))).toEqual(['fhir']);
  });

  it('is in the registry while it runs, and hands a write to the channel with the app as its key', async () => {
    const registry = new FhirWriteChannels();
    const ctx = context('bookings');
    const source = new FhirSource(
      fhirSourceConfig.parse({ resources: ['Appointment', 'Patient'] }),
      ctx,
      registry,
    );
    expect(registry.find('production', 'Appointment')).toBeUndefined();
    await source.start();
    expect(source.describe()).toBe('fhir://production/Appointment,Patient');
    expect(registry.types('production')).toEqual(['Appointment', 'Patient']);
    expect(registry.types('sandbox')).toEqual([]);
    const body = Buffer.from('{"resourceType":"Appointment"}');
    const reply = await registry.find('production', 'Appointment')?.write({ body, appId: 'app-1' });
    expect(reply).toEqual({ disposition: { kind: 'accepted' }, messageId: 'm-1' });
    expect(ctx.requests).toEqual([
      { body, contentType: 'fhir', source: 'fhir', remoteAddress: 'app:app-1', keys: { app: 'app-1' } },
    ]);
    await source.stop();
    expect(registry.types('production')).toEqual([]);
  });

  it('refuses a second channel taking one type in one environment, naming both; other environments are apart', async () => {
    const registry = new FhirWriteChannels();
    const a = new FhirSource(fhirSourceConfig.parse({ resources: ['Appointment'] }), context('a'), registry);
    const b = new FhirSource(
      fhirSourceConfig.parse({ resources: ['Patient', 'Appointment'] }),
      context('b'),
      registry,
    );
    const sandbox = new FhirSource(
      fhirSourceConfig.parse({ resources: ['Appointment'], environment: 'sandbox' }),
      context('c'),
      registry,
    );
    await a.start();
    await expect(b.start()).rejects.toThrow(
      'channels a and b both take FHIR writes of Appointment in production; one resource type goes to one channel per environment',
    );
    await expect(b.start()).rejects.toBeInstanceOf(FhirWriteClaimError);
    await sandbox.start();
    expect(registry.find('sandbox', 'Appointment')?.channelId).toBe('c');
    expect(registry.find('production', 'Patient')).toBeUndefined();
    await a.stop();
    await b.start();
    expect(registry.find('production', 'Appointment')?.channelId).toBe('b');
  });

  it('a replaced source stopping late does not remove its replacement', async () => {
    const registry = new FhirWriteChannels();
    const config = fhirSourceConfig.parse({ resources: ['Appointment'] });
    const old = new FhirSource(config, context('bookings'), registry);
    await old.start();
    const replacement = new FhirSource(config, context('bookings'), registry);
    await replacement.start();
    await old.stop();
    expect(registry.find('production', 'Appointment')).toBeDefined();
  });
});
