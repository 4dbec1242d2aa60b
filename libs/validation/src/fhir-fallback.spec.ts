import { validateFhir } from './fhir';

/**
 * When the structure validator fails outright on a Bundle (a bug of its own, not an issue),
 * the entries are checked one by one, so one bad entry does not hide the others' issues.
 */
jest.mock('@medplum/core', () => {
  const actual = jest.requireActual('@medplum/core');
  return {
    ...actual,
    validateResource: (resource: {
      resourceType?: string;
      entry?: Array<{ resource?: { id?: string } }>;
    }) => {
      const poisoned = (r: { id?: string } | undefined) => r?.id === 'poison';
      if (poisoned(resource as { id?: string }) || resource.entry?.some((e) => poisoned(e?.resource))) {
        throw new TypeError('validator bug');
      }
      return actual.validateResource(resource);
    },
  };
});

describe('validateFhir when the structure validator fails', () => {
  it('checks the entries one by one, with Bundle locations', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:a', resource: { resourceType: 'Patient', id: 'poison' } },
        { fullUrl: 'urn:uuid:b', resource: { resourceType: 'Observation', code: { text: 'x' } } },
        { fullUrl: 'urn:uuid:c', resource: { resourceType: 'Patient', gender: 'dude' } },
      ],
    };
    expect(validateFhir(bundle).map((i) => `${i.code} ${i.location} | ${i.message}`)).toEqual([
      'fhir.invalid Bundle.entry[0].resource | Bundle.entry[0].resource could not be read as a FHIR resource',
      'fhir.required Bundle.entry[1].resource.status | Bundle.entry[1].resource.status: Missing required property',
      'fhir.binding Bundle.entry[2].resource.gender | Bundle.entry[2].resource.gender: the code is not in the value set http://hl7.org/fhir/ValueSet/administrative-gender (required binding)',
    ]);
  });

  it('a single resource gives one fhir.invalid issue', () => {
    expect(validateFhir({ resourceType: 'Patient', id: 'poison' })).toEqual([
      {
        severity: 'error',
        code: 'fhir.invalid',
        location: 'Patient',
        message: 'Patient could not be read as a FHIR resource',
      },
    ]);
  });
});
