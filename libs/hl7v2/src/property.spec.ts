import fc from 'fast-check';
import {
  DEFAULT_DELIMITERS,
  Hl7Message,
  buildBatch,
  decodeBytes,
  decodeValue,
  encodeText,
  encodeValue,
  encodingForCharset,
  formatPath,
  parseBatch,
  parsePath,
  type Delimiters,
  type Hl7Path,
} from '@sinew/hl7v2';

/** Fixed seed: a failure prints its seed and path and reproduces; set FC_SEED to explore. */
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 0x51e3;
const runs = (n: number): fc.Parameters<unknown> => ({ numRuns: n, seed: SEED });

/** Printable ASCII that is neither a letter, a digit nor a space: what a delimiter may be. */
const DELIMITER_CHARS = [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];

const delimitersArb: fc.Arbitrary<Delimiters> = fc
  .uniqueArray(fc.constantFrom(...DELIMITER_CHARS), { minLength: 5, maxLength: 6 })
  .map(([field, component, repetition, escape, subcomponent, truncation]) => {
    const d: Delimiters = {
      field: field as string,
      component: component as string,
      repetition: repetition as string,
      escape: escape as string,
      subcomponent: subcomponent as string,
    };
    if (truncation !== undefined) d.truncation = truncation;
    return d;
  });

const delimiterSet = (d: Delimiters) => new Set(Object.values(d) as string[]);

const UNICODE = [
  'é',
  'ü',
  'ß',
  'Ł',
  'ź',
  'ř',
  'ğ',
  'İ',
  'Ωμέγα',
  'Жук',
  '€',
  'Š',
  '日本語',
  '😀',
  '𝄞',
  '\u00a0',
  '\u2028',
  '\ufeff',
  '\u0000',
  '\t',
];

/** Pieces that stress the encoder and decoder for one delimiter set. */
function trickyPieces(d: Delimiters): string[] {
  const e = d.escape;
  const seq = (body: string) => `${e}${body}${e}`;
  return [
    d.field,
    d.component,
    d.repetition,
    d.escape,
    d.subcomponent ?? '&',
    d.truncation ?? '#',
    '\r',
    '\n',
    '\r\n',
    '""',
    ...['F', 'S', 'T', 'R', 'E', 'P', 'X0D', 'X0A', 'X41', 'XC3A9', 'X', 'XZZ', 'Q', ''].map(seq),
    ...['.br', 'H', 'N', '.sp', '.sp+2', '.sp-1', '.in+4', '.ti-2', '.sk3', '.ce', '.fi', '.nf'].map(seq),
    ...['C2842', 'M2442', 'Zabc'].map(seq),
    e + '.br',
    '.br' + e,
    e + e,
  ];
}

/** A value full of delimiters, line breaks, escape-like sequences and non-ASCII text. */
function valueArb(d: Delimiters): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 6 }) },
    { weight: 4, arbitrary: fc.constantFrom(...trickyPieces(d)) },
    { weight: 2, arbitrary: fc.constantFrom(...UNICODE) },
  );
  return fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(''));
}

/** The characters of a value that a character set can carry (all of them in UTF-8). */
function representable(v: string, charset: string): string {
  const enc = encodingForCharset(charset);
  if (enc === 'utf8') return v;
  return [...v].filter((c) => decodeBytes(encodeText(c, enc), enc) === c).join('');
}

const SEGMENT_POOL = ['PID', 'PV1', 'OBX', 'OBX', 'NTE', 'OBR', 'ZZ1', 'Z01'];
/** MSH fields a test may write: not MSH-1/-2 (delimiters) nor MSH-18 (character set). */
const MSH_FIELDS = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21];

type Level = 'field' | 'repetition' | 'component' | 'subcomponent';

interface Write {
  /** Index into the message's segments (0 = MSH). */
  segment: number;
  field: number;
  level: Level;
  rep: number;
  writeRep: boolean;
  comp: number;
  sub: number;
  value: string;
}

interface MessageCase {
  d: Delimiters;
  terminator: '\r' | '\n' | '\r\n';
  charset: (typeof CHARSETS)[number];
  layout: string[];
  writes: Write[];
}

const CHARSETS = ['', 'UNICODE UTF-8', '8859/1', '8859/2', '8859/7', '8859/9', '8859/15', 'CP1252'] as const;

const messageCaseArb: fc.Arbitrary<MessageCase> = fc
  .record({
    d: delimitersArb,
    terminator: fc.constantFrom('\r' as const, '\n' as const, '\r\n' as const),
    charset: fc.constantFrom(...CHARSETS),
    layout: fc.array(fc.constantFrom(...SEGMENT_POOL), { maxLength: 6 }),
  })
  // MSH-18 is read unescaped: a character set name holding a delimiter (`8859/1` when `/`
  // separates fields) cannot be written, so such cases use the default.
  .map((c) => ({
    ...c,
    charset: [...c.charset].some((ch) => delimiterSet(c.d).has(ch)) ? CHARSETS[0] : c.charset,
  }))
  .chain((base) => {
    const segCount = base.layout.length + 1;
    const write: fc.Arbitrary<Write> = fc
      .record({
        segment: fc.integer({ min: 0, max: segCount - 1 }),
        mshField: fc.constantFrom(...MSH_FIELDS),
        field: fc.integer({ min: 1, max: 12 }),
        rep: fc.integer({ min: 1, max: 3 }),
        writeRep: fc.boolean(),
        comp: fc.integer({ min: 1, max: 4 }),
        sub: fc.integer({ min: 1, max: 3 }),
        value: valueArb(base.d),
      })
      .map(({ mshField, ...w }) => ({
        ...w,
        field: w.segment === 0 ? mshField : w.field,
        level: 'field' as Level,
      }));
    // One level per (segment, field), so that no write covers another's place.
    const levels = fc.array(fc.constantFrom<Level>('field', 'repetition', 'component', 'subcomponent'), {
      minLength: 32,
      maxLength: 32,
    });
    return fc.record({ writes: fc.array(write, { minLength: 1, maxLength: 14 }), levels }).map((x) => ({
      ...base,
      writes: x.writes.map((w) => ({ ...w, level: x.levels[(w.segment * 7 + w.field) % 32] as Level })),
    }));
  });

/** Segment occurrence numbers: the nth segment of the layout is `NAME[k]`. */
function occurrences(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n}[${k}]`;
  });
}

/** The path a write uses, and a key naming the place it writes (the same for `PID-3` and `PID-3[1]`). */
function pathOf(seg: string, w: Write): { path: string; key: string } {
  const rep = w.level === 'field' ? 1 : w.rep;
  const repText = w.level === 'field' ? '' : rep === 1 && !w.writeRep ? '' : `[${rep}]`;
  let path = `${seg}-${w.field}${repText}`;
  let key = `${seg}-${w.field}[${rep}]`;
  if (w.level === 'component' || w.level === 'subcomponent') {
    path += `.${w.comp}`;
    key += `.${w.comp}`;
  }
  if (w.level === 'subcomponent') {
    path += `.${w.sub}`;
    key += `.${w.sub}`;
  }
  return { path, key };
}

function buildMessage(c: MessageCase): {
  msg: Hl7Message;
  expected: Map<string, { path: string; value: string }>;
} {
  const msg = Hl7Message.create({
    type: `ADT${c.d.component}A01`,
    controlId: 'CTRL1',
    dateTime: '20260101120000',
    delimiters: c.d,
    segmentTerminator: c.terminator,
    ...(c.charset ? { charset: c.charset } : {}),
  });
  for (const name of c.layout) msg.addSegment(name);
  const names = ['MSH', ...occurrences(c.layout)];
  const expected = new Map<string, { path: string; value: string }>();
  for (const w of c.writes) {
    const { path, key } = pathOf(names[w.segment] as string, w);
    const value = representable(w.value, c.charset);
    msg.set(path, value);
    expected.set(key, { path, value });
  }
  return { msg, expected };
}

describe('property: build → serialize → parse', () => {
  it('get returns every value set, before and after a round trip through text and bytes', () => {
    fc.assert(
      fc.property(messageCaseArb, (c) => {
        const { msg, expected } = buildMessage(c);
        for (const { path, value } of expected.values()) expect(msg.get(path)).toBe(value);

        const text = msg.toString();
        const bytes = msg.toBuffer();
        const fromBytes = Hl7Message.parse(bytes);
        const fromText = Hl7Message.parse(text);
        for (const parsed of [fromBytes, fromText]) {
          expect(parsed.delimiters).toEqual(c.d);
          expect(parsed.segments.map((s) => s.name)).toEqual(['MSH', ...c.layout]);
          for (const { path, value } of expected.values()) expect(parsed.get(path)).toBe(value);
          expect(parsed.toString()).toBe(text);
        }
        expect(fromBytes.toBuffer().equals(bytes)).toBe(true);
        // Re-encoded from the model, not copied from the input.
        expect(encodeText(fromBytes.toString(), fromBytes.encoding).equals(bytes)).toBe(true);
        expect(fromBytes.encoding).toBe(encodingForCharset(c.charset));
      }),
      runs(300),
    );
  });

  it('keeps the segment terminator it was built with (CR, LF or CRLF)', () => {
    fc.assert(
      fc.property(messageCaseArb, (c) => {
        const { msg } = buildMessage(c);
        const text = msg.toString();
        // Values never carry a raw line break: they are escaped.
        const lines = text.split(c.terminator);
        expect(lines.pop()).toBe('');
        expect(lines).toHaveLength(1 + c.layout.length);
        for (const l of lines) expect(l).not.toMatch(/[\r\n]/);
        const parsed = Hl7Message.parse(msg.toBuffer());
        expect(parsed.segments.every((s) => s.terminator === c.terminator)).toBe(true);
        parsed.addSegment('NTE', ['added']);
        expect(parsed.toString()).toBe(`${text}NTE${c.d.field}added${c.terminator}`);
      }),
      runs(100),
    );
  });

  it('keeps each segment its own ending when the input mixes CR, LF and CRLF', () => {
    const endings = fc.array(fc.constantFrom('\r', '\n', '\r\n'), { minLength: 7, maxLength: 7 });
    fc.assert(
      fc.property(messageCaseArb, endings, (c, ends) => {
        const { msg } = buildMessage({ ...c, terminator: '\r' });
        const lines = msg.toString().split('\r');
        lines.pop();
        const text = lines.map((l, i) => l + ends[i]).join('');
        const parsed = Hl7Message.parse(encodeText(text, msg.encoding));
        expect(parsed.segments.map((s) => s.terminator)).toEqual(ends.slice(0, lines.length));
        expect(parsed.toString()).toBe(text);
        expect(Hl7Message.parse(text).toString()).toBe(text);
      }),
      runs(100),
    );
  });

  it('parseBatch reads back a batch of built messages', () => {
    fc.assert(
      fc.property(fc.array(messageCaseArb, { minLength: 1, maxLength: 3 }), (cases) => {
        // One delimiter set, character set and terminator for the whole file.
        const [first] = cases as [MessageCase, ...MessageCase[]];
        const built = cases.map((c) =>
          buildMessage({
            ...c,
            d: first.d,
            charset: first.charset,
            terminator: '\r',
          }),
        );
        const file = buildBatch(
          built.map((b) => b.msg),
          { delimiters: first.d, controlId: 'B1' },
        );
        const bytes = file.toBuffer();
        const parsed = parseBatch(bytes);
        expect(parsed.messages).toHaveLength(cases.length);
        expect(parsed.toBuffer().equals(bytes)).toBe(true);
        parsed.messages.forEach((m, i) => expect(m.toString()).toBe(built[i]?.msg.toString()));
      }),
      runs(50),
    );
  });
});

describe('property: escapes', () => {
  it('decodeValue(encodeValue(v)) === v for any string and any delimiter set', () => {
    fc.assert(
      fc.property(
        delimitersArb.chain((d) =>
          fc.tuple(fc.constant(d), fc.oneof(valueArb(d), fc.string({ unit: 'binary' }))),
        ),
        ([d, v]) => {
          const encoded = encodeValue(v, d);
          expect(decodeValue(encoded, d)).toBe(v);
          // The encoded text holds no delimiter but the escape character, and no line break.
          const others = [d.field, d.component, d.repetition, d.subcomponent, d.truncation, '\r', '\n'];
          for (const ch of others) if (ch !== undefined) expect(encoded.includes(ch)).toBe(false);
        },
      ),
      runs(2000),
    );
  });

  it('a value with no special character is left as it is', () => {
    fc.assert(
      fc.property(delimitersArb, fc.string({ unit: 'binary' }), (d, s) => {
        const specials = new Set([...Object.values(d), '\r', '\n']);
        const plain = [...s].filter((c) => !specials.has(c)).join('');
        expect(encodeValue(plain, d)).toBe(plain);
        expect(decodeValue(plain, d)).toBe(plain);
      }),
      runs(500),
    );
  });
});

describe('property: paths', () => {
  const index = fc.integer({ min: 1, max: 9999 });
  const pathArb: fc.Arbitrary<Hl7Path> = fc
    .record({
      segment: fc.stringMatching(/^[A-Z][A-Z0-9]{2}$/),
      occurrence: fc.oneof(index, fc.constant('*' as const)),
      field: fc.option(index, { nil: undefined }),
      repetition: fc.oneof(index, fc.constant('*' as const)),
      repetitionGiven: fc.boolean(),
      component: fc.option(index, { nil: undefined }),
      subcomponent: fc.option(index, { nil: undefined }),
    })
    .map((p) => {
      // The notation cannot write what is below an absent level.
      if (p.field === undefined)
        return { segment: p.segment, occurrence: p.occurrence, repetition: 1, repetitionGiven: false };
      const repetitionGiven = p.repetitionGiven || p.repetition !== 1;
      const out: Hl7Path = { ...p, repetitionGiven };
      if (p.component === undefined) delete out.subcomponent;
      return out;
    });

  const norm = (p: Hl7Path) => JSON.parse(JSON.stringify(p)) as Hl7Path;

  it('parsePath(formatPath(p)) equals p', () => {
    fc.assert(
      fc.property(pathArb, (p) => {
        expect(norm(parsePath(formatPath(p)))).toEqual(norm(p));
      }),
      runs(1000),
    );
  });

  it('formatPath(parsePath(s)) === s for paths written in canonical form', () => {
    fc.assert(
      fc.property(pathArb, (p) => {
        const s = formatPath(p);
        expect(formatPath(parsePath(s))).toBe(s);
      }),
      runs(1000),
    );
  });

  it('an explicit [1] occurrence is dropped and the result is a fixed point', () => {
    fc.assert(
      fc.property(pathArb, (p) => {
        const s = formatPath(p);
        const withOne = p.occurrence === 1 ? s.slice(0, 3) + '[1]' + s.slice(3) : s;
        const once = formatPath(parsePath(withOne));
        expect(once).toBe(s);
        expect(formatPath(parsePath(once))).toBe(once);
      }),
      runs(500),
    );
  });
});

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

describe('regressions: decoding', () => {
  it('the closing character of a kept formatting escape does not open another sequence', () => {
    const d = DEFAULT_DELIMITERS;
    // \.br\ then the text "F" then \E\: the value is \.br\F\ (a line break, F, a backslash).
    expect(decodeValue('\\.br\\F\\E\\', d)).toBe('\\.br\\F\\');
    expect(decodeValue(encodeValue('\\H\\S\\N\\', d), d)).toBe('\\H\\S\\N\\');
    expect(decodeValue('\\H\\bold\\N\\ \\.br\\R\\E\\', d)).toBe('\\H\\bold\\N\\ \\.br\\R\\');
    // Sequences written one after another still decode.
    expect(decodeValue('\\.br\\\\F\\', d)).toBe('\\.br\\|');
    expect(decodeValue('\\.br\\F\\E\\', d, 'utf8', 'text')).toBe('\nF\\');
    const msg = Hl7Message.create({ type: 'ORU^R01' });
    msg.set('OBX[1]-5', 'line 1\\.br\\F\\');
    expect(Hl7Message.parse(msg.toBuffer()).get('OBX-5')).toBe('line 1\\.br\\F\\');
  });
});

describe('regressions: building', () => {
  it('Hl7Message.create writes the bytes in the character set it puts in MSH-18', () => {
    const msg = Hl7Message.create({ type: 'ADT^A01', charset: '8859/1' });
    expect(msg.encoding).toBe('latin1');
    msg.set('PID-5.1', 'Müller');
    const bytes = msg.toBuffer();
    expect(bytes.includes(Buffer.from('M\xfcller', 'latin1'))).toBe(true);
    expect(Hl7Message.parse(bytes).get('PID-5.1')).toBe('Müller');
    expect(Hl7Message.create({ type: 'ADT^A01', charset: 'UNICODE UTF-8' }).encoding).toBe('utf8');
    expect(Hl7Message.create({ type: 'ADT^A01', charset: 'ASCII~UNICODE UTF-8' }).encoding).toBe('latin1');
    expect(() => Hl7Message.create({ type: 'ADT^A01', charset: 'ISO IR87' })).toThrow(
      expect.objectContaining({ code: 'hl7.charset' }),
    );
  });
});

describe('regressions: building with unusual delimiters', () => {
  it('Hl7Message.create escapes the version, date, control and processing id it writes', () => {
    const d: Delimiters = { field: '.', component: '+', repetition: '~', escape: '\\', subcomponent: '&' };
    const msg = Hl7Message.create({
      type: 'ADT+A01',
      delimiters: d,
      controlId: 'A.1',
      dateTime: '20260101+0100',
    });
    const parsed = Hl7Message.parse(msg.toBuffer());
    expect(parsed.get('MSH-7')).toBe('20260101+0100');
    expect(parsed.get('MSH-9.2')).toBe('A01');
    expect(parsed.get('MSH-10')).toBe('A.1');
    expect(parsed.get('MSH-11')).toBe('P');
    expect(parsed.get('MSH-12')).toBe('2.5.1');
    expect(parsed.version).toBe('2.5.1');
  });
});

describe('character set detection from the header bytes', () => {
  const msh = (msh18: string, end = '\r') =>
    `MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5|||||${msh18}${end}PID|1||X||M\xfcller\r`;
  it.each([
    ['', 'utf8'],
    ['|8859/1', 'latin1'],
    ['|8859/1|EN', 'latin1'],
    ['|ASCII~UNICODE UTF-8', 'latin1'],
    ['|UNICODE UTF-8~8859/1', 'utf8'],
    ['|', 'utf8'],
  ])('MSH-18 %j → %s', (msh18, encoding) => {
    for (const end of ['\r', '\n', '\r\n']) {
      const text = msh(msh18, end);
      const bytes = Buffer.from(text, encoding as BufferEncoding);
      const msg = Hl7Message.parse(bytes);
      expect(msg.encoding).toBe(encoding);
      expect(msg.get('PID-5')).toBe('Müller');
      expect(parseBatch(Buffer.concat([Buffer.from('FHS|^~\\&\r'), bytes])).encoding).toBe(encoding);
    }
  });
  it('stops at the end of the header line', () => {
    const bytes = Buffer.from(`MSH|^~\\&|A\rNTE${'|'.repeat(16)}8859/1\r`);
    expect(Hl7Message.parse(bytes).encoding).toBe('utf8');
    expect(Hl7Message.parse(Buffer.from('MSH|^~\\&\r')).encoding).toBe('utf8');
    // The last field of an unterminated message is read too.
    expect(() => Hl7Message.parse(Buffer.from(`MSH|^~\\&${'|'.repeat(16)}ISO IR87`))).toThrow(
      expect.objectContaining({ code: 'hl7.charset' }),
    );
  });
});
