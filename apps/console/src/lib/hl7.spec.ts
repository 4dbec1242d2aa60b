import { decodeEscapes, delimitersOf, looksLikeHl7, positionPath, splitMessage } from './hl7';

const MSG = [
  'MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|C1|P|2.5.1',
  'PID|1||MRN-1^^^NORTH&1.2.3&ISO^MR~ALT-9^^^SSA||DOE^JANE^Q||19700101|F',
  'NTE|1||Fasting \\T\\ repeat\\.br\\in 3 months \\F\\ \\X41C3A9\\',
].join('\r');

describe('splitting an HL7 v2 message for display', () => {
  it('reads the delimiters from MSH-1 and MSH-2', () => {
    expect(delimitersOf(MSG)).toEqual({
      field: '|',
      component: '^',
      repetition: '~',
      escape: '\\',
      subcomponent: '&',
    });
    expect(delimitersOf('MSH#*@!$#A')).toEqual({
      field: '#',
      component: '*',
      repetition: '@',
      escape: '!',
      subcomponent: '$',
    });
    expect(delimitersOf('not hl7').field).toBe('|');
  });

  it('numbers MSH fields as the standard does (MSH-1 is the separator, MSH-2 not split)', () => {
    const msh = splitMessage(MSG).segments[0]!;
    expect(msh.fields[0]).toMatchObject({ number: 1, raw: '|' });
    expect(msh.fields[1]).toMatchObject({ number: 2, raw: '^~\\&' });
    expect(msh.fields[1]!.repetitions).toHaveLength(1);
    expect(msh.fields.find((f) => f.number === 9)!.repetitions[0]!.components.map((c) => c.value)).toEqual([
      'ORU',
      'R01',
    ]);
    expect(msh.fields.find((f) => f.number === 10)!.raw).toBe('C1');
  });

  it('splits repetitions, components and subcomponents', () => {
    const pid = splitMessage(MSG).segments[1]!;
    expect(pid.name).toBe('PID');
    const f3 = pid.fields[2]!;
    expect(f3.number).toBe(3);
    expect(f3.repetitions).toHaveLength(2);
    expect(f3.repetitions[0]!.components[3]!.subcomponents).toEqual(['NORTH', '1.2.3', 'ISO']);
    expect(f3.repetitions[1]!.components[0]!.value).toBe('ALT-9');
    expect(pid.fields[4]!.repetitions[0]!.components.map((c) => c.value)).toEqual(['DOE', 'JANE', 'Q']);
  });

  it('decodes escapes in values', () => {
    const nte = splitMessage(MSG).segments[2]!;
    expect(nte.fields[2]!.repetitions[0]!.components[0]!.value).toBe('Fasting & repeat\nin 3 months | Aé');
    const d = delimitersOf(MSG);
    expect(decodeEscapes('a\\S\\b\\R\\c\\E\\d', d)).toBe('a^b~c\\d');
    expect(decodeEscapes('\\H\\bold\\N\\', d)).toBe('bold');
    // Unknown or unterminated sequences stay as written.
    expect(decodeEscapes('x\\Q\\y \\F', d)).toBe('x\\Q\\y \\F');
    expect(decodeEscapes('\\.sp2\\', d)).toBe('\n\n');
  });

  it('ends segments at CR, LF or CRLF, counts occurrences and ignores MLLP framing', () => {
    const m = splitMessage('\u000bMSH|^~\\&|A\r\nOBX|1\nOBX|2\r\r\u001c\r');
    expect(m.segments.map((s) => `${s.name}${s.occurrence}`)).toEqual(['MSH1', 'OBX1', 'OBX2']);
    expect(looksLikeHl7('MSH|^~\\&|')).toBe(true);
    expect(looksLikeHl7('{"resourceType":"Bundle"}')).toBe(false);
  });

  it('writes positions as HL7 paths', () => {
    expect(positionPath('PID', 5, { component: 1 })).toBe('PID-5.1');
    expect(positionPath('PID', 3, { repetition: 2, component: 4, subcomponent: 2 })).toBe('PID-3[2].4.2');
    expect(positionPath('PID', 3, { repetition: 1 })).toBe('PID-3');
  });
});
