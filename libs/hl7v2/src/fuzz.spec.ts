import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { corpusFiles } from '@sinew/test-support';
import {
  Hl7ErrorCode,
  Hl7Message,
  Hl7ParseError,
  buildAck,
  buildNackForUnparsable,
  encodeText,
  parseBatch,
  readAck,
  splitMessages,
} from '@sinew/hl7v2';

/**
 * Fuzzing the HL7 v2 layer: random bytes and mutated corpus messages go through every entry
 * point. The only error allowed out is Hl7ParseError with a known code, and no call may take
 * long. The PRNG is seeded, so a failure names its case and reproduces (FUZZ_SEED to explore).
 */
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 0x5eed;

/**
 * A bound that catches quadratic behaviour (tens of seconds on these inputs), not a speed
 * measurement (bench/ does that): generous enough for a 2-core machine running other test
 * processes, where one linear call was seen to take 2 s of wall time.
 */
const BUDGET_MS = 6000;

const CODES = new Set<string>(Object.values(Hl7ErrorCode));

/** mulberry32: small, fast, good enough to pick mutations. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** `n` random bytes as a latin1 string (one character per byte). */
  bytes(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(256));
    return s;
  }
}

/** Runs `fn` and returns its result and the wall time it took, in milliseconds. */
function timed<T>(fn: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = fn();
  return { value, ms: performance.now() - start };
}

interface Problem {
  case: string;
  op: string;
  problem: string;
}

/** Runs operations on one input, recording any error that is not a proper Hl7ParseError. */
class Harness {
  readonly problems: Problem[] = [];
  slowest = { ms: 0, op: '', case: '' };
  parsed = 0;
  label = '';

  attempt<T>(op: string, fn: () => T): T | undefined {
    const start = performance.now();
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof Hl7ParseError)) {
        const what = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
        this.problems.push({ case: this.label, op, problem: `threw ${what}` });
      } else if (!CODES.has(err.code)) {
        this.problems.push({ case: this.label, op, problem: `unknown code ${String(err.code)}` });
      } else {
        // The error must describe itself without failing.
        void err.toString();
        void JSON.stringify(err.toJSON());
      }
      return undefined;
    } finally {
      const ms = performance.now() - start;
      if (ms > this.slowest.ms) this.slowest = { ms, op, case: this.label };
    }
  }
}

const ACK_OPTIONS = [
  { code: 'AA' as const },
  {
    code: 'AE' as const,
    text: 'bad value',
    error: { code: '102', location: 'PID-7', severity: 'E' as const },
  },
  { code: 'CR' as const, error: { code: '207', location: 'OBX[2]-5.1' } },
];

/** Paths to read from a message: its own segments and fields, and some out of range. */
function pathsFor(msg: Hl7Message, rng: Rng): string[] {
  const paths = [
    'MSH-1',
    'MSH-2',
    'MSH-9.1',
    'MSH-9.2',
    'MSH-10',
    'MSH-12',
    'MSH-18',
    'PID-3[2].1',
    'PID-5.1.2',
  ];
  const seen = new Map<string, number>();
  const segs = msg.segments.slice(0, 40);
  for (const seg of segs) {
    const occ = (seen.get(seg.name) ?? 0) + 1;
    seen.set(seg.name, occ);
    if (!/^[A-Z][A-Z0-9]{2}$/.test(seg.name)) continue;
    const at = occ === 1 ? seg.name : `${seg.name}[${occ}]`;
    paths.push(at);
    const count = Math.min(seg.fieldCount, 30);
    for (let f = 1; f <= count; f++) {
      if (!rng.chance(0.5)) continue;
      paths.push(`${at}-${f}`, `${at}-${f}.${rng.between(1, 4)}`);
      if (rng.chance(0.3))
        paths.push(`${at}-${f}[${rng.between(1, 3)}].${rng.between(1, 3)}.${rng.between(1, 3)}`);
    }
    paths.push(`${at}-${seg.fieldCount + rng.between(1, 50)}`);
  }
  return paths;
}

const WRITE_VALUES = [
  '',
  'x',
  'A|B^C~D\\E&F',
  '\\.br\\',
  'line\r\nbreak',
  'Ł😀',
  '""',
  '\u0000',
  'z'.repeat(5000),
];

function exerciseMessage(h: Harness, msg: Hl7Message, rng: Rng): void {
  h.parsed++;
  for (const path of pathsFor(msg, rng)) {
    h.attempt(`get ${path}`, () => msg.get(path));
    h.attempt(`getRaw ${path}`, () => msg.getRaw(path));
    h.attempt(`getAll ${path}`, () => msg.getAll(path));
    h.attempt(`isNull ${path}`, () => msg.isNull(path) || msg.has(path));
  }
  for (const path of ['OBX[*]-5', 'PID-3[*].1', 'NTE[*]-3[*]', 'MSH-9[*]', 'ZZZ[*]-1.1.1']) {
    h.attempt(`getAll ${path}`, () => msg.getAll(path));
  }
  h.attempt('header', () => [msg.messageType, msg.controlId, msg.version, msg.messageCode].join());
  h.attempt('readAck', () => readAck(msg));
  for (const options of ACK_OPTIONS) {
    const ack = h.attempt(`buildAck ${options.code}`, () => buildAck(msg, options));
    if (ack) {
      const back = h.attempt('parse ack', () => Hl7Message.parse(ack.toBuffer()));
      if (!back)
        h.problems.push({ case: h.label, op: 'parse ack', problem: 'an ACK Sinew built does not parse' });
      else h.attempt('readAck', () => readAck(back));
    }
  }
  // Writes: some succeed, some are refused with hl7.write; either way the message stays usable.
  const names = [...new Set(msg.segments.map((s) => s.name))];
  for (let i = 0; i < 6; i++) {
    const name = rng.pick([...names, 'NTE', 'ZZ1']);
    const path = `${name}-${rng.between(1, 30)}${rng.chance(0.3) ? `[${rng.between(1, 3)}]` : ''}${
      rng.chance(0.5) ? `.${rng.between(1, 5)}` : ''
    }`;
    const value = rng.pick(WRITE_VALUES);
    const op = rng.int(4);
    if (op === 0) h.attempt(`set ${path}`, () => msg.set(path, value));
    else if (op === 1) h.attempt(`setRaw ${path}`, () => msg.setRaw(path, value));
    else if (op === 2) h.attempt(`setNull ${path}`, () => msg.setNull(path));
    else h.attempt('addSegment', () => msg.addSegment('NTE', [value, { raw: 'a^b' }]));
    h.attempt(`get ${path}`, () => msg.get(path));
  }
  const out = h.attempt('toBuffer', () => msg.toBuffer());
  h.attempt('toString', () => msg.toString());
  if (out) h.attempt('parse written', () => Hl7Message.parse(out));
}

const NACK = { code: 'AE' as const, text: 'could not parse', errorCode: '100' };

/** Every entry point, on one input. */
function exercise(h: Harness, bytes: Buffer, rng: Rng): void {
  const msg = h.attempt('parse', () => Hl7Message.parse(bytes));
  if (msg) exerciseMessage(h, msg, rng);
  const text = h.attempt('parse text mode', () => Hl7Message.parse(bytes, { formatting: 'text' }));
  if (text) h.attempt('get text mode', () => text.getAll('OBX[*]-5').concat(text.get('NTE-3')));
  h.attempt('parse string', () => Hl7Message.parse(bytes.toString('latin1')));
  const file = h.attempt('parseBatch', () => parseBatch(bytes));
  if (file) {
    h.attempt('batch toBuffer', () => file.toBuffer());
    const first = file.messages[0];
    if (first && first !== msg) exerciseMessage(h, first, rng);
  }
  h.attempt('splitMessages', () => splitMessages(bytes.toString('utf8')));
  const nack = h.attempt('buildNackForUnparsable', () => buildNackForUnparsable(bytes, NACK));
  if (nack) {
    const reply = h.attempt('parse nack', () => Hl7Message.parse(nack));
    if (!reply)
      h.problems.push({ case: h.label, op: 'parse nack', problem: 'a NACK Sinew built does not parse' });
    else h.attempt('readAck nack', () => readAck(reply));
  }
}

// ---- corpus and mutations ---------------------------------------------------------------------

const BOM = '\xef\xbb\xbf';

function corpus(): Array<{ name: string; text: string }> {
  const files = [
    ...corpusFiles('hl7v2', (n) => /\.(hl7|txt)$/.test(n) && !/^(LICENSE|SOURCE)/.test(n)),
    ...corpusFiles('fhir-converter-01/hl7v2-samples'),
  ];
  return files
    .map((f) => ({ name: basename(f), text: readFileSync(f).toString('latin1') }))
    .filter((f) => /^(\xef\xbb\xbf)?(MSH|FHS|BHS)/.test(f.text) && f.text.length < 200_000);
}

/** Splits text into lines that keep their endings. */
const linesOf = (s: string) => s.match(/[^\r\n]*(?:\r\n|\r|\n)+|[^\r\n]+$/g) ?? [];

const TOKENS = [
  '|',
  '^',
  '~',
  '\\',
  '&',
  '#',
  '\r',
  '\n',
  '\r\n',
  '\\X',
  '\\X0',
  '\\XZZ\\',
  '\\.br\\',
  '\\.sp999\\',
  '\\E\\',
  '\\F\\',
  '""',
  'MSH|^~\\&|',
  '\rMSH|^~\\&|A\r',
  '\x00',
  BOM,
  '\xff\xfe',
  '\xc3',
  '\xed\xa0\x80',
  '\xf0\x9f\x98',
  'é',
  '\rBTS|3\r',
  '\rFTS|2\r',
  '\rBHS|^~\\&\r',
  '\rFHS|^~\\&\r',
  '\rPID|',
  '\rpid|1',
  '\r   \r',
];
const MSH2 = [
  '',
  '^',
  '^~',
  '^~\\',
  '^~\\&',
  '^~\\&#',
  '^~\\&#!',
  '^~\\\\&',
  '^^\\&',
  'ab\\&',
  '^~\\&\x00',
  '\xe9~\\&',
  ' ~\\&',
  '~^&\\',
  '^~\\&##',
  '^~\\&|',
  '#~\\&',
  '\\\\\\\\',
];
const MSH18 = [
  '',
  'UNICODE UTF-8',
  'ASCII',
  '8859/1',
  'ISO IR87',
  'UTF-16',
  'utf8',
  '8859/1~UNICODE UTF-8',
  'UNICODE UTF-8^x',
  ' ascii ',
  'ISO IR6',
  'ISO IR100',
  '8859/15',
  '8859/2',
  '8859/7',
  '8859/8',
  'ISO-8859-9',
  'latin2',
  'CP1252',
  'windows-1252',
  'ISO IR126',
  '8859/16',
  'CP1250',
];

type Mutation = (s: string, rng: Rng, other: string) => string;

const splice = (s: string, at: number, del: number, ins: string) => s.slice(0, at) + ins + s.slice(at + del);

const MUTATIONS: Record<string, Mutation> = {
  bitFlips: (s, rng) => {
    const chars = [...s];
    for (let k = rng.between(1, 8); k > 0 && chars.length > 0; k--) {
      const i = rng.int(chars.length);
      chars[i] = String.fromCharCode(((chars[i] as string).charCodeAt(0) ^ (1 << rng.int(8))) & 0xff);
    }
    return chars.join('');
  },
  insertBytes: (s, rng) => splice(s, rng.int(s.length + 1), 0, rng.bytes(rng.between(1, 32))),
  insertTokens: (s, rng) => {
    for (let k = rng.between(1, 6); k > 0; k--) s = splice(s, rng.int(s.length + 1), 0, rng.pick(TOKENS));
    return s;
  },
  deleteBytes: (s, rng) => splice(s, rng.int(s.length + 1), rng.between(1, 64), ''),
  swapDelimiters: (s, rng) => {
    const a = rng.pick(['|', '^', '~', '\\', '&']);
    const b = rng.pick(['|', '^', '~', '\\', '&', '#', '!', '\r', 'A']);
    return rng.chance(0.5)
      ? s.split(a).join(b)
      : s.split(a).join('\x00').split(b).join(a).split('\x00').join(b);
  },
  truncate: (s, rng) => s.slice(0, rng.int(s.length + 1)),
  duplicateSegments: (s, rng) => {
    const lines = linesOf(s);
    if (lines.length === 0) return s;
    const i = rng.int(lines.length);
    const copy = rng.chance(0.2) && (lines[i] as string).length < 200 ? 2000 : rng.between(1, 20);
    lines.splice(i, 0, ...Array<string>(copy).fill(lines[i] as string));
    return lines.join('');
  },
  shuffleSegments: (s, rng) => {
    const lines = linesOf(s);
    for (let i = lines.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
    }
    return lines.join('');
  },
  hugeField: (s, rng) => {
    const size = rng.between(100_000, 300_000);
    const fill = rng.pick([
      () => 'A'.repeat(size),
      () => '\\'.repeat(size),
      () => '~'.repeat(size),
      () => '^&'.repeat(size / 2),
      () => `\\X${'0D'.repeat(size / 2)}\\`,
      () => '\\.br\\'.repeat(size / 5),
    ])();
    const lines = linesOf(s);
    const at = lines.length > 1 ? rng.between(1, lines.length - 1) : 0;
    lines.splice(at, 0, `OBX|1|TX|||${fill}|\r`);
    return lines.join('');
  },
  msh2: (s, rng) =>
    s.replace(/^((?:\xef\xbb\xbf)?(?:MSH|FHS|BHS).)([^|\r\n]*)/, (_m, head: string) => head + rng.pick(MSH2)),
  msh1: (s, rng) =>
    s.replace(
      /^((?:\xef\xbb\xbf)?MSH)./,
      (_m, head: string) => head + rng.pick(['', '\r', 'A', ' ', '^', '\x00', '|||']),
    ),
  msh18: (s, rng) => {
    const lines = linesOf(s);
    const i = lines.findIndex((l) => l.startsWith('MSH') || l.startsWith(BOM + 'MSH'));
    if (i < 0) return s;
    const line = lines[i] as string;
    const end = line.search(/[\r\n]|$/);
    const fields = line.slice(0, end).split('|');
    while (fields.length < 18) fields.push('');
    fields[17] = rng.chance(0.8) ? rng.pick(MSH18) : rng.bytes(rng.between(1, 12)).replace(/[\r\n|]/g, '');
    lines[i] = fields.join('|') + line.slice(end);
    return lines.join('');
  },
  bom: (s, rng) =>
    rng.pick([BOM + s, BOM + BOM + s, '\xff\xfe' + s, splice(s, rng.int(s.length + 1), 0, BOM)]),
  lineBreakRuns: (s, rng) => {
    const run = rng.pick(['\r', '\n', '\r\n', '\n\r']).repeat(rng.between(1, 1000));
    return rng.pick([run + s, s + run, splice(s, rng.int(s.length + 1), 0, run)]);
  },
  lineEndings: (s, rng) => s.replace(/\r\n|\r|\n/g, () => rng.pick(['\r', '\n', '\r\n', '\n\n', ''])),
  nulBytes: (s, rng) => {
    for (let k = rng.between(1, 10); k > 0; k--) s = splice(s, rng.int(s.length + 1), rng.int(2), '\x00');
    return s;
  },
  segmentName: (s, rng) => {
    const lines = linesOf(s);
    if (lines.length === 0) return s;
    const i = rng.int(lines.length);
    const name = rng.pick([
      'pid',
      'P1',
      'PIDX',
      '',
      'MSH',
      'FHS',
      'BHS',
      'BTS',
      'FTS',
      '1AB',
      'ÄBC',
      rng.bytes(3),
    ]);
    lines[i] = name + (lines[i] as string).slice(3);
    return lines.join('');
  },
  concatenate: (s, _rng, other) => s + other,
  envelope: (s, rng) => {
    const n = rng.between(0, 3);
    const head = rng.pick(['', 'FHS|^~\\&|A\r', 'FHS|^~\\&|A\rBHS|^~\\&|B\r', 'BHS|^~\\&\r', 'BHS|#*$!@\r']);
    const tail = rng.pick(['', `BTS|${n}\r`, `BTS|${n}\rFTS|${n}\r`, 'FTS|1\r', 'BTS|x\rFTS|\r']);
    return head + s + tail;
  },
};

const MUTATION_NAMES = Object.keys(MUTATIONS);

function mutate(text: string, other: string, rng: Rng): { bytes: Buffer; applied: string[] } {
  let s = text;
  const applied: string[] = [];
  for (let k = rng.between(1, 4); k > 0; k--) {
    const name = rng.pick(MUTATION_NAMES);
    applied.push(name);
    const next = (MUTATIONS[name] as Mutation)(s, rng, other);
    // Keep inputs within a few megabytes: the pathological cases below cover size.
    if (next.length <= 4_000_000) s = next;
  }
  return { bytes: Buffer.from(s, 'latin1'), applied };
}

function report(h: Harness): string {
  return h.problems
    .slice(0, 5)
    .map((p) => `${p.case} — ${p.op}: ${p.problem}`)
    .join('\n\n');
}

/** `fast`, or the slowest call and its case when it took longer than the budget. */
function slowness(h: Harness): string {
  const { ms, op } = h.slowest;
  return ms < BUDGET_MS ? 'fast' : `${ms.toFixed(0)} ms: ${op} (${h.slowest.case})`;
}

// ---- tests --------------------------------------------------------------------------------------

describe(`fuzz (seed ${SEED})`, () => {
  it('random bytes: only Hl7ParseError, and fast', () => {
    const rng = new Rng(SEED);
    const h = new Harness();
    const prefixes = [
      '',
      'MSH|^~\\&|',
      'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\r',
      'FHS|^~\\&|\rBHS|^~\\&|\r',
    ];
    const alphabet = 'MSHPIDOBX|^~\\&#\r\n 0123"\x00\xc3\xa9';
    for (let i = 0; i < 1000; i++) {
      const len = rng.chance(0.1) ? rng.between(2000, 20000) : rng.int(400);
      let body = '';
      if (rng.chance(0.5)) body = rng.bytes(len);
      else for (let k = 0; k < len; k++) body += alphabet[rng.int(alphabet.length)];
      h.label = `random #${i}`;
      exercise(h, Buffer.from(rng.pick(prefixes) + body, 'latin1'), rng);
    }
    expect(report(h)).toBe('');
    expect(slowness(h)).toBe('fast');
    expect(h.parsed).toBeGreaterThan(50);
  }, 60_000);

  it('random bytes in every single-byte character set: only Hl7ParseError, fast, byte-exact', () => {
    const rng = new Rng(SEED ^ 0x8859);
    const h = new Harness();
    // Sets that define all 256 bytes re-encode any input exactly; the others read undefined
    // bytes as U+FFFD.
    const total = ['8859/1', '8859/2', '8859/4', '8859/5', '8859/9', '8859/15', 'CP1252'];
    const partial = ['8859/3', '8859/6', '8859/7', '8859/8'];
    let exact = 0;
    for (let i = 0; i < 400; i++) {
      const charset = rng.pick([...total, ...partial]);
      const head = `MSH|^~\\&|A|B|C|D|20260101||ADT^A01|${i}|P|2.5||||||${charset}\r`;
      let body = '';
      for (let k = rng.between(1, 6); k > 0; k--) {
        body += `${rng.pick(['PID', 'NTE', 'OBX'])}|${rng.bytes(rng.int(120)).replace(/[\r\n]/g, ' ')}\r`;
      }
      const bytes = Buffer.from(head + body, 'latin1');
      h.label = `charset #${i} ${charset}`;
      exercise(h, bytes, rng);
      const msg = h.attempt('parse', () => Hl7Message.parse(bytes));
      if (msg && total.includes(charset)) {
        if (!encodeText(msg.toString(), msg.encoding).equals(bytes)) {
          h.problems.push({ case: h.label, op: 're-encode', problem: 'the bytes differ from the input' });
        }
        exact++;
      }
    }
    expect(report(h)).toBe('');
    expect(slowness(h)).toBe('fast');
    expect(exact).toBeGreaterThan(100);
  }, 60_000);

  it('mutated corpus messages: only Hl7ParseError, and fast', () => {
    const files = corpus();
    expect(files.length).toBeGreaterThan(100);
    const rng = new Rng(SEED ^ 0x9e3779b9);
    const h = new Harness();
    const cases = 1600;
    for (let i = 0; i < cases; i++) {
      const file = files[i % files.length] as { name: string; text: string };
      const other = rng.pick(files).text;
      const { bytes, applied } = mutate(file.text, other, rng);
      h.label = `corpus #${i} ${file.name} [${applied.join(', ')}]`;
      exercise(h, bytes, rng);
    }
    expect(report(h)).toBe('');
    expect(slowness(h)).toBe('fast');
    // Most mutations leave a readable message, so the deeper operations ran.
    expect(h.parsed).toBeGreaterThan(cases / 2);
  }, 60_000);
});

describe('pathological inputs finish fast', () => {
  const MSH = 'MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5\r';

  /** Parses, reads, writes and serializes; returns the slowest step in milliseconds. */
  function slowestStep(input: Buffer | string, read: string[], formatting: 'keep' | 'text' = 'keep'): number {
    const steps: number[] = [];
    const parse = timed(() => Hl7Message.parse(input, { formatting }));
    steps.push(parse.ms);
    const msg = parse.value;
    for (const path of read) steps.push(timed(() => msg.getAll(path)).ms);
    steps.push(timed(() => msg.set('NTE-3', 'edited')).ms);
    steps.push(timed(() => msg.toBuffer()).ms);
    steps.push(timed(() => buildAck(msg, { code: 'AE', text: 'x' })).ms);
    steps.push(timed(() => buildNackForUnparsable(Buffer.from(input), NACK)).ms);
    return Math.max(...steps);
  }

  it.each([
    ['1 MB of escape characters', `${MSH}OBX|1|TX|||${'\\'.repeat(1 << 20)}\r`],
    ['1 MB of unterminated \\X', `${MSH}OBX|1|TX|||${'\\X'.repeat(1 << 19)}\r`],
    ['1 MB of \\XA\\X', `${MSH}OBX|1|TX|||${'\\XA'.repeat(1 << 18)}\r`],
    ['1 MB hex escape', `${MSH}OBX|1|TX|||\\X${'0'.repeat((1 << 20) + 1)}\\\r`],
    ['1 MB of formatting escapes', `${MSH}OBX|1|TX|||${'\\H\\\\.br\\\\N\\'.repeat(1 << 16)}\r`],
    ['1 MB of empty escapes in components', `${MSH}OBX|1|TX|||${'\\\\^\\&'.repeat(1 << 18)}\r`],
    ['1 MB of one field of repetitions', `${MSH}OBX|1|TX|||${'~'.repeat(1 << 20)}\r`],
    ['1 MB of components', `${MSH}OBX|1|TX|||${'^'.repeat(1 << 20)}\r`],
    ['1 MB of fields', `${MSH}OBX${'|'.repeat(1 << 20)}\r`],
    ['1 MB of CR', `${MSH}${'\r'.repeat(1 << 20)}OBX|1\r`],
    ['1 MB of mixed line breaks', `${MSH}${'\r\n\n\r'.repeat(1 << 18)}OBX|1\r`],
    ['1 MB MSH line without an end', `MSH|^~\\&|${'x^'.repeat(1 << 19)}`],
  ])('%s', (_name, input) => {
    const reads = ['OBX-5', 'OBX[*]-5', 'OBX-5[*]', 'OBX-5[*].1.1', 'OBX-5.1000', 'MSH-18', 'OBX-9999'];
    expect(slowestStep(input, reads)).toBeLessThan(BUDGET_MS);
    expect(slowestStep(Buffer.from(input, 'latin1'), reads, 'text')).toBeLessThan(BUDGET_MS);
  });

  it('1 MB of NUL bytes and of random bytes', () => {
    const rng = new Rng(SEED);
    for (const bytes of [Buffer.alloc(1 << 20), Buffer.from(BOM + rng.bytes(1 << 20), 'latin1')]) {
      const h = new Harness();
      h.label = 'bulk';
      const { ms } = timed(() => exercise(h, bytes, rng));
      expect(report(h)).toBe('');
      expect(ms).toBeLessThan(BUDGET_MS);
    }
  });

  it('100,000 segments', () => {
    const input = Buffer.from(MSH + 'NTE|1||x\r'.repeat(100_000), 'latin1');
    const { value: msg, ms } = timed(() => Hl7Message.parse(input));
    expect(ms).toBeLessThan(BUDGET_MS);
    expect(msg.segments).toHaveLength(100_001);
    expect(timed(() => msg.get('NTE[100000]-3')).ms).toBeLessThan(BUDGET_MS);
    expect(timed(() => msg.getAll('NTE[*]-3')).value).toHaveLength(100_000);
    expect(timed(() => msg.set('NTE[100000]-3', 'y').toBuffer()).ms).toBeLessThan(BUDGET_MS);
    expect(timed(() => parseBatch(input)).ms).toBeLessThan(BUDGET_MS);
    expect(timed(() => buildAck(msg, { code: 'AA' })).ms).toBeLessThan(BUDGET_MS);
  });

  it('100,000 messages in one batch', () => {
    const input = Buffer.from('MSH|^~\\&|A\rPID|1\r'.repeat(100_000), 'latin1');
    const { value: file, ms } = timed(() => parseBatch(input));
    expect(ms).toBeLessThan(BUDGET_MS);
    expect(file.messages).toHaveLength(100_000);
    expect(timed(() => file.toBuffer()).ms).toBeLessThan(BUDGET_MS);
  });

  it('getAll over 200,000 repetitions of one field (was quadratic)', () => {
    const msg = Hl7Message.parse(`MSH|^~\\&|A\rPID|1||${'ID^X~'.repeat(200_000)}LAST^Y`);
    const { value, ms } = timed(() => msg.getAll('PID-3[*].1'));
    expect(value).toHaveLength(200_001);
    expect(value[0]).toBe('ID');
    expect(value[200_000]).toBe('LAST');
    expect(msg.getAll('PID-3[*]')[199_999]).toBe('ID^X');
    expect(ms).toBeLessThan(BUDGET_MS);
  });

  it('4 MB of \\.sp999\\ rendered as text stays a bounded string (was RangeError)', () => {
    const msg = Hl7Message.parse(`MSH|^~\\&|A\rNTE|1||${'\\.sp999\\'.repeat(600_000)}`, {
      formatting: 'text',
    });
    // 600,000 × 999 line breaks would not fit in a string; 99 each do.
    expect(msg.get('NTE-3').length).toBe(99 * 600_000);
    expect(Hl7Message.parse('MSH|^~\\&|A\rNTE|1||a\\.sp3\\b', { formatting: 'text' }).get('NTE-3')).toBe(
      'a\n\n\nb',
    );
  });
});
