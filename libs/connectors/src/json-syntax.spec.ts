import { findJsonSyntaxError, JsonScanner, type JsonScanLimits } from './json-syntax';

const VALID = [
  '{}',
  '[]',
  ' {"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"], "b": {"c": ""}} ',
  '0',
  '"s"',
];
const INVALID: Array<[string, { line: number; column: number; expected: string; truncated: boolean }]> = [
  ['{\n  "a": [Testpatient]\n}', { line: 2, column: 9, expected: 'a value', truncated: false }],
  ['{"a" 1}', { line: 1, column: 6, expected: "':'", truncated: false }],
  ['{"a": 1 "b": 2}', { line: 1, column: 9, expected: "',' or '}'", truncated: false }],
  ["{'a': 1}", { line: 1, column: 2, expected: 'a property name in double quotes', truncated: false }],
  ['[1, 2,]', { line: 1, column: 7, expected: 'a value', truncated: false }],
  ['[01]', { line: 1, column: 3, expected: "',' or ']'", truncated: false }],
  ['{"a": "b\\x"}', { line: 1, column: 10, expected: 'a valid escape', truncated: false }],
  ['{} {}', { line: 1, column: 4, expected: 'the end of the text', truncated: false }],
  ['{"resourceType": "Pat', { line: 1, column: 22, expected: 'a closing quote', truncated: true }],
  ['', { line: 1, column: 1, expected: 'a value', truncated: true }],
];

describe('findJsonSyntaxError', () => {
  it.each(VALID)('accepts %s as JSON.parse does', (text) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(findJsonSyntaxError(text)).toBeUndefined();
  });

  it.each(INVALID)('locates the error in %j', (text, error) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(findJsonSyntaxError(text)).toEqual(error);
  });

  it('locates the error of a text nested a million levels deep (no recursion)', () => {
    expect(findJsonSyntaxError('['.repeat(1_000_000))).toEqual({
      line: 1,
      column: 1_000_001,
      expected: 'a value',
      truncated: true,
    });
  });
});

const LIMITS: JsonScanLimits = { maxDepth: 100, maxValues: 1_000_000 };

/** Scans a text cut into chunks of `size` bytes. */
function scan(text: string | Buffer, limits = LIMITS, size = Infinity) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const scanner = new JsonScanner(limits);
  for (let i = 0; i < bytes.length; i += Math.min(size, bytes.length)) {
    const problem = scanner.write(bytes.subarray(i, i + size));
    if (problem) return { problem };
  }
  return scanner.end();
}

describe('JsonScanner', () => {
  const more = [
    ...VALID,
    '\ufeff{"resourceType":"Patient"}',
    '[1e5, 0.5E-3, -0, 12, "a\\"b\\\\c\\/d\\u00E9"]',
    '{"a":{"b":[{"c":[]}]},"é":"ü€𝄞"}',
    '  true ',
    '-12.5e+7',
  ];
  it.each(more)('accepts %j as JSON.parse does, whole or a byte at a time', (text) => {
    expect(() => JSON.parse(text.replace(/^\ufeff/, ''))).not.toThrow();
    expect(scan(text)).toHaveProperty('result');
    expect(scan(text, LIMITS, 1)).toEqual(scan(text));
  });

  it.each([
    ...INVALID,
    ['[1,]', { line: 1, column: 4, expected: 'a value', truncated: false }],
    ['{"a":1,}', { line: 1, column: 8, expected: 'a property name in double quotes', truncated: false }],
    ['[tru]', { line: 1, column: 5, expected: 'a value', truncated: false }],
    ['[-]', { line: 1, column: 3, expected: 'a digit', truncated: false }],
    ['[1.]', { line: 1, column: 4, expected: 'a digit', truncated: false }],
    ['[1e]', { line: 1, column: 4, expected: 'a digit', truncated: false }],
    ['["a\tb"]', { line: 1, column: 4, expected: 'no control character inside a string', truncated: false }],
    ['["\\u12G4"]', { line: 1, column: 7, expected: 'four hex digits after \\u', truncated: false }],
    ['{"é": x}', { line: 1, column: 7, expected: 'a value', truncated: false }],
    ['[[1]', { line: 1, column: 5, expected: "',' or ']'", truncated: true }],
    ['[1', { line: 1, column: 3, expected: "',' or ']'", truncated: true }],
    ['[1] 2', { line: 1, column: 5, expected: 'the end of the text', truncated: false }],
  ] as const)('refuses %j where findJsonSyntaxError and JSON.parse do, in any chunking', (text, error) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(findJsonSyntaxError(text)).toEqual(error);
    expect(scan(text)).toEqual({ problem: { kind: 'syntax', ...error } });
    expect(scan(text, LIMITS, 1)).toEqual({ problem: { kind: 'syntax', ...error } });
  });

  it('reads the top-level resourceType (the last one, escapes decoded), never a nested one', () => {
    const result = (text: string) => {
      const r = scan(text, LIMITS, 3);
      if (!('result' in r)) throw new Error('refused');
      return r.result;
    };
    expect(result('{"resourceType":"Patient","id":"1"}')).toMatchObject({
      top: 'object',
      resourceType: 'Patient',
    });
    expect(result('{"resource\\u0054ype":"Obs\\u0065rvation"}').resourceType).toBe('Observation');
    expect(result('{"resourceType":"Patient","resourceType":7}').resourceType).toBeUndefined();
    expect(result('{"contained":{"resourceType":"Patient"}}').resourceType).toBeUndefined();
    expect(result('[{"resourceType":"Patient"}]')).toMatchObject({ top: 'array', resourceType: undefined });
    expect(result('"Patient"')).toMatchObject({ top: 'scalar', resourceType: undefined });
  });

  it('counts values and depth, and refuses past the limits at the byte that crosses them', () => {
    const text = '{"a":[1,"x",{"b":null}],"c":true}';
    expect(scan(text)).toEqual({
      result: { top: 'object', resourceType: undefined, values: 7, depth: 3 },
    });
    expect(scan(text, { maxDepth: 3, maxValues: 7 })).toHaveProperty('result');
    expect(scan(text, { maxDepth: 2, maxValues: 7 })).toEqual({ problem: { kind: 'depth', limit: 2 } });
    expect(scan(text, { maxDepth: 3, maxValues: 6 })).toEqual({ problem: { kind: 'values', limit: 6 } });

    // A deep body is refused within its first bytes: what follows is never read.
    const scanner = new JsonScanner({ maxDepth: 64, maxValues: 1_000_000 });
    expect(scanner.write(Buffer.from('['.repeat(65)))).toEqual({ kind: 'depth', limit: 64 });
    expect(scanner.write(Buffer.from(']'))).toEqual({ kind: 'depth', limit: 64 });
  });

  it('agrees with JSON.parse on random texts cut at random places', () => {
    const pieces = [
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      '"k"',
      '"\\u00e9"',
      '1',
      '-0.5e2',
      'true',
      'null',
      ' ',
      '\n',
      'x',
    ];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 3000; round++) {
      const length = 1 + random(12);
      const text = Array.from({ length }, () => pieces[random(pieces.length)]).join('');
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      const scanned = scan(text, LIMITS, 1 + random(4));
      expect([text, 'result' in scanned]).toEqual([text, valid]);
      if (!valid)
        expect([text, scanned]).toEqual([
          text,
          { problem: { kind: 'syntax', ...findJsonSyntaxError(text) } },
        ]);
    }
  });
});
