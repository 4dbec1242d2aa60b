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
