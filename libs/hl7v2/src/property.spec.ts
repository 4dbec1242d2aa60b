import { DEFAULT_DELIMITERS, Hl7Message, decodeValue, encodeValue, type Delimiters } from '@sinew/hl7v2';

describe('regressions found by these properties', () => {
  it('encodeValue escapes a formatting escape whose body holds a delimiter', () => {
    const d: Delimiters = { field: '|', component: '+', repetition: '~', escape: '\\', subcomponent: '&' };
    const encoded = encodeValue('a\\.sp+2\\b', d);
    expect(encoded).not.toContain('+');
    expect(decodeValue(encoded, d)).toBe('a\\.sp+2\\b');
    const msg = Hl7Message.create({ type: 'ADT+A01', delimiters: d });
    msg.set('NTE-3.1', 'x\\.in-4\\y\\.sp+2\\');
    expect(Hl7Message.parse(msg.toString()).get('NTE-3.1')).toBe('x\\.in-4\\y\\.sp+2\\');
    // With ordinary delimiters the same escape is written as it is.
    expect(encodeValue('a\\.sp+2\\b', DEFAULT_DELIMITERS)).toBe('a\\.sp+2\\b');
  });
});

describe('regressions: decoding', () => {
  it('the closing character of a kept formatting escape does not open another sequence', () => {
    const d = DEFAULT_DELIMITERS;
    // \.br\ then the text "F" then \E\: the value is \.br\F\ (a line break, F, a backslash).
    expect(decodeValue('\\.br\\F\\E\\', d)).toBe('\\.br\\F\\');
    expect(decodeValue(encodeValue('\\H\\S\\N\\', d), d)).toBe('\\H\\S\\N\\');
    expect(decodeValue('\\H\\bold\\N\\ \\.br\\R\\E\\', d)).toBe('\\H\\bold\\N\\ \\.br\\R\\');
    // Sequences written one after another still decode.
    expect(decodeValue('\\.br\\\\F\\', d)).toBe('\\.br\\|');
    expect(decodeValue('\\.br\\F\\E\\', d, 'utf8', 'text')).toBe('\nF\\');
    const msg = Hl7Message.create({ type: 'ORU^R01' });
    msg.set('OBX[1]-5', 'line 1\\.br\\F\\');
    expect(Hl7Message.parse(msg.toBuffer()).get('OBX-5')).toBe('line 1\\.br\\F\\');
  });
});

describe('regressions: building', () => {
  it('Hl7Message.create writes the bytes in the character set it puts in MSH-18', () => {
    const msg = Hl7Message.create({ type: 'ADT^A01', charset: '8859/1' });
    expect(msg.encoding).toBe('latin1');
    msg.set('PID-5.1', 'Müller');
    const bytes = msg.toBuffer();
    expect(bytes.includes(Buffer.from('M\xfcller', 'latin1'))).toBe(true);
    expect(Hl7Message.parse(bytes).get('PID-5.1')).toBe('Müller');
    expect(Hl7Message.create({ type: 'ADT^A01', charset: 'UNICODE UTF-8' }).encoding).toBe('utf8');
    expect(Hl7Message.create({ type: 'ADT^A01', charset: 'ASCII~UNICODE UTF-8' }).encoding).toBe('latin1');
    expect(() => Hl7Message.create({ type: 'ADT^A01', charset: 'ISO IR87' })).toThrow(
      expect.objectContaining({ code: 'hl7.charset' }),
    );
  });
});

describe('regressions: building with unusual delimiters', () => {
  it('Hl7Message.create escapes the version, date, control and processing id it writes', () => {
    const d: Delimiters = { field: '.', component: '+', repetition: '~', escape: '\\', subcomponent: '&' };
    const msg = Hl7Message.create({
      type: 'ADT+A01',
      delimiters: d,
      controlId: 'A.1',
      dateTime: '20260101+0100',
    });
    const parsed = Hl7Message.parse(msg.toBuffer());
    expect(parsed.get('MSH-7')).toBe('20260101+0100');
    expect(parsed.get('MSH-9.2')).toBe('A01');
    expect(parsed.get('MSH-10')).toBe('A.1');
    expect(parsed.get('MSH-11')).toBe('P');
    expect(parsed.get('MSH-12')).toBe('2.5.1');
    expect(parsed.version).toBe('2.5.1');
  });
});
