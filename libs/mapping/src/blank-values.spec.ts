import { Hl7Message } from '@sinew/hl7v2';
import { TransformerLibrary, parseTransformerFile } from '@sinew/mapping';

const library = (files: Array<[string, string]>) =>
  TransformerLibrary.fromFiles(files.map(([name, text]) => parseTransformerFile(text, name)));

describe('values padded with spaces', () => {
  const lib = library([
    ['v.yaml', ['vocabulary: Sex', 'source_system: urn:sex', 'codes:', '  F: female'].join('\n')],
    [
      'm.yaml',
      [
        'transformer: pads',
        'input: hl7v2',
        'output: json',
        'resources:',
        '  - name: visit',
        '    segment: PV1',
        '    rules:',
        '      - { from: PV1-17.1, to: doctor }',
        '      - { from: PV1-45, to: end, fn: hl7_datetime }',
        '      - { from: PV1-3, to: ward }',
        '      - { from: PV1-16, to: sex, vocab: Sex }',
        '      - { from: PV1-18, to: "code.coding[]", vocab: Sex, unmapped: pass_through }',
        '      - { const: yes, to: has_doctor, when: { path: PV1-17, present: true } }',
        '      - { const: yes, to: female, when: { path: PV1-16, equals: F } }',
      ].join('\n'),
    ],
  ]);
  const run = (pv1: string) =>
    lib.get('pads').run(Hl7Message.parse(['MSH|^~\\&|A||||20260101||ADT^A01|1|P|2.5.1', pv1].join('\r')));

  it('a blank value (spaces only) is no value: no function, vocabulary or condition sees it', () => {
    const blanks = Array.from({ length: 46 }, () => ' ');
    expect(run(['PV1', ...blanks].join('|'))).toEqual({});
  });

  it('text is written, looked up and compared without its padding', () => {
    const fields = Array.from({ length: 46 }, () => '');
    fields[3] = ' 4 EAST ';
    fields[16] = ' F';
    fields[17] = ' 277 ^SMITH';
    fields[18] = 'DONOR ';
    expect(run(['PV1', ...fields.slice(1)].join('|'))).toEqual({
      doctor: '277',
      ward: '4 EAST',
      sex: 'female',
      code: { coding: [{ system: 'urn:sex', code: 'DONOR' }] },
      has_doctor: 'yes',
      female: 'yes',
    });
  });
});
