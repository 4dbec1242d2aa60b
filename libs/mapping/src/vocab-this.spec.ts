import { Hl7Message } from '@sinew/hl7v2';
import { TransformerLibrary, mapsReference, parseTransformerFile } from '@sinew/mapping';

const library = (files: Array<[string, string]>) =>
  TransformerLibrary.fromFiles(files.map(([name, text]) => parseTransformerFile(text, name)));

describe('a vocabulary written to $this', () => {
  const lib = library([
    [
      'v.yaml',
      [
        'vocabulary: PatientClass',
        'source_system: http://terminology.hl7.org/CodeSystem/v2-0004',
        'target_system: http://terminology.hl7.org/CodeSystem/v3-ActCode',
        'codes:',
        '  I: { code: IMP, display: inpatient encounter }',
      ].join('\n'),
    ],
    [
      'm.yaml',
      [
        'transformer: visit',
        'input: hl7v2',
        'output: json',
        'resources:',
        '  - name: encounter',
        '    segment: PV1',
        '    rules:',
        '      - to: class',
        '        rules:',
        '          - { from: PV1-2, to: $this, vocab: PatientClass, unmapped: pass_through }',
      ].join('\n'),
    ],
  ]);
  const run = (pv1: string) =>
    lib.get('visit').run(Hl7Message.parse(['MSH|^~\\&|A||||20260101||ADT^A01|1|P|2.5.1', pv1].join('\r')));

  it('merges the Coding (system, code, display) into the object being built', () => {
    expect(run('PV1|1|I')).toEqual({
      class: {
        system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
        code: 'IMP',
        display: 'inpatient encounter',
      },
    });
  });

  it('passes an unmapped code through as a Coding of the source system', () => {
    expect(run('PV1|1|X')).toEqual({
      class: { system: 'http://terminology.hl7.org/CodeSystem/v2-0004', code: 'X' },
    });
  });
});

describe('the built-in maps page', () => {
  it('names an identity given as path and type', () => {
    const lib = library([
      [
        'p.yaml',
        [
          'transformer: doctors',
          'input: hl7v2',
          'output: fhir',
          'resources:',
          '  - name: attending',
          '    type: Practitioner',
          '    segment: PV1',
          '    identity: { path: PV1-7, type: XCN }',
          '    rules:',
          '      - { from: PV1-7.1, to: "identifier[0].value" }',
        ].join('\n'),
      ],
    ]);
    expect(mapsReference(lib)).toContain('| Practitioner (`attending`) | first `PV1` |  | `PV1-7` (XCN) |');
  });
});
