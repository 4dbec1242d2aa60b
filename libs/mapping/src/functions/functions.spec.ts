import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FUNCTIONS, MappingError, bindFunction, functionReference } from '@sinew/mapping';

describe('built-in functions: every declared example holds', () => {
  it('has unique names', () => {
    const names = FUNCTIONS.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
  });

  const cases = FUNCTIONS.flatMap((fn) =>
    fn.examples.map((ex, i) => [`${fn.name} #${i + 1}: ${ex.input}`, fn, ex] as const),
  );

  it.each(cases)('%s', (_label, fn, ex) => {
    const table = ex.vocabulary;
    const lookup = table
      ? (code: string) => (table[code] === undefined ? undefined : { code: table[code] as string })
      : undefined;
    const run = bindFunction(fn, ex.args, 'example', lookup);
    if (ex.error) {
      let caught: unknown;
      try {
        run(ex.input);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(MappingError);
      expect((caught as MappingError).code).toBe(ex.error);
    } else {
      expect(run(ex.input)).toEqual(ex.output);
    }
  });

  it('refuses bad arguments when binding', () => {
    const fn = FUNCTIONS.find((f) => f.name === 'hl7_datetime');
    expect(() => bindFunction(fn as (typeof FUNCTIONS)[number], { type: 'week' }, 'x')).toThrow(
      /arguments of hl7_datetime/,
    );
  });
});

describe('docs/reference/functions.md', () => {
  it('is generated from the declarations and up to date (npm run docs)', () => {
    const page = readFileSync(
      join(__dirname, '..', '..', '..', '..', 'docs', 'reference', 'functions.md'),
      'utf8',
    );
    expect(page).toBe(functionReference(FUNCTIONS));
  });
});

describe('format', () => {
  const fn = FUNCTIONS.find((f) => f.name === 'format') as (typeof FUNCTIONS)[number];
  const REF = /\{(\d+(?:\.\d+)?)\}/g;
  /** The definition: bracketed parts filled in or left out, then every `{c}` in the text replaced. */
  const reference = (value: string, pattern: string): string | undefined => {
    const part = (ref: string) => {
      const [c, s] = ref.split('.').map(Number);
      const component = value.split('^')[(c as number) - 1] ?? '';
      return s === undefined ? component : (component.split('&')[s - 1] ?? '');
    };
    const text = pattern
      .replace(/\[([^\]]*)\]/g, (_, inner: string) => {
        const refs = [...inner.matchAll(REF)].map((m) => m[1] as string);
        return refs.every((r) => part(r) !== '') ? inner.replace(REF, (__, r: string) => part(r)) : '';
      })
      .replace(REF, (_, ref: string) => part(ref));
    const out = text.replace(/\s+/g, ' ').replace(/^[\s,]+|[\s,]+$/g, '');
    return out === '' ? undefined : out;
  };

  it('renders patterns as two replace passes would, braces and brackets in values included', () => {
    const pick = <T>(xs: readonly T[], n: number) => xs[n % xs.length] as T;
    const pieces = [
      '{1}',
      '{2}',
      '{2.1}',
      '{2.2}',
      '{0}',
      '{1.0}',
      '[',
      ']',
      '{',
      '}',
      ' ',
      ', ',
      'X',
      '1',
      '.',
    ];
    const values = [
      'a',
      '',
      '{1}',
      '}',
      '{',
      '[x]',
      ' b ',
      'c&d',
      '1',
      ',',
      '{2',
      '3}',
      '\t',
      ' , ',
      '\u00a0x\u3000',
      '  ',
      ',,',
    ];
    for (const [pattern, value] of [
      ['{[{2}]1}', 'a'],
      ['{[{2}]1}', 'a^2'],
      ['{[{1}]}', '5^x'],
      ['[{2}]', 'a^{1}'],
      ['{1.[{2}]}', 'a&b^'],
    ]) {
      expect([pattern, value, fn.run(value as string, { pattern })]).toEqual([
        pattern,
        value,
        reference(value as string, pattern as string),
      ]);
    }
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
    for (let i = 0; i < 5000; i++) {
      const pattern = Array.from({ length: 1 + (next() % 9) }, () => pick(pieces, next())).join('');
      const value = Array.from({ length: next() % 5 }, () =>
        Array.from({ length: 1 + (next() % 2) }, () => pick(values, next())).join('&'),
      ).join('^');
      expect([pattern, value, fn.run(value, { pattern })]).toEqual([
        pattern,
        value,
        reference(value, pattern),
      ]);
    }
  });
});

describe('system_uri', () => {
  const fn = FUNCTIONS.find((f) => f.name === 'system_uri') as (typeof FUNCTIONS)[number];
  it('reads HD.1-3 split on ^ or & in any mix', () => {
    const cases: Array<[string, string | undefined]> = [
      ['HOSP^2.16.840.1.113883.19.5&ISO', 'urn:oid:2.16.840.1.113883.19.5'],
      ['HOSP&1.2.3^ISO^extra&more', 'urn:oid:1.2.3'],
      ['&&', undefined],
      ['^^', undefined],
      ['', undefined],
      ['A B', 'urn:sinew:id:A%20B'],
      ['NS^http://x.example/id', 'http://x.example/id'],
      ['^F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6&uuid', 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6'],
    ];
    for (const [input, output] of cases)
      expect([input, fn.run(input, { prefix: 'urn:sinew:id:' })]).toEqual([input, output]);
  });
});
