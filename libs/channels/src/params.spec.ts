import type { Hl7Message } from '@sinew/hl7v2';
import { parseTransformerFile, TransformerLibrary } from '@sinew/mapping';
import { compileChannel } from './compile';
import { formatProblem } from './problem';
import { builtInRegistries } from './registries';

const registries = builtInRegistries();

/** A map with a parameter that has no default and one that is an integer. */
const tagged = TransformerLibrary.fromFiles([
  parseTransformerFile(
    `transformer: tag-patient
input: fhir
output: json
params:
  site: { description: the clinic site code }
  copies: { type: integer, default: 1 }
resources:
  - name: out
    rules:
      - { from: '%site', to: site }
      - { from: '%copies', to: copies }
`,
    'tag-patient.yaml',
  ),
]);

const channel = (step: string | undefined, destination = '') => `id: ehr-to-pms
source: { type: file, directory: in, content_type: fhir }
pipeline:${step === undefined ? ' []' : `\n  - ${step}`}
destinations:
  - name: pms
    type: file
    directory: out
    retry: { attempts: 1 }
${destination}`;

const lines = (text: string, reg = registries) =>
  compileChannel(text, 'c.yaml', reg, { env: { values: {}, strict: true } }).problems.map(formatProblem);

describe('transformer parameters in channels', () => {
  it('a map step runs its transformer with the params it gives', () => {
    const r = compileChannel(
      channel('map: { transformer: patient-to-adt, params: { event: A28 } }'),
      'c.yaml',
      registries,
      { env: { values: {}, strict: true } },
    );
    expect(r.problems).toEqual([]);
    const step = r.channel?.steps[0];
    if (step?.kind !== 'map') throw new Error('expected a map step');
    expect(step.transformer.boundName).toBe('patient-to-adt?event=A28');
    const msg = step.transformer.run({ resourceType: 'Patient', name: [{ family: 'Test' }] }) as Hl7Message;
    expect([msg.get('MSH-9'), msg.get('EVN-1')]).toEqual(['ADT^A28^ADT_A05', 'A28']);
  });

  it('a destination transformer takes transformer_params', () => {
    const r = compileChannel(
      channel(
        undefined,
        '  - name: archive\n    type: file\n    directory: out2\n    retry: { attempts: 1 }\n    transformer: patient-to-adt\n    transformer_params: { event: A28 }\n',
      ),
      'c.yaml',
      registries,
      { env: { values: {}, strict: true } },
    );
    expect(r.problems.map(formatProblem)).toEqual([]);
    expect(r.channel?.destinations[1]?.transformer?.boundName).toBe('patient-to-adt?event=A28');
  });

  it('lints unknown names, ill-typed values, missing values and params without a transformer', () => {
    const reg = builtInRegistries(tagged);
    expect(
      lines(channel('map: { transformer: tag-patient, params: { site: NORTH, copies: two } }'), reg),
    ).toEqual([
      'c.yaml:4:69 error reference.transformer_param pipeline.0.map.params.copies: parameter copies is integer: "two" is not an integer',
    ]);
    expect(lines(channel('map: { transformer: tag-patient }'), reg)).toEqual([
      'c.yaml:4:25 error reference.transformer_param pipeline.0.map.transformer: tag-patient: parameter site has no default: give a value',
    ]);
    expect(lines(channel('map: { transformer: tag-patient, params: { site: N, sites: S } }'), reg)).toEqual([
      'c.yaml:4:57 error reference.transformer_param pipeline.0.map.params.sites: no parameter named sites (the map takes site, copies)',
    ]);
    expect(lines(channel(undefined, '    transformer_params: { event: A28 }\n'))).toEqual([
      'c.yaml:9:5 error reference.transformer_param destinations.0.transformer_params: transformer_params needs a transformer',
    ]);
  });
});
