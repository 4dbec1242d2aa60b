import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Hl7Message } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { recordMappingWarnings } from './events';
import { EngineMetrics } from './metrics';
import { ChannelPipeline } from './pipeline';

const registries = builtInRegistries(TransformerLibrary.load());

/** A lab channel that answers once the message is processed; `strict` on its map step or not. */
const channel = (strict: boolean, keys = '{ order: OBR-3.1 }') =>
  compileChannelOrThrow(
    `id: lab
source: { type: http, listen: 0, path: /lab }
ack: { when: processed }
keys: ${keys}
pipeline:
  - map: { transformer: oru-to-fhir, strict: ${strict} }
destinations:
  - name: ehr
    type: file
    directory: /tmp/unused
    retry: { attempts: 1 }
`,
    'lab.yaml',
    registries,
  );

const oru = (pid30: string, obx11: string, pid7 = '19800214') =>
  Buffer.from(
    [
      'MSH|^~\\&|LIS|CITYLAB|EHR|CLINIC|20260314093000-0500||ORU^R01^ORU_R01|LAB0001|P|2.5.1',
      `PID|1||MRN12345^^^CLINIC^MR||DOE^JANE||${pid7}|F||||||||||||||||||||||${pid30}`,
      `OBR|1||LAB77^LIS|2345-7^Glucose^LN|||20260314||||||||||||||||||F`,
      `OBX|1|NM|2345-7^Glucose^LN||105|mg/dL|||||${obx11}`,
    ].join('\r'),
  );

const ackCode = (bytes: Buffer | undefined) => (bytes ? Hl7Message.parse(bytes).get('MSA-1') : undefined);

type Bundle = { entry: Array<{ resource: Record<string, unknown> }> };
const resources = (payload: Buffer, type: string) =>
  (JSON.parse(payload.toString('utf8')) as Bundle).entry
    .map((e) => e.resource)
    .filter((r) => r.resourceType === type);

describe('mapping warnings in the pipeline', () => {
  it('delivers a message with a bad optional field, answers AA and records the warning', async () => {
    const result = new ChannelPipeline(channel(false)).run(oru('X', 'F'), 'hl7v2');
    expect(result.status).toBe('processed');
    expect(ackCode(result.ack?.bytes)).toBe('AA');
    expect(result.issues).toEqual([
      {
        severity: 'warning',
        code: 'map.function',
        message: 'not a yes/no indicator (expected Y or N)',
        location: 'PID-30 → Patient.deceasedBoolean',
        step: 'map',
      },
    ]);
    const [delivery] = result.deliveries;
    expect(resources(delivery!.payload, 'Observation')[0]?.valueQuantity).toMatchObject({ value: 105 });
    expect(resources(delivery!.payload, 'Patient')[0]?.deceasedBoolean).toBeUndefined();

    const metrics = new EngineMetrics(false);
    recordMappingWarnings('lab', result, metrics);
    const m = (await metrics.registry.getMetricsAsJSON()).find(
      (x) => x.name === 'sinew_mapping_warnings_total',
    );
    expect(m?.values).toEqual([{ value: 1, labels: { channel: 'lab', code: 'map.function' } }]);
  });

  it('gives an empty OBX-11 the default unknown with a warning, by default', () => {
    const result = new ChannelPipeline(channel(false)).run(oru('N', ''), 'hl7v2');
    expect(result.status).toBe('processed');
    expect(ackCode(result.ack?.bytes)).toBe('AA');
    expect(result.issues.map((i) => [i.severity, i.code, i.location])).toEqual([
      ['warning', 'map.defaulted', 'OBX-11 → Observation.status'],
    ]);
    expect(resources(result.deliveries[0]!.payload, 'Observation')[0]?.status).toBe('unknown');
  });

  it('rejects an empty OBX-11 with AE when the map step is strict', () => {
    const result = new ChannelPipeline(channel(true)).run(oru('N', ''), 'hl7v2');
    expect(result.status).toBe('errored');
    expect(ackCode(result.ack?.bytes)).toBe('AE');
    expect(result.issues.map((i) => [i.severity, i.code])).toEqual([['error', 'map.required']]);
    expect(result.deliveries).toEqual([]);
  });

  it("fails the message when a value the channel's keys read cannot be mapped", () => {
    const bad = oru('N', 'F', '1980-02-14');
    const lenient = new ChannelPipeline(channel(false)).run(bad, 'hl7v2');
    expect(lenient.status).toBe('processed');
    expect(lenient.issues.map((i) => i.location)).toEqual(['PID-7 → Patient.birthDate']);
    const keyed = new ChannelPipeline(channel(false, '{ born: PID-7 }')).run(bad, 'hl7v2');
    expect(keyed.status).toBe('errored');
    expect(ackCode(keyed.ack?.bytes)).toBe('AE');
    expect(keyed.issues.map((i) => [i.severity, i.code, i.location])).toEqual([
      ['error', 'map.invalid_date', 'PID-7 → birthDate'],
    ]);
  });
});
