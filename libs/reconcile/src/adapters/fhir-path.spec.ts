import { evaluateSimplePath, parseSimplePath, SimplePathError } from './fhir-path';

const patient = {
  resourceType: 'Patient',
  identifier: [
    { system: 'urn:oid:9.9', value: 'OTHER-1' },
    { system: 'urn:oid:1.2.3', value: 'MRN-42' },
  ],
  name: [
    { family: 'Doe', given: ['Jane', 'Q'] },
    { family: 'Smith', given: ['Janet'] },
  ],
  birthDate: '1980-02-03',
  active: true,
  multipleBirthInteger: 2,
};

const evaluate = (path: string, resource: unknown = patient) =>
  evaluateSimplePath(parseSimplePath(path), resource);

describe('simple FHIR paths', () => {
  it('reads a top-level element', () => {
    expect(evaluate('birthDate')).toBe('1980-02-03');
    expect(evaluate('active')).toBe(true);
    expect(evaluate('multipleBirthInteger')).toBe(2);
  });

  it('takes the first value of repeating elements', () => {
    expect(evaluate('name.family')).toBe('Doe');
    expect(evaluate('name.given')).toBe('Jane');
    expect(evaluate('identifier.value')).toBe('OTHER-1');
  });

  it('indexes with [n]', () => {
    expect(evaluate('name[1].family')).toBe('Smith');
    expect(evaluate('name[0].given[1]')).toBe('Q');
    expect(evaluate('name[5].family')).toBeNull();
  });

  it("filters with .where(system='…')", () => {
    expect(evaluate("identifier.where(system='urn:oid:1.2.3').value")).toBe('MRN-42');
    expect(evaluate("identifier.where(system='urn:oid:0.0').value")).toBeNull();
  });

  it('gives null for missing elements and for objects', () => {
    expect(evaluate('gender')).toBeNull();
    expect(evaluate('name')).toBeNull();
    expect(evaluate('name.family', { resourceType: 'Patient' })).toBeNull();
  });

  it('names the first element for _elements', () => {
    expect(parseSimplePath("identifier.where(system='x').value").first).toBe('identifier');
    expect(parseSimplePath('name[0].family').first).toBe('name');
  });

  it('refuses what it does not understand', () => {
    expect(() => parseSimplePath('')).toThrow(SimplePathError);
    expect(() => parseSimplePath('name.')).toThrow('ends with a dot');
    expect(() => parseSimplePath('name.family.exists()')).toThrow(SimplePathError);
    expect(() => parseSimplePath("where(system='x')")).toThrow(SimplePathError);
    expect(() => parseSimplePath('name[x]')).toThrow(SimplePathError);
  });
});
