import { Hl7Message } from '@sinew/hl7v2';
import { MappingError, TransformerLibrary, parseTransformerFile, type MappingWarning } from '@sinew/mapping';

const library = (files: Array<[string, string]>) =>
  TransformerLibrary.fromFiles(files.map(([name, text]) => parseTransformerFile(text, name)));

/** A small patient map: an identity (PID-3), optional elements, one nested in a datatype map. */
const lib = library([
  [
    'cx.yaml',
    [
      'map: CX[Identifier]',
      'kind: datatype',
      'rules:',
      '  - { from: "1", to: value, required: true }',
      '  - { from: "7", to: period.start, fn: { name: hl7_datetime, args: { type: date } } }',
    ].join('\n'),
  ],
  [
    'pid.yaml',
    [
      'map: PID[Patient]',
      'kind: segment',
      'rules:',
      '  - { from: "PID-3[*]", to: "identifier[]", map: "CX[Identifier]" }',
      '  - { from: "PID-11[*]", to: "identifier[]", map: "CX[Identifier]" }',
      '  - { from: PID-7, to: birthDate, fn: { name: hl7_datetime, args: { type: date } } }',
      '  - to: "contact[]"',
      '    when: { path: PID-18, present: true }',
      '    rules:',
      '      - to: period',
      '        required: true',
      '        rules:',
      '          - { from: PID-18, to: start, fn: hl7_datetime, required: true }',
      '  - { from: PID-30, to: deceasedBoolean, fn: boolean }',
      '  - to: maritalStatus',
      '    rules:',
      '      - { from: PID-16, to: text }',
      '      - from: PID-17',
      '        to: "coding[]"',
      '        fn: { name: hl7_datetime, args: { type: date } }',
      '        when: { path: PID-17, present: true }',
      '        required: true',
    ].join('\n'),
  ],
  [
    'obx.yaml',
    [
      'map: OBX[Observation]',
      'kind: segment',
      'rules:',
      '  - { from: OBX-3.1, to: code.text, required: true }',
      '  - { from: OBX-11, to: status, required: true, default: unknown }',
    ].join('\n'),
  ],
  [
    'm.yaml',
    [
      'transformer: lab',
      'input: hl7v2',
      'output: fhir',
      'resources:',
      '  - { name: patient, type: Patient, segment: PID, map: "PID[Patient]", identity: PID-3 }',
      '  - { name: observation, type: Observation, each: OBX, map: "OBX[Observation]" }',
    ].join('\n'),
  ],
]);

const MSH = 'MSH|^~\\&|LIS|LAB|EHR|CLINIC|20260101||ORU^R01|1|P|2.5.1';
const message = (...segments: string[]) => Hl7Message.parse([MSH, ...segments].join('\r'));
const pid = (fields: Record<number, string>) => {
  const f: string[] = ['PID'];
  for (const [n, v] of Object.entries(fields)) f[Number(n)] = v;
  return Array.from(f, (v) => v ?? '').join('|');
};

type Bundle = { entry: Array<{ resource: Record<string, unknown> }> };
const resource = (b: unknown, type: string) =>
  (b as Bundle).entry.map((e) => e.resource).find((r) => r.resourceType === type) as Record<string, unknown>;

describe('a value that cannot be converted in an optional element', () => {
  const t = lib.get('lab');

  it('drops that element only, with a warning naming the field and the FHIR element', () => {
    const { output, warnings } = t.runWithIssues(
      message(pid({ 3: 'MRN1^^^CLINIC', 7: '19800214', 30: 'X' }), 'OBX|1|NM|GLU||5||||||F'),
    );
    const patient = resource(output, 'Patient');
    expect(patient.birthDate).toBe('1980-02-14');
    expect(patient.deceasedBoolean).toBeUndefined();
    expect(resource(output, 'Observation').status).toBe('F');
    expect(warnings).toEqual<MappingWarning[]>([
      {
        code: 'map.function',
        message: expect.any(String) as string,
        source: 'PID-30',
        target: 'Patient.deceasedBoolean',
      },
    ]);
    // No patient data in what is recorded.
    expect(JSON.stringify(warnings)).not.toMatch(/MRN1|1980/);
  });

  it('drops the innermost failing element of a datatype map, not the identifier', () => {
    const { output, warnings } = t.runWithIssues(message(pid({ 3: 'MRN1^^^CLINIC', 11: 'ALT7^^^^^^2026X' })));
    expect(resource(output, 'Patient').identifier).toEqual([{ value: 'MRN1' }, { value: 'ALT7' }]);
    expect(warnings.map((w) => [w.code, w.source, w.target])).toEqual([
      ['map.invalid_date', 'PID-11[1].7', 'Patient.identifier.period.start'],
    ]);
  });

  it('drops one repetition whose required part is missing, and keeps the others', () => {
    const { output, warnings } = t.runWithIssues(
      message(pid({ 3: 'MRN1^^^CLINIC', 11: '^^^^^^20260101~ALT8' })),
    );
    expect((resource(output, 'Patient').identifier as unknown[]).length).toBe(2);
    expect(warnings.map((w) => [w.code, w.source, w.target])).toEqual([
      ['map.required', 'PID-11[1].1', 'Patient.identifier'],
    ]);
  });

  it('drops a nested object when a required part of it fails, with one warning', () => {
    const { output, warnings } = t.runWithIssues(message(pid({ 3: 'MRN1', 16: 'M', 17: 'nodate' })));
    expect(resource(output, 'Patient').maritalStatus).toBeUndefined();
    expect(warnings.map((w) => [w.source, w.target])).toEqual([['PID-17', 'Patient.maritalStatus']]);
  });

  it('names later elements rightly after a required nested part failed', () => {
    const { output, warnings } = t.runWithIssues(message(pid({ 3: 'MRN1', 18: 'nodate', 30: 'X' })));
    expect(resource(output, 'Patient').contact).toBeUndefined();
    expect(warnings.map((w) => [w.source, w.target])).toEqual([
      ['PID-18', 'Patient.contact'],
      ['PID-30', 'Patient.deceasedBoolean'],
    ]);
  });

  it('still fails the message when the value is read by the identity (a key)', () => {
    expect(() => t.run(message(pid({ 3: 'MRN1^^^^^^2026X' })))).toThrow(MappingError);
    try {
      t.run(message(pid({ 3: 'MRN1^^^^^^2026X' })));
    } catch (err) {
      expect((err as MappingError).where).toBe('PID-3[1].7 → period.start');
    }
  });

  it('fills a caller-given warnings list through RunOptions', () => {
    const warnings: MappingWarning[] = [];
    t.run(message(pid({ 3: 'MRN1', 7: 'never' })), { warnings });
    expect(warnings.map((w) => w.source)).toEqual(['PID-7']);
  });
});

describe('a required element the source leaves empty', () => {
  const t = lib.get('lab');
  const msg = () => message(pid({ 3: 'MRN1' }), 'OBX|1|NM|GLU||5');

  it('gets the rule default and a map.defaulted warning (lenient, the default)', () => {
    const { output, warnings } = t.runWithIssues(msg());
    expect(resource(output, 'Observation').status).toBe('unknown');
    expect(warnings.map((w) => [w.code, w.source, w.target])).toEqual([
      ['map.defaulted', 'OBX-11', 'Observation.status'],
    ]);
  });

  it('fails the message in strict mode', () => {
    expect(() => t.run(msg(), { strict: true })).toThrow(/a value is required/);
  });

  it('without a default fails the message', () => {
    expect(() => t.run(message(pid({ 3: 'MRN1' }), 'OBX|1|NM|||5||||||F'))).toThrow(MappingError);
  });
});
