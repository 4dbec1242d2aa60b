import { readXmlPayload, XmlNode, XmlPayloadError, xmlRootName } from './xml';

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

  it('reads paths: a step selects every element of its name, [n] one of them, #text beside attributes', () => {
    const root = new XmlNode(
      readXmlPayload('<O id="1"><P><N use="x">Roe</N></P><I c="a">A</I><I c="b">B</I><J c="z">Z</J></O>'),
      '$',
    );
    const texts = (path: string) => root.select(path).map((n) => n.text());
    expect(texts('O.@_id')).toEqual(['1']);
    expect(texts('O.P.N')).toEqual(['Roe']);
    expect(texts('O.P.N.@_use')).toEqual(['x']);
    expect(texts('O.I')).toEqual(['A', 'B']);
    expect(texts('O.I[1].@_c')).toEqual(['b']);
    expect(texts('O.I[*].#text')).toEqual(['A', 'B']);
    expect(texts('O.J[*].@_c')).toEqual(['z']);
    expect(texts('O.J[0]')).toEqual(['Z']);
    expect(texts('O.J[1]')).toEqual([]);
    expect(root.select('O.I[1]')[0]?.where).toBe('$.O[0].I[1]');
  });

  it('decodes the encoding the XML declaration names, and skips a byte order mark', () => {
    const latin1 = Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><r>M\xfcller</r>', 'latin1');
    expect(readXmlPayload(latin1)).toEqual({ r: 'Müller' });
    expect(readXmlPayload(Buffer.from('\ufeff<r>é</r>', 'utf8'))).toEqual({ r: 'é' });
    expect(() => readXmlPayload(Buffer.from('<?xml version="1.0" encoding="klingon"?><r/>'))).toThrow(
      /encoding the XML declaration names is not known/,
    );
  });
});
