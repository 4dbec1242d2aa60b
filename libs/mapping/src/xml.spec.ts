import { readXmlPayload, XmlPayloadError, xmlRootName } from './xml';

describe('xml messages', () => {
  it('reads attributes as @_name, text beside attributes as #text, and repeated elements as arrays', () => {
    const tree = readXmlPayload(
      '<?xml version="1.0"?>\n<Order id="7"><Patient><Name use="official">Doe &amp; Co</Name><Id>00123</Id></Patient>' +
        '<Item>a</Item><Item>b</Item></Order>',
    );
    expect(tree).toEqual({
      Order: {
        '@_id': '7',
        Patient: { Name: { '@_use': 'official', '#text': 'Doe & Co' }, Id: '00123' },
        Item: ['a', 'b'],
      },
    });
    expect(xmlRootName(tree)).toBe('Order');
  });

  it('decodes character references', () => {
    expect(readXmlPayload('<r>caf&#xE9; &#233;</r>')).toEqual({ r: 'café é' });
  });

  it('refuses a document that is not well-formed, with its line and column', () => {
    const read = () => readXmlPayload('<r>\n  <b>text</r>');
    expect(read).toThrow(XmlPayloadError);
    expect(read).toThrow(/^line 2, column \d+: an element is not closed/);
    try {
      read();
    } catch (err) {
      expect((err as XmlPayloadError).code).toBe('xml.invalidtag');
      expect((err as XmlPayloadError).line).toBe(2);
    }
  });

  it('never expands an entity a DOCTYPE declares (billion laughs stays as written)', () => {
    const laughs =
      '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n' +
      '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n' +
      '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n<lolz>&lol3;</lolz>';
    expect(readXmlPayload(laughs)).toEqual({ lolz: '&lol3;' });
    expect(readXmlPayload('<!DOCTYPE r [<!ENTITY a "x">]><r>&a;</r>')).toEqual({ r: '&a;' });
  });

  it('refuses an external entity (XXE) without reading the file it names', () => {
    const xxe =
      '<?xml version="1.0"?>\n<!DOCTYPE r [\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n<r>&xxe;</r>';
    expect(() => readXmlPayload(xxe)).toThrow(/external entities .* are refused/);
    let message = '';
    try {
      readXmlPayload(xxe);
    } catch (err) {
      message = String(err);
    }
    expect(message).not.toMatch(/root:/);
  });
});
