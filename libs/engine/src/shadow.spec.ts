import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { comparePayloads, diffHl7, diffJson } from './shadow';

const SAMPLE = readFileSync(join(resolve(__dirname, '../../..'), 'channels/samples/oru-r01.hl7'), 'latin1');
const parse = (edit: (m: Hl7Message) => void = () => undefined) => {
  const m = Hl7Message.parse(SAMPLE);
  edit(m);
  return m;
};

describe('diffHl7', () => {
  it('names each difference by HL7 path, components and repetitions included', () => {
    const a = parse((m) => m.set('PID-5.1', 'SMITH'));
    const b = parse((m) => {
      m.set('PID-5.1', 'SMYTH');
      m.set('OBX[2]-5', '1.5');
      m.set('PID-3[2].1', 'X-9');
      m.set('PID-8', 'M');
    });
    expect(diffHl7(a, b)).toEqual([
      { path: 'PID-3[2]', after: 'X-9' },
      { path: 'PID-5.1', before: 'SMITH', after: 'SMYTH' },
      { path: 'PID-8', before: 'F', after: 'M' },
      { path: 'OBX[2]-5', before: '1.4', after: '1.5' },
    ]);
  });

  it('shows decoded values and whole segments present on one side only', () => {
    const a = parse();
    const b = parse((m) => {
      m.set('NTE-3', 'A & B');
      m.addSegment('ZXX').setField(1, 'extra');
    });
    expect(diffHl7(a, b)).toEqual([
      {
        path: 'NTE-3',
        before: 'Above the reference range; repeat in 2 weeks.',
        after: 'A & B',
      },
      { path: 'ZXX', after: 'ZXX|extra' },
    ]);
  });

  it('leaves out the fields a transformer generates', () => {
    const a = parse((m) => m.set('MSH-7', '20260101000000'));
    const b = parse((m) => m.set('MSH-7', '20260101000001'));
    expect(diffHl7(a, b)).toEqual([{ path: 'MSH-7', before: '20260101000000', after: '20260101000001' }]);
    expect(diffHl7(a, b, new Set(['MSH-7']))).toEqual([]);
    expect(
      comparePayloads(
        { body: a.toBuffer(), contentType: 'hl7v2' },
        { payload: b.toBuffer(), payloadType: 'hl7v2' },
        new Set(['MSH-7']),
      ),
    ).toEqual([]);
  });
});

describe('diffJson', () => {
  it('names each difference by JSON pointer', () => {
    const a = { entry: [{ resource: { name: [{ family: 'Smith' }] } }], 'a/b': 1 };
    const b = { entry: [{ resource: { name: [{ family: 'Smyth' }], gender: 'female' } }], 'a/b': 2 };
    expect(diffJson(a, b)).toEqual([
      { path: '/entry/0/resource/name/0/family', before: '"Smith"', after: '"Smyth"' },
      { path: '/entry/0/resource/gender', after: '"female"' },
      { path: '/a~1b', before: '1', after: '2' },
    ]);
  });

  it('compares bytes first and JSON by value, not by member order', () => {
    const payload = Buffer.from('{"a":1,"b":2}');
    expect(comparePayloads({ body: payload, contentType: 'json' }, { payload, payloadType: 'json' })).toEqual(
      [],
    );
    expect(
      comparePayloads(
        { body: Buffer.from('{"b":2,"a":1}'), contentType: 'json' },
        { payload, payloadType: 'json' },
      ),
    ).toEqual([]);
    expect(comparePayloads({ body: payload, contentType: 'json' }, { payload, payloadType: 'fhir' })).toEqual(
      [{ path: '(payload type)', before: 'json', after: 'fhir' }],
    );
  });
});
