import { Hl7Message } from '@sinew/hl7v2';
import { ANSI, PLAIN, styleFor } from './style';
import { messageHeading, printable, renderMessage, renderSegment } from './text';
import { inspectMessage, type InspectedMessage } from './tree';

function inspect(text: string, where = { file: 'a.hl7', index: 1, of: 1 }): InspectedMessage {
  return inspectMessage(Hl7Message.parse(text), where);
}

const MSG = [
  'MSH|^~\\&|APP|FAC|||20260101||ADT^A01|CTRL1|P|2.5.1',
  'PID|1||123^^^HOSP&1.2.3&ISO^MR~456||DOE^JOHN||19800101',
  'ZPI|1|A^B',
].join('\r');

describe('readable view', () => {
  it('heads each message with file, type, control id and version', () => {
    expect(messageHeading(inspect(MSG))).toBe('== a.hl7: ADT^A01, control id CTRL1, version 2.5.1');
    expect(messageHeading(inspect(MSG, { file: 'b.hl7', index: 2, of: 3 }))).toBe(
      '== b.hl7, message 2 of 3: ADT^A01, control id CTRL1, version 2.5.1',
    );
    expect(messageHeading(inspect('MSH|^~\\&'))).toBe('== a.hl7: -, control id -, version -');
  });

  it('aligns paths, names and values, components under their field', () => {
    const pid = inspect(MSG).segments[1];
    expect(pid && renderSegment(pid)).toEqual([
      'PID  Patient Identification',
      '  PID-1               Set ID - PID             1',
      '  PID-3               Patient Identifier List  123^^^HOSP&1.2.3&ISO^MR~456',
      '    PID-3[1]                                   123^^^HOSP&1.2.3&ISO^MR',
      '      PID-3[1].1      ID Number                123',
      '      PID-3[1].4      Assigning Authority      HOSP&1.2.3&ISO',
      '        PID-3[1].4.1  Namespace ID             HOSP',
      '        PID-3[1].4.2  Universal ID             1.2.3',
      '        PID-3[1].4.3  Universal ID Type        ISO',
      '      PID-3[1].5      Identifier Type Code     MR',
      '    PID-3[2]                                   456',
      '  PID-5               Patient Name             DOE^JOHN',
      '    PID-5.1           Family Name              DOE',
      '    PID-5.2           Given Name               JOHN',
      '  PID-7               Date/Time of Birth       19800101',
    ]);
  });

  it('has no name column for a segment the dictionary does not know', () => {
    const z = inspect(MSG).segments[2];
    expect(z && renderSegment(z)).toEqual([
      'ZPI',
      '  ZPI-1      1',
      '  ZPI-2      A^B',
      '    ZPI-2.1  A',
      '    ZPI-2.2  B',
    ]);
  });

  it('lets a long name push its value rather than widen the column', () => {
    const pid = inspect('MSH|^~\\&\rPID|1||||DOE^J^Q').segments[1];
    const lines = pid ? renderSegment(pid) : [];
    expect(lines).toContain('    PID-5.3  Second and Further Given Names or Initials Thereof  Q');
    expect(lines).toContain('    PID-5.1  Family Name                           DOE');
  });

  it('separates the heading and the segments with blank lines', () => {
    const out = renderMessage(inspect('MSH|^~\\&|APP\rEVN|A01'));
    expect(out).toBe(
      [
        '== a.hl7: -, control id -, version -',
        '',
        'MSH  Message Header',
        '  MSH-1  Field Separator      |',
        '  MSH-2  Encoding Characters  ^~\\&',
        '  MSH-3  Sending Application  APP',
        '',
        'EVN  Event Type',
        '  EVN-1  Event Type Code  A01',
        '',
      ].join('\n'),
    );
  });

  it('shows control characters as hex escapes so each value stays on its line', () => {
    expect(printable('a\rb\nc\x1b[31m\x7f\x9b')).toBe('a\\X0D\\b\\X0A\\c\\X1B\\[31m\\X7F\\\\X9B\\');
    expect(printable('café ®')).toBe('café ®');
    const out = renderMessage(inspect('MSH|^~\\&\rNTE|1||line 1\\X0A\\line 2'));
    expect(out).toContain('NTE-3  Comment       line 1\\X0A\\line 2\n');
  });

  it('colours headings, paths and names only with the ANSI style', () => {
    const out = renderMessage(inspect('MSH|^~\\&|APP'), ANSI);
    expect(out).toContain('\x1b[1mMSH  Message Header\x1b[22m');
    expect(out).toContain('\x1b[36mMSH-3\x1b[39m');
    expect(out).toContain('\x1b[2mSending Application\x1b[22m');
    expect(renderMessage(inspect('MSH|^~\\&|APP'), PLAIN)).not.toContain('\x1b');
  });
});

describe('styleFor', () => {
  it('colours a terminal unless NO_COLOR is set', () => {
    expect(styleFor({ isTTY: true }, {})).toBe(ANSI);
    expect(styleFor({ isTTY: true }, { NO_COLOR: '1' })).toBe(PLAIN);
    expect(styleFor({ isTTY: true }, { NO_COLOR: '' })).toBe(ANSI);
    expect(styleFor({ isTTY: false }, {})).toBe(PLAIN);
    expect(styleFor({}, {})).toBe(PLAIN);
  });
});
