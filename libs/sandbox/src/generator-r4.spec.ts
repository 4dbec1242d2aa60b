import { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TEST_NOW, TransformerLibrary, type MappingWarning } from '@sinew/mapping';
import { generateClinic, type SandboxChannel } from '@sinew/sandbox';
import { validateFhir } from '@sinew/validation';

/** The transformer each sandbox channel maps with (channels/sandbox/*.yaml). */
const TRANSFORMER: Record<SandboxChannel, string> = {
  adt: 'adt-to-fhir',
  siu: 'siu-to-fhir',
  lab: 'oru-to-fhir',
  dft: 'dft-to-fhir',
};

interface Entry {
  resource: { resourceType: string };
}

/**
 * Every generated message converts, with the transformers the sandbox's channels use, to a
 * FHIR R4 transaction that validates. Its own file: loading the R4 definitions changes how
 * FHIRPath reads choice elements in the process.
 */
describe('sandbox messages convert to valid FHIR R4', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
  const clinic = generateClinic({ seed: 7, patients: 300, days: 5 });
  const byType = new Map<string, typeof clinic.messages>();
  for (const m of clinic.messages) byType.set(m.type, [...(byType.get(m.type) ?? []), m]);

  it('has a few hundred messages of every type to convert', () => {
    expect(clinic.messages.length).toBeGreaterThan(300);
    expect(byType.size).toBe(8);
  });

  it.each([...byType.keys()].sort())(
    '%s: every message converts to a valid transaction without warnings',
    (type) => {
      const messages = byType.get(type) ?? [];
      const failures: string[] = [];
      for (const m of messages) {
        const t = library.transformers.get(TRANSFORMER[m.channel]);
        if (!t) throw new Error(`no transformer ${TRANSFORMER[m.channel]}`);
        const warnings: MappingWarning[] = [];
        const bundle = t.run(Hl7Message.parse(m.text), { now: TEST_NOW, warnings }) as {
          type: string;
          entry: Entry[];
        };
        for (const w of warnings) failures.push(`${m.controlId}: warning ${JSON.stringify(w)}`);
        if (bundle.type !== 'transaction') failures.push(`${m.controlId}: not a transaction`);
        for (const e of validateFhir(bundle).filter((i) => i.severity === 'error')) {
          failures.push(`${m.controlId}: ${e.location ?? ''}: ${e.message}`);
        }
      }
      expect(failures.slice(0, 20)).toEqual([]);
    },
  );

  it('keeps what a user looks for: patient identity, appointment status, coded results, charges', () => {
    const run = (m: (typeof clinic.messages)[number]) =>
      (
        library.transformers
          .get(TRANSFORMER[m.channel])!
          .run(Hl7Message.parse(m.text), { now: TEST_NOW }) as {
          entry: Entry[];
        }
      ).entry.map((e) => e.resource);
    const a04 = clinic.messages.find((m) => m.type === 'ADT^A04')!;
    const patient = run(a04).find((r) => r.resourceType === 'Patient') as unknown as {
      identifier: Array<{ value: string; system?: string }>;
      birthDate: string;
      gender: string;
      address: Array<{ postalCode: string }>;
    };
    const p = clinic.patients.find((x) => x.mrn === a04.patient)!;
    expect(patient.identifier.map((i) => i.value)).toContain(p.mrn);
    expect(patient.birthDate.replace(/-/g, '')).toBe(p.birthDate);
    expect(patient.gender).toBe(p.sex === 'F' ? 'female' : 'male');
    expect(patient.address[0]?.postalCode).toBe(p.zip);

    const statusOf = (type: string) =>
      (
        run(byType.get(type)![0]!).find((r) => r.resourceType === 'Appointment') as unknown as {
          status: string;
        }
      ).status;
    expect(statusOf('SIU^S12')).toBe('booked');
    expect(statusOf('SIU^S15')).toBe('cancelled');
    expect(statusOf('SIU^S26')).toBe('noshow');

    const oru = run(byType.get('ORU^R01')![0]!);
    const observations = oru.filter((r) => r.resourceType === 'Observation') as unknown as Array<{
      code: { coding: Array<{ system: string }> };
      valueQuantity: { system: string; code: string };
    }>;
    expect(observations.length).toBeGreaterThan(0);
    for (const o of observations) {
      expect(o.code.coding[0]?.system).toBe('http://loinc.org');
      expect(o.valueQuantity.system).toBe('http://unitsofmeasure.org');
    }
    const charge = run(byType.get('DFT^P03')![0]!).find(
      (r) => r.resourceType === 'ChargeItem',
    ) as unknown as {
      code: { coding: Array<{ system: string; code: string }> };
    };
    expect(charge.code.coding[0]?.system).toBe('http://www.ama-assn.org/go/cpt');
  });
});
