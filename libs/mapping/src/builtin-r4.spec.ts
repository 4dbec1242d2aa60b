import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TEST_NOW, TransformerLibrary, findTransformerTests } from '@sinew/mapping';
import { validateFhir } from '@sinew/validation';
import { parse } from 'yaml';

/**
 * Every test input of a built-in HL7 v2 → FHIR message map converts to valid FHIR R4, minimal
 * messages included (a required element the source leaves empty takes the IG's default).
 * Its own file: loading the R4 definitions for validation changes how FHIRPath reads choice
 * elements in the process, which the expectations of the test files must not depend on.
 */
describe('built-in transformer tests: every FHIR output is valid R4', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
  const cases: Array<[string, () => unknown]> = [];
  for (const file of findTransformerTests(BUILT_IN_TRANSFORMERS)) {
    const spec = parse(readFileSync(file, 'utf8')) as {
      transformer?: string;
      tests: Array<{
        name: string;
        input?: unknown;
        input_file?: string;
        expect_error?: unknown;
        strict?: boolean;
      }>;
    };
    const t = spec.transformer === undefined ? undefined : library.transformers.get(spec.transformer);
    if (!t || t.spec.input !== 'hl7v2' || t.spec.output !== 'fhir') continue;
    for (const test of spec.tests) {
      if (test.expect_error !== undefined) continue;
      const raw =
        test.input_file !== undefined
          ? readFileSync(resolve(dirname(file), test.input_file))
          : String(test.input).replace(/\r?\n/g, '\r');
      cases.push([
        `${relative(BUILT_IN_TRANSFORMERS, file)}: ${test.name}`,
        () => t.run(Hl7Message.parse(raw), { now: TEST_NOW, strict: test.strict === true }),
      ]);
    }
  }

  it('finds the tests', () => expect(cases.length).toBeGreaterThan(30));

  it.each(cases)('%s', (_name, run) => {
    const errors = validateFhir(run()).filter((i) => i.severity === 'error');
    expect(errors.map((e) => `${e.location ?? ''}: ${e.message}`)).toEqual([]);
  });
});
