import { Hl7Message } from '@sinew/hl7v2';
import { inspectMessage, type InspectedMessage, type InspectedSegment } from './tree';

const WHERE = { file: 'a.hl7', index: 1, of: 1 };

function inspect(...segments: string[]): InspectedMessage {
  return inspectMessage(Hl7Message.parse(segments.join('\r')), WHERE);
}

function segment(m: InspectedMessage, path: string): InspectedSegment {
  const s = m.segments.find((x) => x.path === path);
  if (!s) throw new Error(`no segment ${path}`);
  return s;
}

const MSH = 'MSH|^~\\&|APP|FAC|||20260101||ADT^A01^ADT_A01|CTRL1|P|2.5.1';

describe('inspectMessage', () => {
  it('reads the header: type, control id, version, and where the message came from', () => {
    const m = inspect(MSH);
    expect(m).toMatchObject({
      file: 'a.hl7',
      index: 1,
      of: 1,
      type: 'ADT^A01',
      controlId: 'CTRL1',
      version: '2.5.1',
    });
  });

  it('keeps MSH-1 and MSH-2 as written and names header fields', () => {
    const msh = segment(inspect(MSH), 'MSH');
    expect(msh.description).toBe('Message Header');
    expect(msh.fields.slice(0, 3)).toEqual([
      { index: 1, path: 'MSH-1', name: 'Field Separator', value: '|' },
      { index: 2, path: 'MSH-2', name: 'Encoding Characters', value: '^~\\&' },
      { index: 3, path: 'MSH-3', name: 'Sending Application', value: 'APP' },
    ]);
  });

  it('leaves out empty fields and keeps the numbers of the others', () => {
    const msh = segment(inspect(MSH), 'MSH');
    expect(msh.fields.map((f) => f.index)).toEqual([1, 2, 3, 4, 7, 9, 10, 11, 12]);
  });

  it('decodes escapes in values', () => {
    const pid = segment(inspect(MSH, 'PID|1||||A\\T\\B \\F\\ C\\S\\D'), 'PID');
    expect(pid.fields[1]).toEqual({ index: 5, path: 'PID-5', name: 'Patient Name', value: 'A&B | C^D' });
  });

  it('breaks a field into named components, skipping empty ones', () => {
    const pid = segment(inspect(MSH, 'PID|1||||DOE^JOHN^^^DR'), 'PID');
    expect(pid.fields[1]).toEqual({
      index: 5,
      path: 'PID-5',
      name: 'Patient Name',
      encoded: 'DOE^JOHN^^^DR',
      repetitions: [
        {
          index: 1,
          path: 'PID-5',
          encoded: 'DOE^JOHN^^^DR',
          components: [
            { index: 1, path: 'PID-5.1', name: 'Family Name', value: 'DOE' },
            { index: 2, path: 'PID-5.2', name: 'Given Name', value: 'JOHN' },
            { index: 5, path: 'PID-5.5', name: 'Prefix', value: 'DR' },
          ],
        },
      ],
    });
  });

  it('numbers repetitions in their paths and names subcomponents', () => {
    const pid = segment(inspect(MSH, 'PID|1||123^^^HOSP&1.2.3&ISO^MR~~456'), 'PID');
    const f = pid.fields[1];
    expect(f?.repetitions?.map((r) => r.path)).toEqual(['PID-3[1]', 'PID-3[3]']);
    expect(f?.repetitions?.[1]).toEqual({ index: 3, path: 'PID-3[3]', value: '456' });
    expect(f?.repetitions?.[0]?.components?.[1]).toEqual({
      index: 4,
      path: 'PID-3[1].4',
      name: 'Assigning Authority',
      encoded: 'HOSP&1.2.3&ISO',
      subcomponents: [
        { index: 1, path: 'PID-3[1].4.1', name: 'Namespace ID', value: 'HOSP' },
        { index: 2, path: 'PID-3[1].4.2', name: 'Universal ID', value: '1.2.3' },
        { index: 3, path: 'PID-3[1].4.3', name: 'Universal ID Type', value: 'ISO' },
      ],
    });
  });

  it('numbers segments that occur more than once', () => {
    const m = inspect(MSH, 'PID|1', 'OBX|1|NM', 'OBX|2|NM');
    expect(m.segments.map((s) => [s.path, s.occurrence])).toEqual([
      ['MSH', 1],
      ['PID', 1],
      ['OBX[1]', 1],
      ['OBX[2]', 2],
    ]);
    expect(segment(m, 'OBX[2]').fields[0]?.path).toBe('OBX[2]-1');
  });

  it("names OBX-5's components after the data type in OBX-2", () => {
    const obx = segment(inspect(MSH, 'OBX|1|CE|X^Y||HEM^Hemolyzed^L'), 'OBX');
    const comps = obx.fields.find((f) => f.index === 5)?.repetitions?.[0]?.components;
    expect(comps?.map((c) => c.name)).toEqual(['Identifier', 'Text', 'Name of Coding System']);
  });

  it('shows segments and fields the dictionary does not know without names', () => {
    const z = segment(inspect(MSH, 'ZPI|1|A^B'), 'ZPI');
    expect(z.description).toBeUndefined();
    expect(z.fields).toEqual([
      { index: 1, path: 'ZPI-1', value: '1' },
      {
        index: 2,
        path: 'ZPI-2',
        encoded: 'A^B',
        repetitions: [
          {
            index: 1,
            path: 'ZPI-2',
            encoded: 'A^B',
            components: [
              { index: 1, path: 'ZPI-2.1', value: 'A' },
              { index: 2, path: 'ZPI-2.2', value: 'B' },
            ],
          },
        ],
      },
    ]);
  });

  it("keeps HL7's explicit null and drops fields with nothing in them", () => {
    const pid = segment(inspect(MSH, 'PID|""|^^|~|&'), 'PID');
    expect(pid.fields).toEqual([{ index: 1, path: 'PID-1', name: 'Set ID - PID', value: '""' }]);
  });

  it("splits with the message's own delimiters", () => {
    const m = inspect('MSH#$*@%#APP##########2.5.1', 'PID#1####DOE$JANE*ROE$JO##A@F@B');
    const pid = segment(m, 'PID');
    expect(pid.fields.map((f) => f.path)).toEqual(['PID-1', 'PID-5', 'PID-7']);
    expect(pid.fields[1]?.repetitions?.map((r) => r.components?.map((c) => c.value))).toEqual([
      ['DOE', 'JANE'],
      ['ROE', 'JO'],
    ]);
    expect(pid.fields[2]).toMatchObject({ path: 'PID-7', value: 'A#B' });
  });
});
