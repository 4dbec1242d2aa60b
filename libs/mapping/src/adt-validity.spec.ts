import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { corpusFiles } from '@sinew/test-support';
import { validateFhir } from '@sinew/validation';

/** The ADT trigger events adt-to-fhir handles, in the FHIR-Converter corpus. */
const SUPPORTED = /^ADT-A(01|03|04|08|11|40)-/;

describe('adt-to-fhir output is valid FHIR R4', () => {
  const transformer = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]).get('adt-to-fhir');
  const files = corpusFiles('fhir-converter-01/hl7v2-samples', (name) => SUPPORTED.test(name));

  it('finds the corpus samples', () => expect(files.length).toBe(6));

  it.each(files.map((f) => [basename(f), f]))('%s: no validation errors', (_name, file) => {
    const bundle = transformer.run(Hl7Message.parse(readFileSync(file)));
    expect(validateFhir(bundle).filter((i) => i.severity === 'error')).toEqual([]);
  });
});
