import { z } from 'zod';
import { defineFunction } from './define';

/** HL7 coding-system names (table 0396, as sent in CWE.3/CWE.6) → FHIR code system URIs. */
const SYSTEMS: Record<string, string> = {
  LN: 'http://loinc.org',
  LOINC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNM: 'http://snomed.info/sct',
  SNOMED: 'http://snomed.info/sct',
  SNOMEDCT: 'http://snomed.info/sct',
  I10: 'http://hl7.org/fhir/sid/icd-10',
  I10C: 'http://hl7.org/fhir/sid/icd-10-cm',
  ICD10CM: 'http://hl7.org/fhir/sid/icd-10-cm',
  I9: 'http://hl7.org/fhir/sid/icd-9-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  ICD9CM: 'http://hl7.org/fhir/sid/icd-9-cm',
  C4: 'http://www.ama-assn.org/go/cpt',
  CPT: 'http://www.ama-assn.org/go/cpt',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  MVX: 'http://terminology.hl7.org/CodeSystem/MVX',
  UCUM: 'http://unitsofmeasure.org',
  NUCC: 'http://nucc.org/provider-taxonomy',
  ISO3166_1: 'urn:iso:std:iso:3166',
  'ISO3166-1': 'urn:iso:std:iso:3166',
};

/**
 * CWE.3 (or CWE.6, CWE.12) → Coding.system: known names from the table above, `HL7nnnn` →
 * the v2 table's URI, an OID → `urn:oid:`, a URI as is, anything else `prefix` + the name.
 */
export const codingSystem = defineFunction({
  name: 'coding_system',
  summary:
    'A Coding.system URI from an HL7 coding-system name (CWE.3): LN, SCT, I10, HL7nnnn…; an OID or URI as is; else `prefix` + the name.',
  params: z.strictObject({ prefix: z.string().default('urn:sinew:cs:') }),
  examples: [
    { input: 'LN', output: 'http://loinc.org' },
    { input: 'SCT', output: 'http://snomed.info/sct' },
    { input: 'I10', output: 'http://hl7.org/fhir/sid/icd-10' },
    { input: 'HL70001', output: 'http://terminology.hl7.org/CodeSystem/v2-0001' },
    { input: 'HL7-0203', output: 'http://terminology.hl7.org/CodeSystem/v2-0203' },
    { input: '2.16.840.1.113883.6.1', output: 'urn:oid:2.16.840.1.113883.6.1' },
    { input: 'http://loinc.org', output: 'http://loinc.org' },
    { input: '99ZZZ', output: 'urn:sinew:cs:99ZZZ' },
    { input: 'L', args: { prefix: 'https://clinic.example/cs/' }, output: 'https://clinic.example/cs/L' },
  ],
  run(value, args) {
    const name = value.trim();
    if (!name) return undefined;
    const known = SYSTEMS[name.toUpperCase()];
    if (known) return known;
    const table = /^HL7-?(\d{4})$/i.exec(name);
    if (table) return `http://terminology.hl7.org/CodeSystem/v2-${table[1]}`;
    if (/^\d+(\.\d+)+$/.test(name)) return `urn:oid:${name}`;
    if (/^(https?|urn):/i.test(name)) return name;
    return args.prefix + encodeURIComponent(name);
  },
});
