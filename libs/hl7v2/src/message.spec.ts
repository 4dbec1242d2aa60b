import { Hl7Message, Hl7ParseError, parseMessage } from '@sinew/hl7v2';

const ADT = [
  'MSH|^~\\&|ADT1|GOOD HEALTH|LAB|MAIN|20260101120000+0100||ADT^A01^ADT_A01|MSG00001|P|2.5.1',
  'EVN|A01|20260101120000',
  'PID|1||PATID1234^^^GOOD HEALTH^MR~555-44-4444^^^USSSA^SS||EVERYMAN^ADAM^A^III||19610615|M||2106-3|2222 HOME STREET^^GREENSBORO^NC^27401-1020|||||||""',
  'NK1|1|JONES^BARBARA^K|SPO^Spouse^HL70063',
  'OBX|1|TX|NOTE||first line\\.br\\second \\F\\ and \\S\\ and \\T\\ and \\R\\ and \\E\\ done',
  'OBX|2|ST|CODE||A&B',
  'OBX|3|ST|X||',
].join('\r');

const parseError = (fn: () => unknown): Hl7ParseError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof Hl7ParseError) return err;
    throw err;
  }
  throw new Error('expected an Hl7ParseError');
};

describe('reading values by path', () => {
  const msg = Hl7Message.parse(ADT);

  it.each([
    ['MSH-1', '|'],
    ['MSH-2', '^~\\&'],
    ['MSH-3', 'ADT1'],
    ['MSH-9', 'ADT^A01^ADT_A01'],
    ['MSH-9.2', 'A01'],
    ['MSH-10', 'MSG00001'],
    ['PID-3', 'PATID1234^^^GOOD HEALTH^MR'],
    ['PID-3.1', 'PATID1234'],
    ['PID-3[2].1', '555-44-4444'],
    ['PID-3[2].4', 'USSSA'],
    ['PID-5.1', 'EVERYMAN'],
    ['PID-5.2', 'ADAM'],
    ['PID-7', '19610615'],
    ['PID[1]-8', 'M'],
    ['OBX[2]-5', 'A&B'],
    ['OBX[2]-5.1', 'A'],
    ['OBX[2]-5.1.1', 'A'],
    ['OBX[2]-5.1.2', 'B'],
  ])('%s → %s', (path, value) => {
    expect(msg.get(path)).toBe(value);
  });

  it('reads a component that holds subcomponents as its first subcomponent; getRaw gives the whole', () => {
    const m = Hl7Message.parse(
      'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5.1\rPID|1||X||Smith&Booth&Jones^Ann~van\\T\\der&Berg^Jo\r',
    );
    expect(m.get('PID-5.1')).toBe('Smith');
    expect(m.getRaw('PID-5.1')).toBe('Smith&Booth&Jones');
    expect(m.get('PID-5.1.2')).toBe('Booth');
    expect(m.get('PID-5.1.3')).toBe('Jones');
    expect(m.get('PID-5.2')).toBe('Ann');
    // Escapes in the first subcomponent are decoded; the field keeps its encoded form.
    expect(m.get('PID-5[2].1')).toBe('van&der');
    expect(m.getAll('PID-5[*].1')).toEqual(['Smith', 'van&der']);
    expect(m.get('PID-5')).toBe('Smith&Booth&Jones^Ann');
    // A component's first subcomponent may be empty.
    expect(Hl7Message.parse('MSH|^~\\&|A\rPID|1||&ISO').get('PID-3.1')).toBe('');
  });

  it('decodes escapes using the message delimiters, keeps formatting escapes', () => {
    expect(msg.get('OBX-5')).toBe('first line\\.br\\second | and ^ and & and ~ and \\ done');
    expect(msg.getRaw('OBX-5')).toBe(
      'first line\\.br\\second \\F\\ and \\S\\ and \\T\\ and \\R\\ and \\E\\ done',
    );
  });

  it('renders formatting escapes as text when asked', () => {
    const text = Hl7Message.parse(ADT, { formatting: 'text' });
    expect(text.get('OBX-5')).toBe('first line\nsecond | and ^ and & and ~ and \\ done');
  });

  it('returns empty, never throws, out of range', () => {
    for (const p of ['PID-99', 'PID-3[9]', 'PID-5.9', 'PID-5.1.9', 'OBX[9]-5', 'ZZZ-1', 'PV1-2', 'MSH-2.1']) {
      expect(msg.get(p)).toBe('');
      expect(msg.getRaw(p)).toBe('');
      expect(msg.has(p)).toBe(false);
    }
  });

  it('tells HL7 null ("") apart from an empty value', () => {
    expect(msg.get('PID-18')).toBe('""');
    expect(msg.isNull('PID-18')).toBe(true);
    expect(msg.has('PID-18')).toBe(true);
    expect(msg.isNull('PID-17')).toBe(false);
    expect(msg.get('PID-17')).toBe('');
    expect(msg.isNull('OBX[3]-5')).toBe(false);
  });

  it('lists with * wildcards', () => {
    expect(msg.getAll('OBX[*]-1')).toEqual(['1', '2', '3']);
    expect(msg.getAll('PID-3[*].1')).toEqual(['PATID1234', '555-44-4444']);
    expect(msg.getAll('PID-3[*].5')).toEqual(['MR', 'SS']);
    expect(msg.getAll('OBX[*]-3.1')).toEqual(['NOTE', 'CODE', 'X']);
  });

  it('exposes the header shortcuts', () => {
    expect(msg.messageType).toBe('ADT^A01');
    expect(msg.messageCode).toBe('ADT');
    expect(msg.triggerEvent).toBe('A01');
    expect(msg.controlId).toBe('MSG00001');
    expect(msg.version).toBe('2.5.1');
  });

  it('refuses a malformed path with hl7.path', () => {
    for (const p of ['PID', 'pid-3', 'PID-0', 'PID-3[0]', 'PID-3..1', 'PID 3', '']) {
      if (p === 'PID') continue; // a bare segment name is a valid path (the whole segment)
      expect(parseError(() => msg.get(p)).code).toBe('hl7.path');
    }
    expect(msg.get('PID')).toMatch(/^PID\|1\|\|PATID1234/);
  });
});

describe('delimiters and line endings', () => {
  it('reads delimiters from MSH-1/MSH-2 (nothing hard-coded)', () => {
    const msg = Hl7Message.parse('MSH#*$!@#APP#FAC\rPID#1##ID1$ID2#*#DOE*JOHN@X!F!');
    expect(msg.delimiters).toEqual({
      field: '#',
      component: '*',
      repetition: '$',
      escape: '!',
      subcomponent: '@',
    });
    expect(msg.get('MSH-3')).toBe('APP');
    expect(msg.get('PID-3[2]')).toBe('ID2');
    expect(msg.get('PID-5.2.2')).toBe('X#');
    expect(msg.get('PID-5.2.1')).toBe('JOHN');
  });

  it('accepts the v2.7 truncation character and decodes \\P\\', () => {
    const msg = Hl7Message.parse('MSH|^~\\&#|A\rNTE|1||cut here\\P\\');
    expect(msg.delimiters.truncation).toBe('#');
    expect(msg.get('NTE-3')).toBe('cut here#');
    msg.set('NTE-3', 'a#b');
    expect(msg.getRaw('NTE-3')).toBe('a\\P\\b');
  });

  it.each([
    ['CR', '\r'],
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('accepts %s segment endings and writes them back', (_n, eol) => {
    const text = ['MSH|^~\\&|A', 'PID|1||X', 'PV1|1|I'].join(eol) + eol;
    const msg = Hl7Message.parse(Buffer.from(text));
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'PV1']);
    expect(msg.toString()).toBe(text);
  });

  it('refuses unusable delimiters with hl7.delimiters', () => {
    for (const bad of ['MSH', 'MSH|^~', 'MSH|^^\\&|', 'MSHA^~\\&|', 'MSH|^~|&|']) {
      expect(parseError(() => Hl7Message.parse(bad)).code).toBe('hl7.delimiters');
    }
  });
});

describe('character sets', () => {
  it('decodes ISO 8859/1 from MSH-18 and writes the same bytes back', () => {
    const text = 'MSH|^~\\&|A||||||ADT^A01|1|P|2.5||||||8859/1\rPID|1||X||M\xfcller^J\xf6rg\r';
    const bytes = Buffer.from(text, 'latin1');
    const msg = Hl7Message.parse(bytes);
    expect(msg.get('PID-5.1')).toBe('Müller');
    expect(msg.toBuffer().equals(bytes)).toBe(true);
    msg.set('PID-5.2', 'Jürgen');
    expect(msg.toBuffer().includes(Buffer.from('J\xfcrgen', 'latin1'))).toBe(true);
  });

  it('decodes UTF-8 by default and ignores a BOM', () => {
    const body = Buffer.from('MSH|^~\\&|cobas® pro\rPID|1||X||Ł·ódź\r', 'utf8');
    const msg = Hl7Message.parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]));
    expect(msg.get('MSH-3')).toBe('cobas® pro');
    expect(msg.get('PID-5')).toBe('Ł·ódź');
    expect(msg.toBuffer().equals(body)).toBe(true);
  });

  it('decodes \\Xhh\\ in the message character set', () => {
    const utf8 = Hl7Message.parse('MSH|^~\\&|A\rNTE|1||caf\\XC3A9\\');
    expect(utf8.get('NTE-3')).toBe('café');
  });

  it('refuses an unknown MSH-18 with hl7.charset', () => {
    const err = parseError(() =>
      Hl7Message.parse(Buffer.from('MSH|^~\\&|A||||||ADT^A01|1|P|2.5||||||ISO IR87\r')),
    );
    expect(err.code).toBe('hl7.charset');
    expect(err.location.field).toBe(18);
  });
});

describe('parse errors are typed and located', () => {
  it.each([
    ['', 'hl7.empty'],
    ['\r\n\r\n', 'hl7.empty'],
    ['PID|1', 'hl7.no_header'],
    ['MSH|^~\\&|A\rpid|1', 'hl7.segment_name'],
    ['MSH|^~\\&|A\rPIDX|1', 'hl7.segment_name'],
    ['MSH|^~\\&|A\rPID|1\rMSH|^~\\&|B', 'hl7.no_header'],
  ])('%j → %s', (input, code) => {
    const err = parseError(() => parseMessage(input));
    expect(err.code).toBe(code);
    expect(err.message.length).toBeGreaterThan(5);
  });

  it('names the line and prints code, location and message', () => {
    const err = parseError(() => parseMessage('MSH|^~\\&|A\r\nPID|1\r\nob1|2'));
    expect(err.location.line).toBe(3);
    expect(err.toString()).toMatch(/^hl7\.segment_name at line 3: /);
    expect(err.toJSON()).toMatchObject({ code: 'hl7.segment_name', location: { line: 3 } });
  });
});

describe('writing', () => {
  it('editing one field changes only that field', () => {
    const msg = Hl7Message.parse(ADT);
    msg.set('PID-7', '19610616');
    const before = ADT.split('\r');
    const after = msg.toString().split('\r');
    expect(after).toHaveLength(before.length);
    after.forEach((seg, i) => {
      if (i === 2) expect(seg).toBe((before[i] as string).replace('|19610615|', '|19610616|'));
      else expect(seg).toBe(before[i]);
    });
  });

  it('encodes delimiters in values and keeps siblings', () => {
    const msg = Hl7Message.parse(ADT);
    msg.set('PID-5.2', 'A|B^C&D~E\\F');
    expect(msg.getRaw('PID-5')).toBe('EVERYMAN^A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F^A^III');
    expect(msg.get('PID-5.2')).toBe('A|B^C&D~E\\F');
    msg.set('PID-3[2].1', 'NEW');
    expect(msg.getRaw('PID-3')).toBe('PATID1234^^^GOOD HEALTH^MR');
    expect(msg.getRaw('PID-3[*]')).toBe('PATID1234^^^GOOD HEALTH^MR~NEW^^^USSSA^SS');
    msg.set('PID-3[3].4.2', 'ISO');
    expect(msg.getAll('PID-3[*].4.2')).toEqual(['', '', 'ISO']);
  });

  it('writes CR and LF in a value as \\X0D\\ and \\X0A\\', () => {
    const msg = Hl7Message.parse(ADT);
    msg.set('OBX[3]-5', 'line1\r\nline2');
    expect(msg.getRaw('OBX[3]-5')).toBe('line1\\X0D\\\\X0A\\line2');
    expect(Hl7Message.parse(msg.toBuffer()).get('OBX[3]-5')).toBe('line1\r\nline2');
  });

  it('setRaw keeps structure; setNull writes ""', () => {
    const msg = Hl7Message.parse(ADT);
    msg.setRaw('PID-5', 'DOE^JANE');
    expect(msg.get('PID-5.2')).toBe('JANE');
    msg.setNull('PID-8');
    expect(msg.isNull('PID-8')).toBe(true);
    expect(msg.getRaw('PID-8')).toBe('""');
  });

  it('refuses writes that would break the message', () => {
    const msg = Hl7Message.parse(ADT);
    expect(parseError(() => msg.set('MSH-1', '#')).code).toBe('hl7.write');
    expect(parseError(() => msg.setRaw('PID-5.1', 'A^B')).code).toBe('hl7.write');
    expect(parseError(() => msg.setRaw('PID-5', 'A|B')).code).toBe('hl7.write');
    expect(parseError(() => msg.set('OBX[9]-5', 'x')).code).toBe('hl7.write');
    expect(parseError(() => msg.set('OBX[*]-5', 'x')).code).toBe('hl7.write');
  });

  it('builds a message from scratch', () => {
    const msg = Hl7Message.create({
      type: 'ADT^A04^ADT_A01',
      controlId: 'C1',
      dateTime: '20260102030405',
      sendingApplication: 'SINEW',
      version: '2.5.1',
    });
    msg.set('EVN-1', 'A04');
    msg.set('PID-3.1', 'MRN1');
    msg.set('PID-5.1', "O'Brien");
    msg.addSegment('PV1', ['1', 'O']);
    msg.set('OBX[1]-5', '7.2');
    msg.set('OBX[2]-5', '3|4');
    expect(msg.toString()).toBe(
      'MSH|^~\\&|SINEW||||20260102030405||ADT^A04^ADT_A01|C1|P|2.5.1\r' +
        'EVN|A04\r' +
        "PID|||MRN1||O'Brien\r" +
        'PV1|1|O\r' +
        'OBX|||||7.2\r' +
        'OBX|||||3\\F\\4\r',
    );
    expect(Hl7Message.parse(msg.toBuffer()).get('OBX[2]-5')).toBe('3|4');
  });

  it('keeps the sender line ending for added segments', () => {
    const msg = Hl7Message.parse('MSH|^~\\&|A\nPID|1\n');
    msg.addSegment('NTE', ['1', '', 'note']);
    expect(msg.toString()).toBe('MSH|^~\\&|A\nPID|1\nNTE|1||note\n');
  });

  it('an untouched message returns its exact bytes; an edited one re-encodes', () => {
    const bytes = Buffer.from(ADT + '\r');
    const msg = Hl7Message.parse(bytes);
    expect(msg.toBuffer()).toBe(bytes);
    msg.segment('PID')?.setField(8, 'F');
    expect(msg.toBuffer()).not.toBe(bytes);
    expect(msg.get('PID-8')).toBe('F');
  });
});

describe('large values', () => {
  it('reads a 100 KB OBX-5 exactly', () => {
    const payload = 'A'.repeat(100 * 1024);
    const msg = Hl7Message.parse(Buffer.from(`MSH|^~\\&|A\rOBX|1|ED|PDF||^AP^PDF^Base64^${payload}\r`));
    expect(msg.get('OBX-5.5')).toHaveLength(payload.length);
  });
});
