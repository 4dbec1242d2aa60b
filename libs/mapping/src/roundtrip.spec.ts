import { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary, type TransactionBundle } from '@sinew/mapping';

describe('round trip FHIR → HL7 v2 → FHIR keeps the key values', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);

  it('Patient → ADT^A31 → Patient', () => {
    const patient = {
      resourceType: 'Patient',
      identifier: [
        { system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN-77' },
        { system: 'urn:sinew:id:USSSA', value: '999-00-0077' },
      ],
      name: [{ family: 'Nguyen', given: ['Lan', 'Thi'], use: 'official' }],
      gender: 'female',
      birthDate: '1984-02-29',
    };
    const adt = library.get('patient-to-adt').run(patient) as Hl7Message;
    // Through the wire format: serialize and parse again.
    const again = Hl7Message.parse(adt.toBuffer());
    const bundle = library.get('adt-to-fhir').run(again) as TransactionBundle;
    const back = bundle.entry.find((e) => e.resource.resourceType === 'Patient')?.resource as Record<
      string,
      unknown
    >;
    const ids = back.identifier as Array<{ system?: string; value?: string }>;
    expect(ids.map((i) => [i.system, i.value])).toEqual([
      ['urn:oid:2.16.840.1.113883.19.5', 'MRN-77'],
      ['urn:sinew:id:USSSA', '999-00-0077'],
    ]);
    expect(back.name).toEqual([{ family: 'Nguyen', given: ['Lan', 'Thi'], use: 'official' }]);
    expect(back.gender).toBe('female');
    expect(back.birthDate).toBe('1984-02-29');
  });
});
