import { Hl7Message, Hl7ParseError, buildBatch, parseBatch, splitMessages } from '@sinew/hl7v2';

const msg = (id: string) => `MSH|^~\\&|A|B|C|D|20260101||ADT^A01|${id}|P|2.5.1\rPID|1||${id}\r`;

const errorOf = (input: string): Hl7ParseError => {
  try {
    parseBatch(input);
  } catch (err) {
    if (err instanceof Hl7ParseError) return err;
    throw err;
  }
  throw new Error('expected an error');
};

describe('batch files', () => {
  it('splits messages written one after another', () => {
    const all = splitMessages(msg('1') + msg('2') + msg('3'));
    expect(all.map((m) => m.controlId)).toEqual(['1', '2', '3']);
    expect(all.map((m) => m.toString())).toEqual([msg('1'), msg('2'), msg('3')]);
  });

  it('builds FHS/BHS…BTS/FTS with correct counts and reads it back', () => {
    const messages = ['1', '2', '3'].map((id) => Hl7Message.parse(msg(id)));
    const file = buildBatch(messages, { sendingApplication: 'SINEW', controlId: 'F1' });
    const text = file.toString();
    const lines = text.split('\r').filter(Boolean);
    expect(lines[0]).toMatch(/^FHS\|\^~\\&\|SINEW\|\|\|\|\d{14}[+-]\d{4}\|\|\|\|F1$/);
    expect(lines[1]).toMatch(/^BHS\|/);
    expect(lines.slice(-2)).toEqual(['BTS|3', 'FTS|1']);
    const back = parseBatch(text);
    expect(back.messages.map((m) => m.controlId)).toEqual(['1', '2', '3']);
    expect(back.toString()).toBe(text);
  });

  it('builds a BHS…BTS batch without file envelope', () => {
    const text = buildBatch([Hl7Message.parse(msg('1'))], { envelope: 'batch' }).toString();
    expect(text.startsWith('BHS|')).toBe(true);
    expect(text.endsWith('BTS|1\r')).toBe(true);
  });

  it('separates a built message that has no final line ending', () => {
    const text = buildBatch([Hl7Message.parse('MSH|^~\\&|A'), Hl7Message.parse('MSH|^~\\&|B')]).toString();
    expect(text).toContain('\rMSH|^~\\&|A\rMSH|^~\\&|B\rBTS|2\r');
  });

  it.each([
    ['a segment before MSH', 'BHS|^~\\&\rEVN|A01\rBTS|0', 'hl7.batch.segment_before_header', 2],
    ['two BHS in one batch', `BHS|^~\\&\r${msg('1')}BHS|^~\\&\rBTS|1`, 'hl7.batch.duplicate_bhs', 4],
    ['two FHS in one file', `FHS|^~\\&\r${msg('1')}FHS|^~\\&\rFTS|1`, 'hl7.batch.duplicate_fhs', 4],
    ['a BTS count that does not match', `BHS|^~\\&\r${msg('1')}${msg('2')}BTS|3`, 'hl7.batch.count', 6],
    [
      'an FTS count that does not match',
      `FHS|^~\\&\rBHS|^~\\&\r${msg('1')}BTS|1\rFTS|2`,
      'hl7.batch.count',
      6,
    ],
    ['a segment after FTS', `FHS|^~\\&\r${msg('1')}FTS|1\rPID|1`, 'hl7.batch.structure', 5],
    ['a bad segment name', `${msg('1')}pid|1`, 'hl7.segment_name', 3],
  ])('refuses %s, naming the line', (_what, input, code, line) => {
    const err = errorOf(input);
    expect(err.code).toBe(code);
    expect(err.location.line).toBe(line);
  });
});
