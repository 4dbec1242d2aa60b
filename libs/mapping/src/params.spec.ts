import { Hl7Message } from '@sinew/hl7v2';
import { MappingError, MappingErrorCode } from './errors';
import { TransformerLibrary } from './library';
import { parseTransformerFile } from './loader';
import { checkParams, paramsRead, parseParamOption } from './params';

const HL7_MAP = `transformer: tag-visit
input: hl7v2
output: json
params:
  site: { enum: [NORTH, SOUTH], default: NORTH }
  verbose: { type: boolean, default: false }
resources:
  - name: visit
    segment: PV1
    rules:
      - { from: '%site', to: site }
      - { from: PV1-19, to: number }
      - { from: PV1-2, to: class, when: { path: '%verbose', equals: 'true' } }
      - to: detail
        from: PV1-3
        rules:
          - { from: '1', to: unit }
          - { from: '%site', to: site }
`;

const msg = Hl7Message.parse(
  'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5.1\rPV1|1|I|WARD^12||||||||||||||||V-9\r',
);
const lib = () => TransformerLibrary.fromFiles([parseTransformerFile(HL7_MAP, 'tag-visit.yaml')]);

describe('parameters in an HL7 v2 map', () => {
  it('are read as %name by from, by conditions and inside a field value', () => {
    const t = lib().get('tag-visit');
    expect(t.run(msg)).toEqual({ site: 'NORTH', number: 'V-9', detail: { unit: 'WARD', site: 'NORTH' } });
    expect(t.run(msg, { params: { site: 'SOUTH', verbose: true } })).toEqual({
      site: 'SOUTH',
      number: 'V-9',
      class: 'I',
      detail: { unit: 'WARD', site: 'SOUTH' },
    });
  });

  it('a segment or datatype map cannot read one', () => {
    const sub = parseTransformerFile(
      `map: PV1[Visit]
kind: segment
input: hl7v2
output: json
rules:
  - { from: '%site', to: site }
`,
      'pv1-visit.yaml',
    );
    let thrown: unknown;
    try {
      TransformerLibrary.fromFiles([sub]);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MappingError);
    expect((thrown as MappingError).code).toBe(MappingErrorCode.Path);
    expect((thrown as MappingError).message).toBe(
      "%site: segment and datatype maps take no parameters; read it in the message map's rules",
    );
  });
});

describe('checkParams', () => {
  const spec = {
    event: { type: 'string' as const, enum: ['A31', 'A28'], default: 'A31' },
    copies: { type: 'integer' as const },
  };

  it('fills defaults, reads text as the declared type and lists every problem', () => {
    expect(checkParams(spec, { copies: '2' })).toEqual({ values: { copies: 2, event: 'A31' }, problems: [] });
    expect(checkParams(spec, { event: 'A01', extra: 1 }).problems).toEqual([
      { name: 'event', message: 'parameter event is one of A31, A28, not "A01"' },
      { name: 'extra', message: 'no parameter named extra (the map takes event, copies)' },
      { name: 'copies', message: 'parameter copies has no default: give a value' },
    ]);
  });

  it('a declaration whose default is not one of its enum does not load', () => {
    expect(() =>
      TransformerLibrary.fromFiles([
        parseTransformerFile(HL7_MAP.replace('default: NORTH', 'default: EAST'), 'tag-visit.yaml'),
      ]),
    ).toThrow(/the default EAST is not one of enum/);
  });

  it('reads --param name=value and the %names of a FHIRPath expression', () => {
    expect(parseParamOption('event=A28')).toEqual(['event', 'A28']);
    expect(parseParamOption('note=a=b')).toEqual(['note', 'a=b']);
    expect(() => parseParamOption('A28')).toThrow('--param takes name=value, not "A28"');
    expect(paramsRead("iif(%event = 'A28', %site, '%not_a_param') | %ucum")).toEqual(['event', 'site']);
  });
});
