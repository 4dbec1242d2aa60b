import * as iconv from 'iconv-lite';
import {
  Hl7Message,
  buildAck,
  buildNackForUnparsable,
  decodeBytes,
  encodeText,
  encodingForCharset,
  parseBatch,
  readAck,
  type TextEncoding,
} from '@sinew/hl7v2';

/** A message naming `msh18`, with `family^given` in PID-5 and `note` in NTE-3. */
const text = (msh18: string, family: string, given: string, note: string) =>
  `MSH|^~\\&|LAB|Szpital|EHR|CLINIC|20260301120000||ADT^A01|C1|P|2.5.1||||||${msh18}\r` +
  `PID|1||MRN1||${family}^${given}||19800101|F\r` +
  `NTE|1||${note}\r`;

/** Real text in each character set, and the byte one of its letters must be written as. */
const CASES: Array<{
  msh18: string;
  encoding: TextEncoding;
  family: string;
  given: string;
  note: string;
  probe: [string, number];
}> = [
  {
    msh18: '8859/2',
    encoding: 'iso-8859-2',
    family: 'Łukaszewicz-Wąsowska',
    given: 'Małgorzata',
    note: 'Zażółć gęślą jaźń; Příliš žluťoučký kůň úpěl ďábelské ódy',
    probe: ['ł', 0xb3],
  },
  {
    msh18: '8859/3',
    encoding: 'iso-8859-3',
    family: 'Ħabib',
    given: 'Ġorġ',
    note: 'Ċirkewwa, Għawdex',
    probe: ['Ħ', 0xa1],
  },
  {
    msh18: '8859/4',
    encoding: 'iso-8859-4',
    family: 'Bērziņa',
    given: 'Ķēniņš',
    note: 'Rīga, Šiauliai, Tõnu',
    probe: ['ņ', 0xf1],
  },
  {
    msh18: '8859/5',
    encoding: 'iso-8859-5',
    family: 'Жукова',
    given: 'Ирина',
    note: 'Санкт-Петербург, ул. Ленина',
    probe: ['Ж', 0xb6],
  },
  {
    msh18: '8859/6',
    encoding: 'iso-8859-6',
    family: 'محمد',
    given: 'علي',
    note: 'مرحبا، القاهرة',
    probe: ['م', 0xe5],
  },
  {
    msh18: '8859/7',
    encoding: 'iso-8859-7',
    family: 'Παπαδοπούλου',
    given: 'Ελένη',
    note: 'Αθήνα, Θεσσαλονίκη, Ηράκλειο; Ω',
    probe: ['Ω', 0xd9],
  },
  {
    msh18: '8859/8',
    encoding: 'iso-8859-8',
    family: 'כהן',
    given: 'שרה',
    note: 'שלום, תל אביב',
    probe: ['ש', 0xf9],
  },
  {
    msh18: '8859/9',
    encoding: 'iso-8859-9',
    family: 'Yılmaz Şişli',
    given: 'Ayşegül',
    note: 'İstanbul, Ağrı, Çığ, Öğüt',
    probe: ['ş', 0xfe],
  },
  {
    msh18: '8859/15',
    encoding: 'iso-8859-15',
    family: 'Œuvre-Šimková',
    given: 'Zoë',
    note: 'co-payment 12,50 €; Žofie',
    probe: ['€', 0xa4],
  },
  {
    msh18: 'CP1252',
    encoding: 'windows-1252',
    family: 'O’Brien–Müller',
    given: 'Zoë',
    note: 'co-payment 12,50 € — “paid”',
    probe: ['€', 0x80],
  },
];

describe('character sets: byte-exact round trips', () => {
  it.each(CASES)('$msh18 reads and writes $encoding', (c) => {
    const source = text(c.msh18, c.family, c.given, c.note);
    // The expected bytes come from iconv-lite directly; the probe pins one letter's byte.
    const bytes = iconv.encode(source, c.encoding);
    expect(bytes.includes(Buffer.from([c.probe[1]]))).toBe(true);
    expect(iconv.decode(bytes, c.encoding)).toBe(source);

    const msg = Hl7Message.parse(bytes);
    expect(msg.encoding).toBe(c.encoding);
    expect(msg.get('PID-5.1')).toBe(c.family);
    expect(msg.get('PID-5.2')).toBe(c.given);
    expect(msg.get('NTE-3')).toBe(c.note);
    // Untouched: the very bytes; re-encoded from the model: the same bytes.
    expect(msg.toBuffer().equals(bytes)).toBe(true);
    expect(encodeText(msg.toString(), msg.encoding).equals(bytes)).toBe(true);

    // Edited: the new value is written in the message's character set, the rest unchanged.
    msg.set('PID-5.2', c.family);
    const edited = msg.toBuffer();
    expect(edited.equals(iconv.encode(source.replace(`^${c.given}|`, `^${c.family}|`), c.encoding))).toBe(
      true,
    );
    expect(Hl7Message.parse(edited).get('PID-5.2')).toBe(c.family);

    // A string holding the message is written back in the character set MSH-18 names.
    expect(Hl7Message.parse(source).toBuffer().equals(bytes)).toBe(true);
    // A batch of two such messages too.
    const file = Buffer.concat([bytes, bytes]);
    const batch = parseBatch(file);
    expect(batch.encoding).toBe(c.encoding);
    expect(batch.messages[1]?.get('NTE-3')).toBe(c.note);
    expect(batch.toBuffer().equals(file)).toBe(true);
  });

  it.each(CASES)('$msh18: a built message and its ACK are written in $encoding', (c) => {
    const built = Hl7Message.create({
      type: 'ADT^A01',
      charset: c.msh18,
      controlId: 'B1',
      dateTime: '20260301',
      sendingFacility: c.given,
    });
    built.set('PID-5.1', c.family);
    const bytes = built.toBuffer();
    expect(bytes.includes(iconv.encode(`|${c.family}`, c.encoding))).toBe(true);
    expect(Hl7Message.parse(bytes).get('PID-5.1')).toBe(c.family);

    // The ACK echoes MSH-18 and writes the original's sender (its MSH-6 now) in the same bytes.
    const ack = buildAck(Hl7Message.parse(bytes), { code: 'AE', text: `rejected ${c.probe[0]}` });
    const ackBytes = ack.toBuffer();
    const reread = Hl7Message.parse(ackBytes);
    expect(reread.get('MSH-18')).toBe(c.msh18);
    expect(reread.encoding).toBe(c.encoding);
    expect(reread.get('MSH-6')).toBe(c.given);
    expect(readAck(reread).text).toBe(`rejected ${c.probe[0]}`);
    expect(ackBytes.includes(iconv.encode(`|${c.given}|`, c.encoding))).toBe(true);
  });
});

describe('character sets: names', () => {
  it.each([
    ['8859/2', 'iso-8859-2'],
    ['ISO-8859-2', 'iso-8859-2'],
    ['iso8859-2', 'iso-8859-2'],
    ['ISO 8859/2', 'iso-8859-2'],
    ['ISO_8859-2', 'iso-8859-2'],
    ['ISO IR101', 'iso-8859-2'],
    ['ISO_IR 101', 'iso-8859-2'],
    ['latin2', 'iso-8859-2'],
    ['8859/7', 'iso-8859-7'],
    ['ISO IR126', 'iso-8859-7'],
    ['8859/9', 'iso-8859-9'],
    ['LATIN5', 'iso-8859-9'],
    ['8859/15', 'iso-8859-15'],
    ['ISO-8859-15', 'iso-8859-15'],
    ['LATIN9', 'iso-8859-15'],
    ['CP1252', 'windows-1252'],
    ['cp-1252', 'windows-1252'],
    ['WINDOWS-1252', 'windows-1252'],
    ['Windows1252', 'windows-1252'],
    [' 8859/1 ', 'latin1'],
    ['ISO-8859-1', 'latin1'],
    ['ASCII', 'latin1'],
    ['UNICODE UTF-8', 'utf8'],
    ['', 'utf8'],
  ])('%j → %s', (name, encoding) => {
    expect(encodingForCharset(name)).toBe(encoding);
  });

  it.each([
    'ISO IR87',
    'UNICODE UTF-16',
    'UNICODE UTF-32',
    'GB 18030-2000',
    'KOI8-R',
    '8859/10',
    'CP1250',
    'BIG-5',
  ])('%j is refused with hl7.charset, naming the value', (name) => {
    expect(() => encodingForCharset(name)).toThrow(
      expect.objectContaining({
        code: 'hl7.charset',
        message: expect.stringContaining(JSON.stringify(name)),
      }),
    );
    const bytes = Buffer.from(`MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X9|P|2.5.1||||||${name}\rPID|1\r`);
    expect(() => Hl7Message.parse(bytes)).toThrow(
      expect.objectContaining({ code: 'hl7.charset', location: { line: 1, segment: 'MSH', field: 18 } }),
    );
    // The sender still gets an answer: AE, correlated by MSH-10, without the unknown MSH-18.
    const nack = Hl7Message.parse(
      buildNackForUnparsable(bytes, { code: 'AE', text: 'hl7.charset', errorCode: '102' }),
    );
    expect(readAck(nack)).toMatchObject({ code: 'AE', controlId: 'X9' });
    expect(nack.get('MSH-18')).toBe('');
    expect(nack.get('ERR-3.1')).toBe('102');
  });
});

describe('character sets: edges', () => {
  it('decodes \\Xhh\\ escapes as bytes of the message character set', () => {
    const msg = (msh18: string) =>
      Hl7Message.parse(
        Buffer.from(`MSH|^~\\&|A||||||ADT^A01|1|P|2.5.1||||||${msh18}\rNTE|1||\\XB3\\\\X80\\\\XD9\\\r`),
      );
    expect(msg('8859/2').get('NTE-3')).toBe('ł\u0080Ů');
    expect(msg('CP1252').get('NTE-3')).toBe('³€Ù');
    expect(msg('8859/7').get('NTE-3')).toBe('³\u0080Ω');
  });

  it('writes a character the set cannot hold as ?', () => {
    const msg = Hl7Message.create({
      type: 'ADT^A01',
      charset: '8859/1',
      controlId: 'Q1',
      dateTime: '20260101',
    });
    msg.set('PID-5.1', 'Łukasz €5 😀');
    expect(msg.toBuffer().toString('latin1')).toContain('|?ukasz ?5 ?\r');
    const greek = Hl7Message.create({
      type: 'ADT^A01',
      charset: '8859/7',
      controlId: 'Q2',
      dateTime: '20260101',
    });
    greek.set('PID-5.1', 'Ωmega Ł');
    expect(iconv.decode(greek.toBuffer(), 'iso-8859-7')).toContain('|Ωmega ?\r');
  });

  it('keeps every byte of Windows-1252, the five it leaves undefined included, through an edit', () => {
    const all = Buffer.from(Array.from({ length: 256 - 0x80 }, (_, i) => 0x80 + i));
    const head = Buffer.from('MSH|^~\\&|A||||||ADT^A01|1|P|2.5.1||||||CP1252\rNTE|1||');
    const bytes = Buffer.concat([head, all, Buffer.from('\rNTE|2||x\r')]);
    const msg = Hl7Message.parse(bytes);
    msg.set('NTE[2]-3', 'y');
    const out = msg.toBuffer();
    expect(out.equals(Buffer.concat([head, all, Buffer.from('\rNTE|2||y\r')]))).toBe(true);
  });

  it('reads bytes a set leaves undefined as U+FFFD and returns them unchanged while the message is untouched', () => {
    const bytes = Buffer.from('MSH|^~\\&|A||||||ADT^A01|1|P|2.5.1||||||8859/7\rNTE|1||\xae\xd2\r', 'latin1');
    const msg = Hl7Message.parse(bytes);
    expect(msg.get('NTE-3')).toBe('\ufffd\ufffd');
    expect(msg.toBuffer().equals(bytes)).toBe(true);
  });

  it('decodes and encodes long runs in every set as iconv-lite does', () => {
    const all = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 256));
    for (const c of CASES) {
      const expected = iconv.decode(all, c.encoding);
      const got = decodeBytes(all, c.encoding);
      expect(got.length).toBe(expected.length);
      if (c.encoding !== 'windows-1252') expect(got).toBe(expected);
      const defined = expected.replace(/\ufffd/g, '');
      expect(encodeText(defined, c.encoding).equals(iconv.encode(defined, c.encoding))).toBe(true);
    }
  });
});
