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
