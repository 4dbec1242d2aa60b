import { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary, type TransactionBundle } from '@sinew/mapping';
import { validateStructure } from '@sinew/validation';

type Resource = Record<string, unknown>;

describe('round trip FHIR → HL7 v2 → FHIR keeps the key values', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);

  /** Runs a reverse map, sends the message through the wire format, and maps it back. */
  function roundTrip(
    reverse: string,
    forward: string,
    input: unknown,
  ): { msg: Hl7Message; back: Resource[]; bundle: TransactionBundle } {
    const built = library.get(reverse).run(input) as Hl7Message;
    const msg = Hl7Message.parse(built.toBuffer());
    const bundle = library.get(forward).run(msg) as TransactionBundle;
    return { msg, back: bundle.entry.map((e) => e.resource), bundle };
  }

  const ofType = (resources: Resource[], type: string) => resources.filter((r) => r.resourceType === type);
  const one = (resources: Resource[], type: string): Resource => {
    const found = ofType(resources, type);
    expect(found.map((r) => r.resourceType)).toEqual([type]);
    return found[0] as Resource;
  };
  const codings = (cc: unknown) =>
    ((cc as { coding?: Array<{ system?: string; code?: string }> } | undefined)?.coding ?? []).map((c) => [
      c.system,
      c.code,
    ]);
  const identifiers = (r: Resource) =>
    ((r.identifier as Array<{ system?: string; value?: string }> | undefined) ?? []).map((i) => [
      i.system,
      i.value,
    ]);

  /** The message fits its structure: segments in order, none missing (required fields aside). */
  function expectValidStructure(msg: Hl7Message): void {
    const issues = validateStructure(msg, { requiredFields: false }).filter((i) => i.severity === 'error');
    expect(issues).toEqual([]);
  }

  const patient = {
    resourceType: 'Patient',
    identifier: [
      {
        system: 'urn:oid:2.16.840.1.113883.19.5',
        value: 'MRN-77',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      },
    ],
    name: [{ family: 'Nguyen', given: ['Lan', 'Thi'], use: 'official' }],
    gender: 'female',
    birthDate: '1984-02-29',
  };

  function expectSamePatient(back: Resource[]): void {
    const p = one(back, 'Patient');
    expect(identifiers(p)).toEqual([['urn:oid:2.16.840.1.113883.19.5', 'MRN-77']]);
    expect(p.name).toEqual([{ family: 'Nguyen', given: ['Lan', 'Thi'], use: 'official' }]);
    expect(p.gender).toBe('female');
    expect(p.birthDate).toBe('1984-02-29');
  }

  it('Patient → ADT^A31 → Patient', () => {
    const { back } = roundTrip('patient-to-adt', 'adt-to-fhir', {
      ...patient,
      identifier: [
        { system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN-77' },
        { system: 'urn:sinew:id:USSSA', value: '999-00-0077' },
      ],
    });
    const p = ofType(back, 'Patient')[0] as Resource;
    expect(identifiers(p)).toEqual([
      ['urn:oid:2.16.840.1.113883.19.5', 'MRN-77'],
      ['urn:sinew:id:USSSA', '999-00-0077'],
    ]);
    expect(p.name).toEqual([{ family: 'Nguyen', given: ['Lan', 'Thi'], use: 'official' }]);
    expect(p.gender).toBe('female');
    expect(p.birthDate).toBe('1984-02-29');
  });

  describe('Appointment → SIU → Appointment', () => {
    const appointment = (status: string) => ({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:7d1c0a52-58f4-4f0e-9d43-0c2b6a1e9f01', resource: patient },
        {
          fullUrl: 'urn:uuid:7d1c0a52-58f4-4f0e-9d43-0c2b6a1e9f02',
          resource: {
            resourceType: 'Appointment',
            identifier: [
              { system: 'urn:sinew:id:PMS', value: 'APT-0042', type: { coding: [{ code: 'PLAC' }] } },
              {
                system: 'urn:oid:2.16.840.1.113883.19.7',
                value: 'SLOT-9',
                type: { coding: [{ code: 'FILL' }] },
              },
            ],
            status,
            serviceType: [
              {
                coding: [
                  { system: 'http://snomed.info/sct', code: '394814009', display: 'General practice' },
                ],
              },
            ],
            reasonCode: [
              {
                coding: [
                  { system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertensive disorder' },
                ],
              },
            ],
            start: '2026-04-01T09:30:00+02:00',
            end: '2026-04-01T09:50:00+02:00',
            minutesDuration: 20,
            participant: [
              { actor: { reference: 'urn:uuid:7d1c0a52-58f4-4f0e-9d43-0c2b6a1e9f01' }, status: 'accepted' },
              {
                actor: {
                  reference: 'Practitioner/pr-1',
                  display: 'Dr Pat Practitioner',
                  identifier: { system: 'urn:oid:2.16.840.1.113883.4.6', value: '1234567890' },
                },
                status: 'accepted',
              },
              {
                actor: {
                  reference: 'Location/room-3',
                  display: 'Exam room 3',
                  identifier: { value: 'EXAM3' },
                },
                status: 'accepted',
              },
            ],
          },
        },
      ],
    });

    it('booked → SIU^S12 → booked, with identifiers, times, codes and participants', () => {
      const { msg, back, bundle } = roundTrip('appointment-to-siu-s12', 'siu-to-fhir', appointment('booked'));
      expect(msg.messageType).toBe('SIU^S12');
      expectValidStructure(msg);

      const a = one(back, 'Appointment');
      expect(identifiers(a)).toEqual([
        ['urn:sinew:id:PMS', 'APT-0042'],
        ['urn:oid:2.16.840.1.113883.19.7', 'SLOT-9'],
      ]);
      expect(a.status).toBe('booked');
      expect(a.start).toBe('2026-04-01T09:30:00+02:00');
      expect(a.end).toBe('2026-04-01T09:50:00+02:00');
      expect(a.minutesDuration).toBe(20);
      expect((a.reasonCode as unknown[]).map(codings)).toEqual([[['http://snomed.info/sct', '38341003']]]);
      expect((a.serviceType as unknown[]).map(codings)).toEqual([[['http://snomed.info/sct', '394814009']]]);

      expectSamePatient(back);
      const practitioner = one(back, 'Practitioner');
      expect(identifiers(practitioner)).toEqual([['urn:oid:2.16.840.1.113883.4.6', '1234567890']]);
      const location = one(back, 'Location');
      expect(location.description).toBe('Exam room 3');
      expect(location.name).toBe('EXAM3');

      // The participants point at the Patient, Practitioner and Location made with it.
      const urlOf = (type: string) => bundle.entry.find((e) => e.resource.resourceType === type)?.fullUrl;
      const actors = (a.participant as Array<{ actor: { reference: string } }>).map((p) => p.actor.reference);
      expect(actors.sort()).toEqual([urlOf('Patient'), urlOf('Practitioner'), urlOf('Location')].sort());
    });

    it('cancelled → SIU^S15 → cancelled', () => {
      const { msg, back } = roundTrip('appointment-to-siu-s15', 'siu-to-fhir', appointment('cancelled'));
      expect(msg.messageType).toBe('SIU^S15');
      expectValidStructure(msg);
      const a = one(back, 'Appointment');
      expect(a.status).toBe('cancelled');
      expect(identifiers(a)).toContainEqual(['urn:oid:2.16.840.1.113883.19.7', 'SLOT-9']);
    });

    it('a change → SIU^S14 → the new times and status', () => {
      const changed = appointment('checked-in');
      const appt = changed.entry[1]?.resource as Resource;
      appt.start = '2026-04-02T14:00:00+02:00';
      appt.end = '2026-04-02T14:30:00+02:00';
      const { msg, back } = roundTrip('appointment-to-siu-s14', 'siu-to-fhir', changed);
      expect(msg.messageType).toBe('SIU^S14');
      const a = one(back, 'Appointment');
      expect(a.status).toBe('checked-in');
      expect([a.start, a.end]).toEqual(['2026-04-02T14:00:00+02:00', '2026-04-02T14:30:00+02:00']);
    });
  });

  it('DiagnosticReport + Observations → ORU^R01 → the same report and results', () => {
    const loinc = (code: string, display: string) => ({
      coding: [{ system: 'http://loinc.org', code, display }],
    });
    const ucum = (value: number, code: string) => ({
      value,
      unit: code,
      system: 'http://unitsofmeasure.org',
      code,
    });
    const interpretation = (code: string) => [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code }] },
    ];
    const input = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:3f0e2b1c-9a4d-4c7e-8b2f-5d6a7e8f9a01', resource: patient },
        {
          fullUrl: 'urn:uuid:3f0e2b1c-9a4d-4c7e-8b2f-5d6a7e8f9a02',
          resource: {
            resourceType: 'DiagnosticReport',
            identifier: [
              { system: 'urn:sinew:id:EHR', value: 'ORD-5551', type: { coding: [{ code: 'PLAC' }] } },
              { system: 'urn:sinew:id:LAB', value: 'LAB-7781', type: { coding: [{ code: 'FILL' }] } },
            ],
            status: 'final',
            code: loinc('24323-8', 'Comprehensive metabolic 2000 panel - Serum or Plasma'),
            subject: { reference: 'urn:uuid:3f0e2b1c-9a4d-4c7e-8b2f-5d6a7e8f9a01' },
            effectiveDateTime: '2026-03-16T07:00:00+00:00',
            issued: '2026-03-16T10:10:00+00:00',
          },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: loinc('2345-7', 'Glucose [Mass/volume] in Serum or Plasma'),
            effectiveDateTime: '2026-03-16T07:00:00+00:00',
            valueQuantity: ucum(95, 'mg/dL'),
            referenceRange: [{ low: ucum(70, 'mg/dL'), high: ucum(99, 'mg/dL') }],
            interpretation: interpretation('N'),
          },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'corrected',
            code: loinc('2160-0', 'Creatinine [Mass/volume] in Serum or Plasma'),
            effectiveDateTime: '2026-03-16T07:00:00+00:00',
            valueQuantity: ucum(1.4, 'mg/dL'),
            referenceRange: [{ text: '0.6-1.1' }],
            interpretation: interpretation('H'),
          },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'preliminary',
            code: loinc('33914-3', 'eGFR'),
            valueQuantity: { ...ucum(60, 'mL/min/{1.73_m2}'), comparator: '>' },
          },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: loinc('5778-6', 'Color of Urine'),
            valueCodeableConcept: {
              coding: [{ system: 'http://snomed.info/sct', code: '371244009', display: 'Yellow color' }],
            },
          },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: loinc('8247-9', 'Sample appearance'),
            valueString: 'Clear, straw-coloured',
          },
        },
      ],
    };
    const { msg, back } = roundTrip('diagnosticreport-to-oru', 'oru-to-fhir', input);
    expect(msg.messageType).toBe('ORU^R01');
    expectValidStructure(msg);

    expectSamePatient(back);
    const report = one(back, 'DiagnosticReport');
    expect(identifiers(report)).toEqual([
      ['urn:sinew:id:EHR', 'ORD-5551'],
      ['urn:sinew:id:LAB', 'LAB-7781'],
    ]);
    expect(report.status).toBe('final');
    expect(codings(report.code)).toEqual([['http://loinc.org', '24323-8']]);
    expect(report.effectiveDateTime).toBe('2026-03-16T07:00:00+00:00');
    expect(report.issued).toBe('2026-03-16T10:10:00+00:00');

    const obs = ofType(back, 'Observation');
    expect(obs.map((o) => codings(o.code))).toEqual(
      ['2345-7', '2160-0', '33914-3', '5778-6', '8247-9'].map((c) => [['http://loinc.org', c]]),
    );
    expect(obs.map((o) => o.status)).toEqual(['final', 'corrected', 'preliminary', 'final', 'final']);
    expect((report.result as unknown[]).length).toBe(5);

    const [glucose, creatinine, egfr, colour, appearance] = obs as [
      Resource,
      Resource,
      Resource,
      Resource,
      Resource,
    ];
    expect(glucose.valueQuantity).toEqual(ucum(95, 'mg/dL'));
    expect(glucose.effectiveDateTime).toBe('2026-03-16T07:00:00+00:00');
    expect(glucose.referenceRange).toEqual([
      { text: '70-99', low: ucum(70, 'mg/dL'), high: ucum(99, 'mg/dL') },
    ]);
    // OBX-8 is an IS in v2.5.1: the code travels alone, and comes back with its v3 coding.
    const v3 = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
    expect(codings((glucose.interpretation as unknown[])[0])).toContainEqual([v3, 'N']);
    expect(creatinine.valueQuantity).toEqual(ucum(1.4, 'mg/dL'));
    expect((creatinine.referenceRange as Array<{ text: string }>)[0]?.text).toBe('0.6-1.1');
    expect(codings((creatinine.interpretation as unknown[])[0])).toContainEqual([v3, 'H']);
    expect(egfr.valueQuantity).toMatchObject({ value: 60, comparator: '>' });
    expect(codings(colour.valueCodeableConcept)).toEqual([['http://snomed.info/sct', '371244009']]);
    expect(appearance.valueString).toBe('Clear, straw-coloured');
  });

  it('ChargeItem → DFT^P03 → the same charge', () => {
    const input = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:8b3e6f21-4c0a-4d9b-a1e7-2f5c9d0e1b01', resource: patient },
        {
          resource: {
            resourceType: 'ChargeItem',
            identifier: [{ value: 'CHG-0001' }],
            status: 'billable',
            code: {
              coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '99213', display: 'Office visit' }],
            },
            subject: { reference: 'urn:uuid:8b3e6f21-4c0a-4d9b-a1e7-2f5c9d0e1b01' },
            occurrenceDateTime: '2026-03-16T09:30:00-05:00',
            enteredDate: '2026-03-16T11:02:00-05:00',
            quantity: { value: 2 },
            priceOverride: { value: 92.5, currency: 'USD' },
            performer: [
              {
                actor: {
                  reference: 'Practitioner/pr-1',
                  identifier: { value: '1234567890' },
                  display: 'Dr Pat',
                },
              },
            ],
          },
        },
        {
          resource: {
            resourceType: 'ChargeItem',
            identifier: [{ value: 'CHG-0002' }],
            status: 'billable',
            code: { coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose' }] },
            subject: { reference: 'urn:uuid:8b3e6f21-4c0a-4d9b-a1e7-2f5c9d0e1b01' },
            occurrencePeriod: { start: '2026-03-16T09:40:00-05:00', end: '2026-03-16T09:45:00-05:00' },
            quantity: { value: 1 },
          },
        },
      ],
    };
    const { msg, back } = roundTrip('chargeitem-to-dft', 'dft-to-fhir', input);
    expect(msg.messageType).toBe('DFT^P03');
    expectValidStructure(msg);

    expectSamePatient(back);
    const charges = ofType(back, 'ChargeItem');
    expect(charges.map((c) => [identifiers(c), codings(c.code), c.status])).toEqual([
      [[[undefined, 'CHG-0001']], [['http://www.ama-assn.org/go/cpt', '99213']], 'billable'],
      [[[undefined, 'CHG-0002']], [['http://loinc.org', '2345-7']], 'billable'],
    ]);
    const [visit, glucose] = charges as [Resource, Resource];
    expect(visit.occurrenceDateTime).toBe('2026-03-16T09:30:00-05:00');
    expect(visit.enteredDate).toBe('2026-03-16T11:02:00-05:00');
    expect(visit.quantity).toEqual({ value: 2 });
    expect(visit.priceOverride).toEqual({ value: 92.5, currency: 'USD' });
    expect(glucose.occurrencePeriod).toEqual({
      start: '2026-03-16T09:40:00-05:00',
      end: '2026-03-16T09:45:00-05:00',
    });
    expect(identifiers(one(back, 'Practitioner'))).toEqual([[undefined, '1234567890']]);
  });
});
