import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { validateFhir } from '@sinew/validation';

type Bundle = {
  entry: Array<{ resource: Record<string, unknown>; request: { url: string } }>;
};

const ADT = [
  'MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20260101||ADT^A04|1|P|2.5.1',
  'PID|1||MRN1^^^GOODHEALTH^MR~X9~U1^^^&4f0c4a8e-1d9b-4c59-9b0e-2b8b8c8f0d11&UUID~O1^^^&1.2.3&ISO||DOE^JANE||19800101|F',
].join('\r');

describe('identifier systems are URIs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-systems-'));
    writeFileSync(
      join(dir, 'identifier-systems.yaml'),
      'vocabulary: IdentifierSystems\ncodes:\n  GOODHEALTH: https://goodhealth.example/fhir/mrn\n',
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const patientOf = (lib: TransformerLibrary) => {
    const bundle = lib.get('adt-to-fhir').run(Hl7Message.parse(ADT)) as Bundle;
    expect(validateFhir(bundle).filter((i) => i.severity === 'error')).toEqual([]);
    const entry = bundle.entry.find((e) => e.resource.resourceType === 'Patient');
    return {
      url: entry?.request.url,
      systems: (entry?.resource.identifier as Array<{ system?: string }>).map((i) => i.system),
    };
  };

  it('OIDs as urn:oid:, UUIDs as urn:uuid:, names under urn:sinew:id: by default', () => {
    const { url, systems } = patientOf(TransformerLibrary.load([BUILT_IN_TRANSFORMERS]));
    expect(systems).toEqual([
      'urn:sinew:id:GOODHEALTH',
      undefined,
      'urn:uuid:4f0c4a8e-1d9b-4c59-9b0e-2b8b8c8f0d11',
      'urn:oid:1.2.3',
    ]);
    expect(url).toBe('Patient?identifier=urn%3Asinew%3Aid%3AGOODHEALTH|MRN1');
  });

  it("names through a site's IdentifierSystems vocabulary, in the identifier and the conditional update", () => {
    const { url, systems } = patientOf(TransformerLibrary.load([BUILT_IN_TRANSFORMERS, dir]));
    expect(systems[0]).toBe('https://goodhealth.example/fhir/mrn');
    expect(url).toBe(`Patient?identifier=${encodeURIComponent('https://goodhealth.example/fhir/mrn')}|MRN1`);
  });
});
