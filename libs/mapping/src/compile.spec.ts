import { Hl7Message } from '@sinew/hl7v2';
import { MappingError, TransformerLibrary, parseTransformerFile, type LoadedFile } from '@sinew/mapping';

const compileError = (files: Array<[string, string]>): MappingError => {
  try {
    TransformerLibrary.fromFiles(files.map(([name, text]) => parseTransformerFile(text, name)));
  } catch (err) {
    if (err instanceof MappingError) return err;
    throw err;
  }
  throw new Error('expected a compile error');
};

const ok = (files: Array<[string, string]>) =>
  TransformerLibrary.fromFiles(files.map(([name, text]): LoadedFile => parseTransformerFile(text, name)));

describe('compile errors name the file, line and column', () => {
  it('an unknown key', () => {
    const err = compileError([
      ['t.yaml', 'map: A[B]\nkind: datatype\noutput: json\nrules:\n  - from: "1"\n    too: value\n'],
    ]);
    expect(err.code).toBe('map.schema');
    expect(err.where).toBe('t.yaml:5:5');
  });

  it('an unknown sub-map', () => {
    const err = compileError([
      [
        'm.yaml',
        'map: PID[Patient]\nkind: segment\nrules:\n  - from: PID-5\n    to: name[]\n    map: XPN[Nope]\n',
      ],
    ]);
    expect(err.code).toBe('map.unknown');
    expect(err.where).toBe('m.yaml:6:10');
    expect(err.message).toContain('XPN[Nope]');
  });

  it('an unknown function and bad function arguments', () => {
    expect(
      compileError([
        [
          'f.yaml',
          'map: A[B]\nkind: datatype\noutput: json\nrules:\n  - from: "1"\n    to: x\n    fn: nope\n',
        ],
      ]).code,
    ).toBe('map.unknown');
    const err = compileError([
      [
        'f.yaml',
        'map: A[B]\nkind: datatype\noutput: json\nrules:\n  - from: "1"\n    to: x\n    fn: { name: hl7_datetime, args: { type: week } }\n',
      ],
    ]);
    expect(err.code).toBe('map.invalid_args');
    expect(err.where).toBe('f.yaml:7:9');
  });

  it('a rule with two sources', () => {
    const err = compileError([
      ['r.yaml', 'map: A[B]\nkind: datatype\noutput: json\nrules:\n  - from: "1"\n    const: x\n    to: y\n'],
    ]);
    expect(err.message).toContain('exactly one of from, const, ref or rules');
    expect(err.where).toBe('r.yaml:5:5');
  });

  it('broken YAML', () => {
    const err = compileError([['y.yaml', 'map: [unclosed\n']]);
    expect(err.where).toMatch(/^y\.yaml:\d+:\d+$/);
  });
});

describe('running rules', () => {
  const lib = ok([
    ['v.yaml', 'vocabulary: Yn\ntarget_system: http://x/yn\ncodes:\n  Y: "yes"\n  N: "no"\n'],
    [
      'obx.yaml',
      [
        'map: OBX[Thing]',
        'kind: segment',
        'output: json',
        'rules:',
        '  - { from: OBX-3.1, to: code, required: true }',
        '  - { from: OBX-5, to: value, when: { path: OBX-2, equals: ST } }',
        '  - { from: OBX-5, to: number, fn: number, when: { path: OBX-2, in: [NM, SN] } }',
        '  - { from: OBX-8, to: flag, vocab: Yn, unmapped: pass_through }',
        '  - { from: OBX-9, to: flag2, vocab: Yn, unmapped: default, default: maybe }',
        '  - { from: OBX-10, to: flag3, vocab: Yn, unmapped: drop }',
        '  - { from: NTE-3, following: NTE, to: "notes[]" }',
        '  - { const: fixed, to: kind }',
      ].join('\n'),
    ],
    [
      'msg.yaml',
      [
        'transformer: things',
        'input: hl7v2',
        'output: json',
        'resources:',
        '  - { name: report, each: OBR, rules: [{ from: OBR-4.1, to: test }, { ref: thing, to: "things[]" }] }',
        '  - { name: thing, each: OBX, within: report, map: "OBX[Thing]", rules: [{ ref: report, to: report }] }',
      ].join('\n'),
    ],
  ]);
  const msg = Hl7Message.parse(
    [
      'MSH|^~\\&|LAB||||20260101||ORU^R01|7|P|2.5.1',
      'OBR|1|||GLU',
      'OBX|1|NM|G1||5.5|||Y|Q|Z',
      'NTE|1||fasting',
      'NTE|2||repeat',
      'OBX|2|ST|G2||high|||N',
      'OBR|2|||K',
      'OBX|1|ST|K1||ok',
    ].join('\r'),
  );
  const out = lib.get('things').run(msg) as {
    report: Array<{ test: string; things: string[] }>;
    thing: Array<Record<string, unknown>>;
  };

  it('groups OBX under their OBR and links both ways with deterministic ids', () => {
    expect(out.report.map((r) => r.test)).toEqual(['GLU', 'K']);
    expect(out.report[0]?.things).toHaveLength(2);
    expect(out.report[1]?.things).toHaveLength(1);
    expect(out.thing[0]?.report).toBe(out.thing[1]?.report);
    expect(out.thing[2]?.report).not.toBe(out.thing[0]?.report);
    expect(out.thing[2]?.report).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(lib.get('things').run(msg)).toEqual(out);
  });

  it('applies conditions, functions, vocabularies and their policies, following segments and constants', () => {
    expect(out.thing[0]).toMatchObject({
      code: 'G1',
      number: 5.5,
      flag: 'yes',
      flag2: 'maybe',
      notes: ['fasting', 'repeat'],
      kind: 'fixed',
    });
    expect(out.thing[0]).not.toHaveProperty('value');
    expect(out.thing[0]).not.toHaveProperty('flag3');
    expect(out.thing[1]).toMatchObject({ code: 'G2', value: 'high', flag: 'no' });
    expect(out.thing[1]).not.toHaveProperty('notes');
  });

  it('reports a required value that is missing with its source and target', () => {
    const bad = Hl7Message.parse('MSH|^~\\&|LAB||||20260101||ORU^R01|8|P|2.5.1\rOBR|1\rOBX|1|ST|||x');
    let err: unknown;
    try {
      lib.get('things').run(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MappingError);
    expect((err as MappingError).code).toBe('map.required');
    expect((err as MappingError).location).toEqual({ source: 'OBX OBX-3.1', target: 'code' });
  });
});
