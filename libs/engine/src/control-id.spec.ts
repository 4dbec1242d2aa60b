import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Hl7Message } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { ChannelPipeline } from './pipeline';

const registries = builtInRegistries(TransformerLibrary.load());

/** A FHIR Patient in, an ADT^A31 and (the same map with event A28) an ADT^A28 out, to two destinations. */
const channel = compileChannelOrThrow(
  `id: ehr-to-pms
source: { type: http, listen: 0, path: /patients }
pipeline:
  - map: { transformer: patient-to-adt }
destinations:
  - name: pms
    type: file
    directory: /tmp/unused
    retry: { attempts: 1 }
  - name: archive
    type: file
    directory: /tmp/unused-too
    transformer: patient-to-adt
    transformer_params: { event: A28 }
    retry: { attempts: 1 }
`,
  'ehr-to-pms.yaml',
  registries,
);

const patient = Buffer.from(
  JSON.stringify({ resourceType: 'Patient', identifier: [{ value: 'MRN-1' }], name: [{ family: 'Test' }] }),
);

function built(pipeline: ChannelPipeline, messageId?: string): Record<string, string> {
  const result = pipeline.run(patient, 'fhir', undefined, messageId);
  expect(result.status).toBe('processed');
  return Object.fromEntries(
    result.deliveries.map((d) => [d.destination, Hl7Message.parse(d.payload).get('MSH-10')]),
  );
}

describe('MSH-10 of the HL7 messages reverse maps build', () => {
  it('is unique per received message and per transformer, at most 20 characters', () => {
    const pipeline = new ChannelPipeline(channel);
    const a = built(pipeline, '01a25022-3096-7000-911a-111c3ba9d926');
    const b = built(pipeline, '01a25022-3096-7000-911a-111c3ba9d927');
    for (const id of [...Object.values(a), ...Object.values(b)]) expect(id).toMatch(/^[0-9A-F]{20}$/);
    // The same Patient received twice is two messages: two control ids.
    expect(a.pms).not.toBe(b.pms);
    expect(a.archive).not.toBe(b.archive);
    // One map bound twice (A31, A28) building from one message: two messages, two ids.
    expect(a.pms).not.toBe(a.archive);
  });

  it('is the same when the same message runs again (a retry, a shadow run)', () => {
    const pipeline = new ChannelPipeline(channel);
    const id = '01a25022-3096-7000-911a-111c3ba9d926';
    expect(built(pipeline, id)).toEqual(built(new ChannelPipeline(channel), id));
  });

  it('is stable under the fixed clock of sinew test, and differs at another time', () => {
    const fixed = () => new ChannelPipeline(channel, { now: () => new Date(Date.UTC(2026, 0, 1)) });
    const first = built(fixed());
    expect(first.pms).toMatch(/^[0-9A-F]{20}$/);
    expect(built(fixed())).toEqual(first);
    const later = new ChannelPipeline(channel, { now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, 1)) });
    expect(built(later).pms).not.toBe(first.pms);
  });
});
