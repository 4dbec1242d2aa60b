import { renderToStaticMarkup } from 'react-dom/server';
import { ContentView, contentText } from './content-view';

const utf8 = (data: string) => ({
  encoding: 'utf8' as const,
  data,
  bytes: new TextEncoder().encode(data).length,
});

describe('stored bytes on the message page', () => {
  it('shows UTF-8 as sent', () => {
    expect(contentText(utf8('MSH|^~\\&|Zoë'))).toEqual({ text: 'MSH|^~\\&|Zoë' });
  });

  it('decodes bytes that are not UTF-8 as Latin-1, and says so', () => {
    // "Zoë" in Latin-1: 5A 6F EB.
    const data = btoa('\x5a\x6f\xeb');
    expect(contentText({ encoding: 'base64', data, bytes: 3 })).toEqual({
      text: 'Zoë',
      note: 'Not UTF-8: shown as Latin-1.',
    });
    const html = renderToStaticMarkup(
      <ContentView content={{ encoding: 'base64', data, bytes: 3 }} label="Raw" />,
    );
    expect(html).toContain('3 bytes · Not UTF-8: shown as Latin-1.');
    expect(html).toContain('>Zoë</pre>');
  });

  it('shows HL7 v2 in the field view, JSON folded, anything else as text', () => {
    const hl7 = renderToStaticMarkup(<ContentView content={utf8('MSH|^~\\&|LAB\rPID|1||X')} label="Raw" />);
    expect(hl7).toContain('class="hl7-view');
    expect(hl7).toContain('title="PID-3 Patient identifier list"');
    const json = renderToStaticMarkup(
      <ContentView content={utf8('{"resourceType":"Patient"}')} label="Transformed" />,
    );
    expect(json).toContain('class="json-view mono"');
    expect(json).toContain('&quot;resourceType&quot;');
    const text = renderToStaticMarkup(<ContentView content={utf8('OK')} label="Response" />);
    expect(text).toContain('<pre class="content-text" tabindex="0" aria-label="Response">OK</pre>');
  });
});
