import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { CORPUS_DIR } from '@sinew/test-support';

/**
 * `transformers/vocab-supplements/ig-no-target/` lists, per vocabulary, the codes the guide's
 * concept map (its CSV, as scripts/ig-vocab.mjs reads it) holds without a target code: those
 * are dropped or defaulted without a warning. It is kept equal to the CSV, less the codes a
 * Sinew supplement maps (`Overbook` in FillerStatusCodes[Appointment]).
 */
const CSV_DIR = join(CORPUS_DIR, '..', 'reference', 'v2-to-fhir-ig', 'mappings-csv', 'codesystems');
const DIR = join(BUILT_IN_TRANSFORMERS, 'vocab-supplements', 'ig-no-target');

/** The v2 codes of a concept map's rows with no FHIR code, in the CSV's order. */
function targetless(vocabulary: string): string[] {
  const file = join(CSV_DIR, `HL7 Concept Map_ ${vocabulary} - Sheet1.csv`);
  const rows = parse(readFileSync(file, 'utf8'), { relax_column_count: true }) as string[][];
  const out: string[] = [];
  for (const row of rows.slice(2)) {
    const code = (row[0] ?? '').trim();
    if (code && !(row[6] ?? '').trim() && !out.includes(code)) out.push(code);
  }
  return out;
}

describe('the IG codes without a target', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));

  it('finds the concept maps', () => {
    expect(existsSync(CSV_DIR)).toBe(true);
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files)('%s lists what the concept map leaves without a target', (file) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    const name = /^supplement: (.+)$/m.exec(text)?.[1] as string;
    const vocab = library.registry.vocabularies.get(name);
    expect(vocab).toBeDefined();
    const expected = targetless(name).filter((c) => vocab?.lookup(c) === undefined);
    const listed = expected.filter((c) => vocab?.noTarget(c));
    expect(listed).toEqual(expected);
  });
});
