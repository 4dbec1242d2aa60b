import { Hl7Message, Hl7ParseError, buildAck, buildNackForUnparsable, readAck } from '@sinew/hl7v2';

const ORU = [
  'MSH|^~\\&|LABSYS|CITYLAB|SINEW|CLINIC|20260101120000||ORU^R01^ORU_R01|LAB42|P|2.5.1|||AL|NE||UNICODE UTF-8',
  'PID|1||MRN1^^^CLINIC^MR||DOE^JANE',
  'OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L',
].join('\r');

describe('buildAck', () => {
  const original = Hl7Message.parse(ORU);

  it('builds an original-mode AA with swapped applications, MSA-2 and echoed version', () => {
    const ack = buildAck(original, { code: 'AA' });
    expect(ack.get('MSH-3')).toBe('SINEW');
    expect(ack.get('MSH-4')).toBe('CLINIC');
    expect(ack.get('MSH-5')).toBe('LABSYS');
    expect(ack.get('MSH-6')).toBe('CITYLAB');
    expect(ack.getRaw('MSH-9')).toBe('ACK^R01^ACK');
    expect(ack.get('MSH-11')).toBe('P');
    expect(ack.get('MSH-12')).toBe('2.5.1');
    expect(ack.get('MSH-18')).toBe('UNICODE UTF-8');
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('LAB42');
    expect(ack.segmentsNamed('ERR')).toHaveLength(0);
    expect(ack.toString()).toMatch(
      /^MSH\|\^~\\&\|SINEW\|CLINIC\|LABSYS\|CITYLAB\|\d{14}[+-]\d{4}\|\|ACK\^R01\^ACK\|/,
    );
    expect(ack.toString().endsWith('\rMSA|AA|LAB42\r')).toBe(true);
  });

  it('gives every ACK a unique MSH-10, even in the same millisecond', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => buildAck(original, { code: 'AA' }).get('MSH-10')));
    expect(ids.size).toBe(1000);
  });

  it('adds an ERR with location, table 0357 code, severity and text for AE/AR (v2.5+)', () => {
    const ack = buildAck(original, {
      code: 'AE',
      text: 'Birth date is not a valid date',
      error: { code: '102', location: 'PID-7', severity: 'E' },
    });
    expect(ack.get('MSA-1')).toBe('AE');
    expect(ack.get('MSA-3')).toBe('Birth date is not a valid date');
    expect(ack.getRaw('ERR-2')).toBe('PID^1^7^1');
    expect(ack.getRaw('ERR-3')).toBe('102^Data type error^HL70357');
    expect(ack.get('ERR-4')).toBe('E');
    expect(ack.get('ERR-8')).toBe('Birth date is not a valid date');
  });

  it('writes ERR-1 (ELD) for versions before 2.5', () => {
    const v23 = Hl7Message.parse('MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.3\rPID|1');
    const ack = buildAck(v23, { code: 'AR', error: { code: '200', location: 'MSH-9' } });
    expect(ack.getRaw('ERR-1')).toBe('MSH^1^9^200&Unsupported message type&HL70357');
    expect(ack.getRaw('MSH-9')).toBe('ACK^A01');
  });

  it('does not echo a character set Sinew cannot write, so the ACK stays readable', () => {
    const odd = Hl7Message.parse('MSH|^~\\&|A|B|C|D|20260101||ADT^A01|Q1|P|2.5.1||||||12345\rPID|1');
    const ack = buildAck(odd, { code: 'AE', text: 'unsupported' });
    expect(ack.get('MSH-18')).toBe('');
    const escaped = Hl7Message.parse(
      'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|Q2|P|2.5.1||||||\\X41\\SCII\rPID|1',
    );
    const ack2 = buildAck(escaped, { code: 'AE', text: 'unsupported' });
    expect(ack2.get('MSH-18')).toBe('');
    expect(Hl7Message.parse(ack2.toBuffer()).get('MSA-2')).toBe('Q2');
    expect(Hl7Message.parse(ack.toBuffer()).get('MSA-2')).toBe('Q1');
  });

  it('builds enhanced-mode CA/CE/CR', () => {
    for (const code of ['CA', 'CE', 'CR'] as const) {
      const ack = buildAck(original, { code });
      expect(ack.get('MSA-1')).toBe(code);
      expect(ack.segmentsNamed('ERR')).toHaveLength(code === 'CA' ? 0 : 1);
    }
  });

  it("uses the original's delimiters and escapes the text", () => {
    const odd = Hl7Message.parse('MSH#*$!@#APP#FAC#ME#HERE#20260101##ADT*A01#C9#P#2.5.1');
    const ack = buildAck(odd, { code: 'AE', text: 'bad # and * here' });
    expect(ack.toString().startsWith('MSH#*$!@#ME#HERE#APP#FAC#')).toBe(true);
    expect(ack.getRaw('MSA-3')).toBe('bad !F! and !S! here');
    expect(Hl7Message.parse(ack.toBuffer()).get('MSA-3')).toBe('bad # and * here');
  });
});

describe('readAck', () => {
  it('reads code, MSA-2 and ERR texts', () => {
    const ack = Hl7Message.parse(
      'MSH|^~\\&|B|B|A|A|20260101||ACK^A01^ACK|9|P|2.5.1\rMSA|AE|LAB42|oops\rERR||PID^1^7|102^Data type error^HL70357|E||||Bad date\rERR|^^^207&Application internal error&HL70357',
    );
    expect(readAck(ack)).toEqual({
      code: 'AE',
      controlId: 'LAB42',
      text: 'oops',
      errors: ['Bad date', 'Application internal error'],
      accepted: false,
    });
  });

  it('reads the ACKs it builds', () => {
    const original = Hl7Message.parse(ORU);
    expect(readAck(buildAck(original, { code: 'CA' }))).toMatchObject({
      code: 'CA',
      controlId: 'LAB42',
      accepted: true,
    });
  });

  it('reads many ERR segments in linear time', () => {
    const errs = Array.from({ length: 20000 }, (_, i) => `ERR||||E||||e${i}`).join('\r');
    const ack = Hl7Message.parse(`MSH|^~\\&|B|B|A|A|20260101||ACK|9|P|2.5.1\rMSA|AE|X\r${errs}`);
    const start = process.hrtime.bigint();
    expect(readAck(ack).errors).toHaveLength(20000);
    expect(Number(process.hrtime.bigint() - start) / 1e6).toBeLessThan(1000);
  });

  it('refuses a reply without MSA', () => {
    expect(() => readAck(Hl7Message.parse(ORU))).toThrow(Hl7ParseError);
  });
});

describe('buildNackForUnparsable', () => {
  it('salvages MSH-10 and the applications from a broken message', () => {
    const broken = Buffer.from('MSH|^~\\&|LAB|L|ME|M|20260101||ORU^R01|CTRL7|P|2.5.1\rPID|1\rbad segment\r');
    const nack = Hl7Message.parse(
      buildNackForUnparsable(broken, { code: 'AE', text: 'Segment name invalid', errorCode: '100' }),
    );
    expect(nack.get('MSA-1')).toBe('AE');
    expect(nack.get('MSA-2')).toBe('CTRL7');
    expect(nack.get('MSH-5')).toBe('LAB');
    expect(nack.getRaw('ERR-3')).toBe('100^Segment sequence error^HL70357');
    expect(nack.get('ERR-8')).toBe('Segment name invalid');
  });

  it('answers garbage with an AR that has an empty MSA-2', () => {
    const nack = Hl7Message.parse(
      buildNackForUnparsable(Buffer.from([0, 1, 2, 255]), { code: 'AR', text: 'Not HL7', errorCode: '100' }),
    );
    expect(nack.get('MSA-1')).toBe('AR');
    expect(nack.get('MSA-2')).toBe('');
  });
});
