import { renderToStaticMarkup } from 'react-dom/server';
import { Hl7View, layoutMessage } from './hl7-view';

const MSG = [
  'MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|C1|P|2.5.1',
  'PID|1||MRN-1^^^NORTH^MR||DOE^JANE^Q||19700101|F',
  'OBX|1|CE|2345-7^Glucose^LN||POS^Positive^L',
  'NTE|1||Fasting \\T\\ repeat',
  'ZXY|1|custom',
].join('\r');

describe('the HL7 v2 field view', () => {
  it('names every value by its path: PID-5.1 is the family name', () => {
    const { leaves } = layoutMessage(MSG);
    const at = (path: string) => leaves.find((l) => l.path === path);
    expect(at('PID-5.1')).toMatchObject({ name: 'Family name', value: 'DOE' });
    expect(at('PID-5.2')).toMatchObject({ name: 'Given name', value: 'JANE' });
    expect(at('PID-5.1')?.trail).toEqual(['PID-5 Patient name (XPN)', 'PID-5.1 Family name (FN)']);
    expect(at('PID-8')).toMatchObject({ name: 'Administrative sex', value: 'F' });
    expect(at('MSH-1')).toMatchObject({ name: 'Field separator', value: '|' });
    expect(at('MSH-2')).toMatchObject({ name: 'Encoding characters', value: '^~\\&' });
    expect(at('MSH-10')).toMatchObject({ name: 'Message control ID', value: 'C1' });
    expect(at('MSH-9.2')).toMatchObject({ name: 'Trigger event', value: 'R01' });
    // OBX-5 is named by the type OBX-2 gives it.
    expect(at('OBX-5.2')).toMatchObject({ name: 'Text', value: 'Positive' });
    // Segments the table does not know keep their paths.
    expect(at('ZXY-2')).toEqual({ path: 'ZXY-2', trail: [], value: 'custom', segment: 4 });
    // Empty positions are not values.
    expect(at('PID-2')).toBeUndefined();
  });

  it('renders the message as written, escapes decoded, each value with its path and name as its title', () => {
    const html = renderToStaticMarkup(<Hl7View text={MSG} />);
    expect(html).toContain('title="PID-5.1 Family name"');
    expect(html).toContain('title="PID Patient identification"');
    expect(html).toContain('>Fasting &amp; repeat<');
    expect(html).not.toContain('\\T\\');
    // The separators are kept between the values, in order.
    const text = html.replace(/<[^>]+>/g, '').replace(/&amp;/g, '&');
    expect(text).toContain('PID|1||MRN-1^^^NORTH^MR||DOE^JANE^Q||19700101|F');
    expect(text).toContain('MSH|^~\\&|LAB|NORTH');
    // One tab stop for the whole message; the arrow keys move within it.
    expect(html.match(/tabindex="0"/g)).toHaveLength(1);
    expect(html).toContain('role="group" aria-label="HL7 v2 message"');
  });

  it('uses the delimiters MSH-1 and MSH-2 declare', () => {
    const { leaves } = layoutMessage('MSH#*@!$#APP\rPID#1##ID-1***X#A!S!B');
    expect(leaves.find((l) => l.path === 'PID-3.4')?.value).toBe('X');
    expect(leaves.find((l) => l.path === 'PID-4')?.value).toBe('A*B');
  });
});
