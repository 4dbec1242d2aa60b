import fc from 'fast-check';
import { compileField, compileIdentity, parseNumber, parseStamp } from './normalise';
import type { FieldConfig } from './schema';

const field = (over: Partial<FieldConfig>): FieldConfig => ({
  name: 'f',
  type: 'string',
  normalise: ['trim'],
  sourceFormat: 'auto',
  targetFormat: 'auto',
  timezone: 'UTC',
  ...over,
});

describe('string fields', () => {
  it('applies the normalisers in order', () => {
    const f = compileField(field({ normalise: ['trim', 'collapse_spaces', 'upper', 'strip_accents'] }));
    expect(f.source('  José   María ')).toBe('JOSE MARIA');
    expect(f.target('Jose Maria')).toBe('JOSE MARIA');
    expect(compileField(field({ normalise: ['digits'] })).source('(555) 123-4567')).toBe('5551234567');
    expect(compileField(field({ normalise: ['lower'] })).source('ÅSA')).toBe('åsa');
  });

  it('treats null, empty and blank as no value', () => {
    const f = compileField(field({}));
    expect([f.source(null), f.source(''), f.source('   '), f.target(undefined)]).toEqual([
      null,
      null,
      null,
      null,
    ]);
    expect(f.equals(f.source(''), f.target(null))).toBe(true);
    expect(compileField(field({ normalise: [] })).source('  ')).toBe('  ');
  });

  it('maps source codes to target codes, unmapped codes unchanged, the result normalised like the target', () => {
    const f = compileField(
      field({ normalise: ['trim', 'upper'], map: { F: 'female', M: 'male', O: 'other', U: 'unknown' } }),
    );
    expect(f.source(' f ')).toBe('FEMALE');
    expect(f.target('female')).toBe('FEMALE');
    expect(f.source('X')).toBe('X');
    expect(f.target('F')).toBe('F');
    expect(f.source(true)).toBe('TRUE');
  });
});

describe('date fields', () => {
  const date = (
    sourceFormat: FieldConfig['sourceFormat'],
    targetFormat: FieldConfig['targetFormat'] = 'auto',
  ) => compileField(field({ type: 'date', sourceFormat, targetFormat }));

  it.each([
    ['MM/DD/YYYY', '03/04/1980', '1980-03-04'],
    ['MM/DD/YYYY', '3/4/1980', '1980-03-04'],
    ['DD/MM/YYYY', '03/04/1980', '1980-04-03'],
    ['YYYYMMDD', '19800304', '1980-03-04'],
    ['YYYY-MM-DD', '1980-03-04', '1980-03-04'],
    ['HL7', '198003041230+0100', '1980-03-04'],
    ['ISO', '1980-03-04T23:30:00-05:00', '1980-03-04'],
    ['auto', '1980-03-04', '1980-03-04'],
    ['auto', '19800304', '1980-03-04'],
  ] as const)('%s reads %s as %s', (format, value, expected) => {
    expect(date(format).source(value)).toBe(expected);
  });

  it('compares a value that is not a date of the declared format as its trimmed text, and says so', () => {
    const f = date('MM/DD/YYYY');
    expect(f.source(' 13/45/1980 ')).toBe('13/45/1980');
    expect(f.source('1980-03-04')).toBe('1980-03-04');
    expect(f.note('source', '1980-03-04')).toBe(
      'the source value is not a date in MM/DD/YYYY: compared as text',
    );
    expect(f.note('source', '03/04/1980')).toBeUndefined();
    expect(f.note('target', 'soon')).toBe('the target value is not a date: compared as text');
    expect(date('YYYY-MM-DD').source('1980-02-30')).toBe('1980-02-30');
    expect(date('YYYYMMDD').note('source', '1980-02-03')).toBe(
      'the source value is not a date in YYYYMMDD: compared as text',
    );
  });
});

describe('date fields, the common shapes read without a regular expression', () => {
  const formats = ['auto', 'ISO', 'YYYY-MM-DD', 'YYYYMMDD', 'HL7', 'MM/DD/YYYY', 'DD/MM/YYYY'] as const;
  const two = fc.integer({ min: 0, max: 39 }).map((n) => String(n).padStart(2, '0'));
  const year = fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0'));
  const shaped = fc.oneof(
    fc.tuple(year, two, two).map(([y, m, d]) => `${y}-${m}-${d}`),
    fc.tuple(two, two, year).map(([a, b, y]) => `${a}/${b}/${y}`),
    fc.tuple(year, two, two).map(([y, m, d]) => `${y}${m}${d}`),
    fc.string({ minLength: 8, maxLength: 10 }),
  );

  it('reads each as the full parser does, impossible days and other formats included', () => {
    fc.assert(
      fc.property(shaped, fc.constantFrom(...formats), (value, format) => {
        const st = parseStamp(value, format);
        const want = st
          ? `${String(st.y).padStart(4, '0')}-${String(st.m).padStart(2, '0')}-${String(st.d).padStart(2, '0')}`
          : value.trim();
        expect(compileField(field({ type: 'date', normalise: [], sourceFormat: format })).source(value)).toBe(
          want === '' ? null : want,
        );
      }),
      { numRuns: 3000 },
    );
    expect(compileField(field({ type: 'date', sourceFormat: 'MM/DD/YYYY' })).source('02/29/2000')).toBe(
      '2000-02-29',
    );
    expect(compileField(field({ type: 'date', sourceFormat: 'MM/DD/YYYY' })).source('02/29/1900')).toBe(
      '02/29/1900',
    );
  });

  it('strips accents as NFD does, plain Latin text passing unchanged', () => {
    const strip = compileField(field({ normalise: ['strip_accents'] }));
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const want = s.normalize('NFD').replace(/\p{M}+/gu, '');
        expect(strip.source(s)).toBe(want === '' ? null : want);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('datetime fields', () => {
  const dt = (over: Partial<FieldConfig> = {}) => compileField(field({ type: 'datetime', ...over }));

  it('compares instants in UTC; local times without an offset are read in the field’s time zone', () => {
    const f = dt({ timezone: 'America/New_York' });
    expect(f.source('2026-12-06T10:00:00')).toBe('2026-12-06T15:00:00.000Z');
    expect(f.target('2026-12-06T15:00:00Z')).toBe('2026-12-06T15:00:00.000Z');
    expect(f.target('202612061000-0500')).toBe('2026-12-06T15:00:00.000Z');
    expect(f.target('20261206100000.25')).toBe('2026-12-06T15:00:00.250Z');
    expect(dt({ sourceFormat: 'MM/DD/YYYY', timezone: 'Europe/London' }).source('12/06/2026 10:00')).toBe(
      '2026-12-06T10:00:00.000Z',
    );
  });

  it('reads local times across DST changes', () => {
    const f = dt({ timezone: 'America/New_York' });
    // Clocks went forward at 02:00 on 2026-03-08: 01:59 EST, then 03:00 EDT.
    expect(f.source('2026-03-08T01:59:00')).toBe('2026-03-08T06:59:00.000Z');
    expect(f.source('2026-03-08T03:00:00')).toBe('2026-03-08T07:00:00.000Z');
    // Clocks went back at 02:00 on 2026-11-01: 01:30 happened twice; the first is taken.
    expect(f.source('2026-11-01T01:30:00')).toBe('2026-11-01T05:30:00.000Z');
    expect(f.source('2026-11-01T03:00:00')).toBe('2026-11-01T08:00:00.000Z');
  });

  it('holds two instants within the tolerance as equal, inclusive at the edge', () => {
    const f = dt({ tolerance: 5 * 60_000 });
    const a = f.source('2026-12-06T10:00:00Z');
    expect(f.equals(a, f.target('2026-12-06T10:05:00Z'))).toBe(true);
    expect(f.equals(a, f.target('2026-12-06T09:55:00Z'))).toBe(true);
    expect(f.equals(a, f.target('2026-12-06T10:05:01Z'))).toBe(false);
    expect(f.equals(a, f.target('soon'))).toBe(false);
    expect(f.equals(a, null)).toBe(false);
    expect(dt().equals(a, f.target('2026-12-06T10:00:01Z'))).toBe(false);
  });
});

describe('number fields', () => {
  it('reads numbers written plainly or with thousands commas', () => {
    expect(parseNumber(' 1,234.50 ')).toBe(1234.5);
    expect(parseNumber('-0.5')).toBe(-0.5);
    expect(parseNumber('1e3')).toBe(1000);
    expect(parseNumber('12,5')).toBeUndefined();
    expect(parseNumber('')).toBeUndefined();
    const f = compileField(field({ type: 'number' }));
    expect([f.source('10.50'), f.target(10.5), f.source('-0'), f.source('ten')]).toEqual([
      '10.5',
      '10.5',
      '0',
      'ten',
    ]);
    expect(f.note('source', 'ten')).toBe('the source value is not a number: compared as text');
  });

  it('holds amounts within the tolerance as equal, inclusive at the edge despite binary fractions', () => {
    const f = compileField(field({ type: 'number', tolerance: 0.01 }));
    expect(f.equals(f.source('10.00'), f.target('10.01'))).toBe(true);
    expect(f.equals(f.source('0.1'), f.target(0.11))).toBe(true);
    expect(f.equals(f.source('10.00'), f.target('10.02'))).toBe(false);
    expect(f.equals(f.source('10.00'), f.target('9.989'))).toBe(false);
    expect(f.equals(f.source('10'), f.target(null))).toBe(false);
    const exact = compileField(field({ type: 'number' }));
    expect(exact.equals(exact.source('10.00'), exact.target('10.001'))).toBe(false);
  });
});

describe('identity', () => {
  it('applies the identity normalisers', () => {
    expect(compileIdentity(['trim', 'upper'])(' mrn-12 ')).toBe('MRN-12');
    expect(compileIdentity(['digits'])('MRN 00-12')).toBe('0012');
  });
});
