import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  BUILT_IN_TRANSFORMERS,
  TransformerLibrary,
  findTransformerTests,
  mapsReference,
  runTransformerTestFile,
} from '@sinew/mapping';

describe('built-in transformers: every *.test.yaml passes', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
  const files = findTransformerTests(BUILT_IN_TRANSFORMERS);

  it('finds test files', () => expect(files.length).toBeGreaterThan(0));

  const cases = files.flatMap((file) =>
    runTransformerTestFile(file, library).map(
      (r) => [`${relative(BUILT_IN_TRANSFORMERS, file)}:${r.line} ${r.name}`, r] as const,
    ),
  );

  it.each(cases)('%s', (_name, result) => {
    expect(result.failures).toEqual([]);
    expect(result.passed).toBe(true);
  });
});

describe('docs/builtin-maps.md', () => {
  it('is generated from transformers/ and up to date (npm run docs)', () => {
    const page = readFileSync(join(BUILT_IN_TRANSFORMERS, '..', 'docs', 'builtin-maps.md'), 'utf8');
    expect(page).toBe(mapsReference(TransformerLibrary.load([BUILT_IN_TRANSFORMERS])));
  });
});
