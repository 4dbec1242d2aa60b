import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { validateFhir } from '@sinew/validation';

/**
 * The built-in HL7 v2 → FHIR message maps: admissions, billing accounts, labs, orders, pharmacy
 * orders and dispenses, referrals, problems, documents, immunizations, scheduling and charges.
 * Every corpus sample of a type one of them handles converts, none refused (a filler status
 * the guide's map lacks, SIU-S16's "Dc", is in the site supplement of vocab-supplements/).
 */
const TRANSFORMERS = [
  'adt-to-fhir',
  'bar-to-fhir',
  'oru-to-fhir',
  'orm-to-fhir',
  'omp-to-fhir',
  'oul-to-fhir',
  'ppr-to-fhir',
  'rde-to-fhir',
  'rds-to-fhir',
  'ref-to-fhir',
  'mdm-to-fhir',
  'vxu-to-fhir',
  'siu-to-fhir',
  'dft-to-fhir',
];
const CORPUS = join(
  BUILT_IN_TRANSFORMERS,
  '..',
  '..',
  'shared',
  'corpus',
  'fhir-converter-01',
  'hl7v2-samples',
);

/** Message types the corpus has no sample of: their maps' own tests (`*.test.yaml`) cover them. */
const WITHOUT_SAMPLE = new Set(['RSP^K11', 'PPR^PC1', 'PPR^PC2', 'PPR^PC3', 'OMP^O09']);

describe('FHIR-Converter corpus samples convert to valid FHIR R4', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
  const types = new Map(
    TRANSFORMERS.flatMap((name) => library.get(name).spec.messages.map((type) => [type, name] as const)),
  );
  const samples = readdirSync(CORPUS)
    .filter((f) => f.endsWith('.hl7') && types.has(f.replace(/-\d+\.hl7$/, '').replace('-', '^')))
    .sort();

  it('has a sample of every message type', () => {
    const covered = new Set(samples.map((f) => f.replace(/-\d+\.hl7$/, '').replace('-', '^')));
    expect([...types.keys()].filter((t) => !covered.has(t) && !WITHOUT_SAMPLE.has(t))).toEqual([]);
    expect([...WITHOUT_SAMPLE].filter((t) => covered.has(t) || !types.has(t))).toEqual([]);
  });

  it.each(samples)('%s', (file) => {
    const msg = Hl7Message.parse(readFileSync(join(CORPUS, file)));
    const transformer = library.forMessageType(msg.messageType);
    expect(TRANSFORMERS).toContain(transformer.name);
    const bundle = transformer.run(msg) as { entry: unknown[] };
    expect(bundle.entry.length).toBeGreaterThan(1);
    expect(validateFhir(bundle).filter((i) => i.severity === 'error')).toEqual([]);
  });
});
