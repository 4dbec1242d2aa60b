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
    const run = bindFunction(fn, ex.args, 'example');
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

describe('docs/functions.md', () => {
  it('is generated from the declarations and up to date (npm run docs)', () => {
    const page = readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'functions.md'), 'utf8');
    expect(page).toBe(functionReference(FUNCTIONS));
  });
});
