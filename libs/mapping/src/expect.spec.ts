import { Hl7Message } from '@sinew/hl7v2';
import { MappingError, parseTransformerFile, TransformerLibrary } from '@sinew/mapping';

/** A map whose rules and resources say what a value is expected to be (`expect`). */
const library = (rules: string[], resource: string[] = []) =>
  TransformerLibrary.fromFiles([
    parseTransformerFile(
      ['vocabulary: Priority', 'codes: { S: stat, R: routine }', 'no_target: [P]'].join('\n'),
      'priority.yaml',
    ),
    parseTransformerFile(
      [
        'transformer: t',
        'input: hl7v2',
        'output: fhir',
        'resources:',
        '  - name: r',
        '    type: ServiceRequest',
        '    each: OBR',
        ...resource.map((l) => `    ${l}`),
        '    rules:',
        '      - { const: order, to: intent }',
        '      - { const: active, to: status }',
        ...rules.map((l) => `      ${l}`),
      ].join('\n'),
      't.yaml',
    ),
  ]);

const run = (lib: TransformerLibrary, ...obr: string[]) => {
  const msg = Hl7Message.parse(['MSH|^~\\&|A|B|C|D|20260101||ORM^O01|1|P|2.5.1', ...obr].join('\r'));
  const { output, warnings } = lib.get('t').runWithIssues(msg);
  return {
    resources: (output as { entry: Array<{ resource: Record<string, unknown> }> }).entry.map((e) => {
      const { resourceType: _t, id: _i, intent: _n, status: _s, ...rest } = e.resource;
      return rest;
    }),
    warnings: warnings.map((w) => `${w.code} ${w.source} → ${w.target}: ${w.message}`),
  };
};

describe('values a rule does not take are warnings', () => {
  it('a code missing from the vocabulary under unmapped: drop is dropped with a warning; a no_target code without', () => {
    const lib = library(['- { from: OBR-5, to: priority, vocab: Priority, unmapped: drop }']);
    expect(run(lib, 'OBR|1||||S', 'OBR|2||||P', 'OBR|3||||ZZ', 'OBR|4')).toEqual({
      resources: [{ priority: 'stat' }, {}, {}, {}],
      warnings: [
        'map.unmapped_dropped OBR[3]-5 → ServiceRequest.priority: code is not in vocabulary Priority; the element was dropped',
      ],
    });
  });

  it('a code missing from the vocabulary under unmapped: default gets the default with a warning', () => {
    const lib = library([
      '- { from: OBR-5, to: priority, vocab: Priority, unmapped: default, default: routine }',
    ]);
    expect(run(lib, 'OBR|1||||ZZ')).toEqual({
      resources: [{ priority: 'routine' }],
      warnings: [
        'map.unmapped_defaulted OBR-5 → ServiceRequest.priority: code is not in vocabulary Priority; the default was written',
      ],
    });
  });

  it('expect skips a rule whose present value is not as expected, with a warning; an empty value is not checked', () => {
    const lib = library([
      '- from: OBR-6',
      '  to: occurrenceDateTime',
      '  fn: hl7_datetime',
      "  expect: { path: OBR-6, matches: '^\\d{12}' }",
    ]);
    expect(run(lib, 'OBR|1|||||202601011030', 'OBR|2|||||20260101', 'OBR|3')).toEqual({
      resources: [{ occurrenceDateTime: '2026-01-01' }, {}, {}],
      warnings: [
        'map.unexpected OBR[2]-6 → ServiceRequest.occurrenceDateTime: the value does not have the form the element needs; the element was not written',
      ],
    });
  });

  it('expect is checked once when holds; unexpected: write applies the rule after the warning', () => {
    const lib = library([
      '- from: OBR-4.2',
      '  to: code.text',
      '  when: { not: { path: OBR-4.3, in: [LN] } }',
      '  expect: { path: OBR-4.3, in: [L, 99LAB] }',
      '  unexpected: write',
    ]);
    expect(run(lib, 'OBR|1|||G^Glucose^L', 'OBR|2|||G^Glucose^LN', 'OBR|3|||G^Glucose^XX')).toEqual({
      resources: [{ code: { text: 'Glucose' } }, {}, { code: { text: 'Glucose' } }],
      warnings: [
        'map.unexpected OBR[3]-4.3 → ServiceRequest.code.text: the value is not one of L, 99LAB; it was written all the same',
      ],
    });
  });

  it('a resource whose expect does not hold is not produced, with a warning naming its type', () => {
    const lib = library(
      [],
      ['when: { not: { path: OBR-25, in: [X] } }', 'expect: { path: OBR-25, in: [F, P] }'],
    );
    const out = run(lib, 'OBR|1', 'OBR|2||||||||||||||||||||||||X', 'OBR|3||||||||||||||||||||||||Q');
    expect(out.resources).toHaveLength(1);
    expect(out.warnings).toEqual([
      'map.unexpected OBR[3]-25 → ServiceRequest: the value is not one of F, P; the resource was not produced',
    ]);
  });

  it('an expect that cannot be compiled is an error at its place in the file', () => {
    expect(() =>
      library(["- { from: OBR-6, to: occurrenceDateTime, expect: { path: OBR-6, matches: '(' } }"]),
    ).toThrow(MappingError);
  });
});
