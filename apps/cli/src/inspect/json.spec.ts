import { Hl7Message } from '@sinew/hl7v2';
import { renderJson } from './json';
import { inspectMessage } from './tree';

const msg = (id: string) =>
  inspectMessage(Hl7Message.parse(`MSH|^~\\&|APP||||||ADT^A01|${id}|P|2.5.1\rPID|1||||DOE^JOHN`), {
    file: 'a.hl7',
    index: 1,
    of: 2,
  });

describe('renderJson', () => {
  it('prints one object for one message, without the view-only keys', () => {
    const out = JSON.parse(renderJson([msg('1')], false));
    expect(out).toMatchObject({ file: 'a.hl7', index: 1, type: 'ADT^A01', controlId: '1', version: '2.5.1' });
    expect(out.of).toBeUndefined();
    const pid5 = out.segments[1].fields[1];
    expect(pid5).toEqual({
      index: 5,
      path: 'PID-5',
      name: 'Patient Name',
      repetitions: [
        {
          index: 1,
          path: 'PID-5',
          components: [
            { index: 1, path: 'PID-5.1', name: 'Family Name', value: 'DOE' },
            { index: 2, path: 'PID-5.2', name: 'Given Name', value: 'JOHN' },
          ],
        },
      ],
    });
    expect(JSON.stringify(out)).not.toContain('encoded');
  });

  it('prints an array when asked, or when there are several messages', () => {
    expect(JSON.parse(renderJson([msg('1')], true))).toHaveLength(1);
    expect(
      JSON.parse(renderJson([msg('1'), msg('2')], false)).map((m: { controlId: string }) => m.controlId),
    ).toEqual(['1', '2']);
  });

  it('ends with a newline', () => {
    expect(renderJson([msg('1')], false).endsWith('}\n')).toBe(true);
  });
});
