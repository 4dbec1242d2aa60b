import { ADAPTER_TYPES, adapterFor, createSideReader } from './registry';
import { SqlSideReader } from './sql';

describe('adapter registry', () => {
  it('has an adapter for each reading system type, none for the ledger', () => {
    for (const type of ADAPTER_TYPES) expect(adapterFor(type)?.type).toBe(type);
    expect(adapterFor('ledger')).toBeUndefined();
  });

  it('validates the settings before making a reader', () => {
    expect(
      createSideReader({ type: 'sql', url: 'sqlite:pms.db' }, { system: 'pms_db', query: 'SELECT 1' }),
    ).toBeInstanceOf(SqlSideReader);
    expect(() =>
      createSideReader({ type: 'fhir', base_url: 'http://ehr/fhir' }, { resource: 'Patient' }),
    ).toThrow();
    expect(() =>
      createSideReader(
        { type: 'fhir', base_url: 'http://ehr/fhir' },
        { resource: 'Patient', key: 'id', colour: 'x' },
      ),
    ).toThrow(/colour/);
    expect(() => createSideReader({ type: 'ftp' }, {})).toThrow('no adapter reads systems of type "ftp"');
  });

  it('names bad paths in settings', () => {
    expect(() =>
      createSideReader(
        { type: 'fhir', base_url: 'http://ehr/fhir' },
        { resource: 'Patient', key: 'identifier..value' },
      ),
    ).toThrow(/identifier\.\.value/);
  });
});
