import { Hl7ErrorCode, Hl7Message, readAck } from '@sinew/hl7v2';
import { ackingHandler, handlerFailureNack, headerProblem, oversizeNack, parseErrorCondition } from './acks';
import { replyBytes } from './handler';

const context = { remoteAddress: '127.0.0.1', remotePort: 40000, connectionId: 1 };
const MSG = 'MSH|^~\\&|LAB|NORTH|SINEW|CLINIC|20260101||ORU^R01^ORU_R01|CTRL0001|P|2.5.1\rPID|1||42\r';

async function reply(bytes: string, onMessage?: () => void) {
  const out = await ackingHandler(onMessage)(Buffer.from(bytes), context);
  return Hl7Message.parse(replyBytes(out) as Buffer);
}

describe('ackingHandler', () => {
  it('answers AA with MSA-2 = MSH-10 once onMessage has run', async () => {
    const seen: string[] = [];
    const ack = await reply(MSG, () => void seen.push('called'));
    expect(readAck(ack)).toMatchObject({ code: 'AA', controlId: 'CTRL0001' });
    expect(seen).toEqual(['called']);
  });

  it('answers AE with ERR 100 for bytes that are not HL7, without calling onMessage', async () => {
    const onMessage = jest.fn();
    const ack = await reply('\x00\x01garbage', onMessage);
    expect(readAck(ack).code).toBe('AE');
    expect(ack.get('ERR-3.1')).toBe('100');
    expect(ack.get('ERR-8')).toMatch(/^hl7\.no_header/);
    expect(onMessage).not.toHaveBeenCalled();
  });

  it('answers AE with ERR 101 naming the field when MSH-9 or MSH-10 is missing', async () => {
    const ack = await reply('MSH|^~\\&|LAB|NORTH|||20260101||||P|2.5.1\r');
    expect(readAck(ack).code).toBe('AE');
    expect(ack.get('ERR-3.1')).toBe('101');
    expect(ack.get('ERR-8')).toBe('required field MSH-9.1 (message type) is missing');
  });

  it('lets an onMessage failure through, for the server to answer AR', async () => {
    await expect(
      ackingHandler(() => {
        throw new Error('store down');
      })(Buffer.from(MSG), context),
    ).rejects.toThrow('store down');
  });
});

describe('negative ACKs written by the server', () => {
  it('maps parse errors to HL7 table 0357 conditions', () => {
    expect(parseErrorCondition(Hl7ErrorCode.NoHeader)).toBe('100');
    expect(parseErrorCondition(Hl7ErrorCode.SegmentName)).toBe('100');
    expect(parseErrorCondition(Hl7ErrorCode.Delimiters)).toBe('102');
    expect(parseErrorCondition(Hl7ErrorCode.Charset)).toBe('102');
    expect(parseErrorCondition(Hl7ErrorCode.Path)).toBe('207');
  });

  it('answers a failed handler with AR 207, salvaging MSH-10', () => {
    const ack = Hl7Message.parse(handlerFailureNack(Buffer.from(MSG)));
    expect(readAck(ack)).toMatchObject({ code: 'AR', controlId: 'CTRL0001' });
    expect(ack.get('ERR-3.1')).toBe('207');
  });

  it('answers an oversize frame with AR 207 naming the limit, from the first bytes alone', () => {
    const ack = Hl7Message.parse(oversizeNack(Buffer.from(MSG.slice(0, 90)), 1024));
    expect(readAck(ack)).toMatchObject({ code: 'AR', controlId: 'CTRL0001' });
    expect(readAck(ack).text).toBe('message too large: the limit is 1024 bytes (mllp.frame_too_large)');
  });

  it('never fails to build a negative ACK, even for a header no ACK can be written for', () => {
    // "." is the repetition character and MSH-12 is empty: an ACK's default version 2.5.1 cannot be written.
    const odd = Buffer.from('MSH|^.\\&|LAB|NORTH|||20260101||ADT^A01|ODD-2|P\rPID|1\r');
    const ack = Hl7Message.parse(handlerFailureNack(odd));
    expect(readAck(ack)).toMatchObject({ code: 'AR', controlId: 'ODD-2' });
    expect(ack.toString().startsWith('MSH|^~\\&|')).toBe(true);
  });
});

describe('headerProblem', () => {
  const header = (text: string) => headerProblem(Hl7Message.parse(text));

  it('passes a sound header, odd but printable delimiters included', () => {
    expect(header(MSG)).toBeUndefined();
    expect(header('MSH#$%*@#LAB#NORTH#####ADT$A01#C-1#P#2.5.1\r')).toBeUndefined();
  });

  it.each([
    [
      'a control character as field separator',
      'MSH\x01^~\\&\x01L\x01\x01\x01\x01\x01\x01ADT\x01C-1\x01P\r',
      'MSH-1',
    ],
    ['a control character among the encoding characters', 'MSH|^\x02\\&|L||||||ADT|C-1|P\r', 'MSH-2'],
    ['a message type that is not one', 'MSH|^~\\&|L||||||a$$|C-1|P\r', 'MSH-9.1'],
    ['a control character in MSH-10', 'MSH|^~\\&|L||||||ADT|C\x07|P\r', 'MSH-10'],
    ['"." as a delimiter with no MSH-12 (no ACK can be written)', 'MSH|^.\\&|L||||||ADT|C-1|P\r', 'MSH-2'],
  ])('refuses %s (AE 102, named field)', (_what, text, location) => {
    expect(header(text)).toMatchObject({ code: 'header.malformed', condition: '102', location });
  });

  it('answers a malformed header with AE on the default delimiters, keeping a plain MSH-10', async () => {
    const ack = await reply('MSH\x01^~\\&\x01L\x01\x01\x01\x01\x01\x01ADT\x01C-1\x01P\r');
    expect(readAck(ack)).toMatchObject({ code: 'AE', controlId: 'C-1' });
    expect(ack.get('ERR-3.1')).toBe('102');
    expect(ack.delimiters.field).toBe('|');
  });
});
