import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TransformerLibrary, parseTransformerFile, runTransformerTestFile } from '@sinew/mapping';

describe('transformer test files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-testing-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const lib = TransformerLibrary.fromFiles([
    parseTransformerFile(
      [
        'transformer: codes',
        'input: hl7v2',
        'output: fhir',
        'resources:',
        '  - name: obs',
        '    type: Observation',
        '    segment: OBX',
        '    rules:',
        '      - { from: OBX-3.1, to: "code.coding[0].code" }',
        '      - { const: "http://loinc.org", to: "code.coding[0].system" }',
      ].join('\n'),
      'codes.yaml',
    ),
  ]);

  const run = (expect: string) => {
    const file = join(dir, 'codes.test.yaml');
    writeFileSync(
      file,
      [
        'transformer: codes',
        'tests:',
        '  - name: a code',
        '    input: |',
        '      MSH|^~\\&|A||||20260101||ORU^R01|1|P|2.5.1',
        '      OBX|1|NM|2345-7',
        '    expect:',
        `      ${expect}`,
      ].join('\n'),
    );
    return runTransformerTestFile(file, lib)[0];
  };

  it('compares expected objects whatever the order of their keys', () => {
    expect(
      run("Bundle.entry.resource.code.coding: { system: 'http://loinc.org', code: 2345-7 }")?.failures,
    ).toEqual([]);
    expect(run("Bundle.entry.resource.code.coding: { system: 'http://loinc.org', code: '1' }")?.passed).toBe(
      false,
    );
  });
});

describe('map test files (one segment or datatype map)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-map-testing-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const lib = TransformerLibrary.fromFiles([
    parseTransformerFile(
      'map: CX[Identifier]\nkind: datatype\nrules:\n  - { from: "1", to: value }\n  - { from: "5", to: "type.coding[0].code" }\n',
      'cx.yaml',
    ),
    parseTransformerFile(
      'map: PID[Patient]\nkind: segment\nrules:\n  - { from: "PID-3[*]", to: "identifier[]", map: "CX[Identifier]" }\n',
      'pid.yaml',
    ),
  ]);
  const MSG = [
    '    input: |',
    '      MSH|^~\\&|A||||20260101||ADT^A01|1|P|2.5.1',
    '      PID|1||MRN1^^^^MR~A2',
  ];

  const run = (lines: string[]) => {
    const file = join(dir, 'map.test.yaml');
    writeFileSync(file, lines.join('\n'));
    return runTransformerTestFile(file, lib).map((r) => r.failures);
  };

  it('applies a datatype map to what from selects; expect reads inside what it builds', () => {
    expect(
      run([
        'map: CX[Identifier]',
        'tests:',
        '  - name: cx',
        ...MSG,
        '    from: PID-3',
        '    expect:',
        '      value: MRN1',
        '      type.coding.code: MR',
      ]),
    ).toEqual([[]]);
  });

  it('applies a segment map to its own segment by default', () => {
    expect(
      run([
        'map: PID[Patient]',
        'tests:',
        '  - name: pid',
        ...MSG,
        '    expect:',
        '      identifier.value: [MRN1, A2]',
      ]),
    ).toEqual([[]]);
  });

  it('says what is wrong with a from', () => {
    expect(
      run([
        'map: CX[Identifier]',
        'tests:',
        '  - name: no from',
        ...MSG,
        '    expect: { value: x }',
        '  - name: nothing there',
        ...MSG,
        '    from: PID-19',
        '    expect: { value: x }',
      ]),
    ).toEqual([
      ['from: give the path of the value CX[Identifier] is applied to (e.g. PID-3)'],
      ['from: PID-19 selects nothing in the input'],
    ]);
  });
});
