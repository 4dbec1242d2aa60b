import { requiredBindingCoverage } from './fhir-bindings';
import { fhirLoadTimes } from './fhir-definitions';
import { expandValueSet, inExpansion } from './fhir-terminology';
import { validateFhir } from './fhir';

const patient = () => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:1.2.3', value: '123' }],
  name: [{ use: 'official', family: 'Doe', given: ['Jane'] }],
  telecom: [{ system: 'phone', value: '555-0100', use: 'home' }],
  gender: 'female',
  birthDate: '1980-02-29',
  address: [{ use: 'home', line: ['1 Main St'], city: 'Springfield', postalCode: '12345' }],
  contact: [{ relationship: [{ text: 'mother' }], name: { family: 'Doe' }, gender: 'female' }],
});

const observation = () => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin' }] },
  subject: { reference: 'Patient/1' },
  effectiveDateTime: '2024-01-10T12:00:00Z',
  valueQuantity: { value: 13.2, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
});

const condition = () => ({
  resourceType: 'Condition',
  clinicalStatus: {
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
  },
  code: { text: 'Asthma' },
  subject: { reference: 'Patient/1' },
});

/** A transaction creating a patient, an encounter and an observation that refer to each other. */
const transaction = () => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      fullUrl: 'urn:uuid:6b0c1f0e-1c57-4d43-9f0e-3a5c7c6f0a01',
      resource: patient(),
      request: { method: 'POST', url: 'Patient' },
    },
    {
      fullUrl: 'urn:uuid:6b0c1f0e-1c57-4d43-9f0e-3a5c7c6f0a02',
      resource: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: 'urn:uuid:6b0c1f0e-1c57-4d43-9f0e-3a5c7c6f0a01' },
      },
      request: { method: 'POST', url: 'Encounter' },
    },
    {
      fullUrl: 'urn:uuid:6b0c1f0e-1c57-4d43-9f0e-3a5c7c6f0a03',
      resource: {
        ...observation(),
        subject: { reference: 'urn:uuid:6b0c1f0e-1c57-4d43-9f0e-3a5c7c6f0a01' },
        encounter: { reference: 'urn:uuid:6b0c1f0e-1c57-4d43-9f0e-3a5c7c6f0a02' },
      },
      request: { method: 'PUT', url: 'Observation?identifier=urn:oid:1.2.3|obs-1' },
    },
  ],
});

describe('validateFhir: valid input', () => {
  it.each([
    ['a Patient', patient()],
    ['an Observation', observation()],
    ['a Condition', condition()],
    [
      'an AllergyIntolerance',
      {
        resourceType: 'AllergyIntolerance',
        clinicalStatus: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' },
          ],
        },
        patient: { reference: 'Patient/1' },
      },
    ],
    ['a transaction Bundle', transaction()],
  ])('%s passes', (_name, resource) => {
    expect(validateFhir(resource)).toEqual([]);
  });
});

describe('validateFhir: required bindings', () => {
  it('gender "dude" is not administrative gender', () => {
    expect(validateFhir({ ...patient(), gender: 'dude' })).toEqual([
      {
        severity: 'error',
        code: 'fhir.binding',
        location: 'Patient.gender',
        message:
          'Patient.gender: the code is not in the value set http://hl7.org/fhir/ValueSet/administrative-gender (required binding)',
      },
    ]);
  });

  it('codes inside data types and backbone elements, by their concrete location', () => {
    const p = patient();
    p.name[0] = { ...(p.name[0] as (typeof p.name)[0]), use: 'nickname-ish' };
    p.contact[0] = { ...(p.contact[0] as (typeof p.contact)[0]), gender: 'F' };
    p.telecom[0] = { ...(p.telecom[0] as (typeof p.telecom)[0]), system: 'pager-ish' };
    expect(validateFhir(p).map((i) => `${i.code} ${i.location}`)).toEqual([
      'fhir.binding Patient.name[0].use',
      'fhir.binding Patient.telecom[0].system',
      'fhir.binding Patient.contact[0].gender',
    ]);
  });

  it('CodeableConcept: a coding of the bound system must be in the value set', () => {
    const bad = condition();
    bad.clinicalStatus.coding[0] = {
      ...(bad.clinicalStatus.coding[0] as { system: string; code: string }),
      code: 'dormant',
    };
    expect(validateFhir(bad).map((i) => `${i.code} ${i.location}`)).toEqual([
      'fhir.binding Condition.clinicalStatus',
    ]);
    // Another system's coding beside a valid one is fine; codings of other systems alone are not judged.
    const mixed = condition();
    mixed.clinicalStatus.coding.push({ system: 'http://snomed.info/sct', code: '55561003' });
    expect(validateFhir(mixed)).toEqual([]);
    const foreign = {
      ...condition(),
      clinicalStatus: { coding: [{ system: 'http://snomed.info/sct', code: '55561003' }] },
    };
    expect(validateFhir(foreign)).toEqual([]);
  });

  it('inside a Bundle the location starts at the entry', () => {
    const b = transaction();
    (b.entry[0] as { resource: { gender: string } }).resource.gender = 'dude';
    expect(validateFhir(b).map((i) => `${i.code} ${i.location}`)).toEqual([
      'fhir.binding Bundle.entry[0].resource.gender',
    ]);
  });

  it('Bundle.type and request.method are bound too', () => {
    const b = { ...transaction(), type: 'pile' };
    expect(validateFhir(b).map((i) => `${i.code} ${i.location}`)).toContain('fhir.binding Bundle.type');
  });
});

describe('validateFhir: references in Bundles', () => {
  it('a urn:uuid that names no entry', () => {
    const b = transaction();
    (b.entry[1] as { resource: { subject: { reference: string } } }).resource.subject.reference =
      'urn:uuid:00000000-0000-4000-8000-000000000000';
    expect(validateFhir(b)).toEqual([
      {
        severity: 'error',
        code: 'fhir.reference',
        location: 'Bundle.entry[1].resource.subject.reference',
        message:
          "Bundle.entry[1].resource.subject.reference names a urn:uuid that is no entry's fullUrl in this Bundle",
      },
    ]);
  });

  it('a urn:uuid naming an entry of a type the element does not allow', () => {
    const b = transaction();
    (b.entry[1] as { resource: { subject: { reference: string } } }).resource.subject.reference =
      'urn:uuid:6b0c1f0e-1c57-4d43-9f0e-3a5c7c6f0a03';
    expect(validateFhir(b)).toEqual([
      {
        severity: 'error',
        code: 'fhir.reference',
        location: 'Bundle.entry[1].resource.subject.reference',
        message:
          'Bundle.entry[1].resource.subject.reference points at an entry of type Observation; allowed: Patient, Group',
      },
    ]);
  });

  it('batch Bundles are checked the same way; references in extensions too', () => {
    const b = { ...transaction(), type: 'batch' };
    const obs = (b.entry[2] as { resource: Record<string, unknown> }).resource;
    obs.extension = [{ url: 'http://example.org/x', valueReference: { reference: 'urn:uuid:missing' } }];
    expect(validateFhir(b).map((i) => `${i.code} ${i.location}`)).toEqual([
      'fhir.reference Bundle.entry[2].resource.extension[0].valueReference.reference',
    ]);
  });
});

describe('validateFhir: structure', () => {
  it('a missing required element, with its location', () => {
    const { status: _status, ...obs } = observation();
    expect(validateFhir(obs)).toEqual([
      {
        severity: 'error',
        code: 'fhir.required',
        location: 'Observation.status',
        message: 'Observation.status: Missing required property',
      },
    ]);
    const b = transaction();
    delete (b.entry[2] as { resource: { status?: string } }).resource.status;
    expect(validateFhir(b).map((i) => `${i.severity} ${i.code} ${i.location}`)).toEqual([
      'error fhir.required Bundle.entry[2].resource.status',
    ]);
  });

  it('wrong types name the property a choice element uses', () => {
    const obs = { ...observation(), valueQuantity: { value: '13.2' } };
    expect(validateFhir(obs).map((i) => `${i.code} ${i.location}`)).toEqual([
      'fhir.structure Observation.valueQuantity.value',
    ]);
    expect(validateFhir({ ...patient(), birthDate: '1980-02-30x' }).map((i) => i.location)).toEqual([
      'Patient.birthDate',
    ]);
    expect(validateFhir({ ...patient(), nickname: 'JD' }).map((i) => `${i.code} ${i.location}`)).toEqual([
      'fhir.structure Patient.nickname',
    ]);
  });

  it('invariants', () => {
    const p = { ...patient(), contact: [{ gender: 'female' }] };
    expect(validateFhir(p).map((i) => `${i.code} ${i.location}`)).toEqual([
      'fhir.invariant Patient.contact[0]',
    ]);
  });

  it('input that is no resource', () => {
    for (const input of [null, undefined, 5, 'Patient', [], {}, { resourceType: 7 }]) {
      expect(validateFhir(input)).toEqual([
        expect.objectContaining({ severity: 'error', code: 'fhir.invalid', location: 'Resource' }),
      ]);
    }
    expect(validateFhir({ resourceType: 'Nope' })).toEqual([
      expect.objectContaining({ severity: 'error', code: 'fhir.invalid', location: 'Nope' }),
    ]);
  });

  it('messages hold locations and codes, not values', () => {
    const b = transaction();
    const obs = (b.entry[2] as { resource: Record<string, unknown> }).resource;
    obs.subject = { reference: 'urn:uuid:SECRET-ID' };
    obs.performer = [{ reference: 'Medication/SECRET-MED' }];
    obs.status = 'SECRET-STATUS';
    const issues = validateFhir(b);
    expect(issues.map((i) => `${i.severity} ${i.code} ${i.location}`)).toEqual([
      'warning fhir.structure Bundle.entry[2].resource.performer[0]',
      'error fhir.reference Bundle.entry[2].resource.subject.reference',
      'error fhir.binding Bundle.entry[2].resource.status',
    ]);
    for (const i of issues) expect(i.message).not.toMatch(/SECRET/);
  });
});

describe('FHIR definitions', () => {
  it('load once and record how long that took', () => {
    validateFhir(patient());
    const times = fhirLoadTimes();
    expect(times.structureDefinitionsMs).toBeGreaterThan(0);
    expect(times.terminologyMs).toBeGreaterThan(0);
  });

  it('expand value sets from the package: whole systems, concept lists, is-a filters', () => {
    const gender = expandValueSet('http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1');
    expect([...(gender?.codes.get('http://hl7.org/fhir/administrative-gender') ?? [])].sort()).toEqual([
      'female',
      'male',
      'other',
      'unknown',
    ]);
    const v2sex = expandValueSet('http://terminology.hl7.org/ValueSet/v2-0001');
    expect(v2sex && inExpansion(v2sex, 'F', 'http://terminology.hl7.org/CodeSystem/v2-0001')).toBe(true);
    const siblings = expandValueSet('http://hl7.org/fhir/ValueSet/sibling-relationship-codes');
    expect(siblings && inExpansion(siblings, 'BRO')).toBe(true);
    expect(siblings && inExpansion(siblings, 'MTH')).toBe(false);
    expect(expandValueSet('http://hl7.org/fhir/ValueSet/mimetypes')).toBeUndefined();
    expect(expandValueSet('http://example.org/none')).toBeUndefined();
  });

  it('count the required bindings they can check', () => {
    const c = requiredBindingCoverage();
    expect(c.elements).toBeGreaterThan(300);
    expect(c.checked).toBeGreaterThan(0.9 * c.elements);
    expect(c.skipped).toEqual(expect.arrayContaining(['http://hl7.org/fhir/ValueSet/mimetypes']));
    expect(c.skipped.length).toBeLessThan(20);
  });
});
