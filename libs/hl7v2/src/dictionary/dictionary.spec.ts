import {
  componentDefinition,
  describePosition,
  DICTIONARY_VERSION,
  fieldDefinition,
  segmentDescription,
  typeDescription,
} from './dictionary';

describe('HL7 v2 dictionary', () => {
  it('holds v2.5.1 names', () => {
    expect(DICTIONARY_VERSION).toBe('2.5.1');
  });

  it.each([
    'MSH',
    'EVN',
    'PID',
    'PD1',
    'NK1',
    'PV1',
    'PV2',
    'OBR',
    'OBX',
    'ORC',
    'NTE',
    'AL1',
    'DG1',
    'IN1',
    'GT1',
    'MSA',
    'ERR',
    'SCH',
    'AIL',
    'AIP',
    'AIG',
    'RGS',
    'FT1',
    'TXA',
    'RXA',
    'SPM',
    'FHS',
    'BHS',
    'BTS',
    'FTS',
    'QAK',
    'QPD',
    'RCP',
    'MRG',
    'SFT',
    'TQ1',
  ])('knows the commonly seen segment %s', (seg) => {
    expect(segmentDescription(seg)).toEqual(expect.any(String));
    expect(fieldDefinition(seg, 1)).toEqual({ name: expect.any(String), type: expect.any(String) });
  });

  it('names segments, fields and their data types', () => {
    expect(segmentDescription('PID')).toBe('Patient Identification');
    expect(fieldDefinition('PID', 5)).toEqual({ name: 'Patient Name', type: 'XPN' });
    expect(fieldDefinition('PID', 3)).toEqual({ name: 'Patient Identifier List', type: 'CX' });
    expect(fieldDefinition('PID', 6)).toEqual({ name: "Mother's Maiden Name", type: 'XPN' });
    expect(fieldDefinition('MSH', 1)).toEqual({ name: 'Field Separator', type: 'ST' });
    expect(fieldDefinition('MSH', 9)).toEqual({ name: 'Message Type', type: 'MSG' });
    expect(fieldDefinition('MSH', 10)).toEqual({ name: 'Message Control ID', type: 'ST' });
    expect(fieldDefinition('OBX', 5)).toEqual({ name: 'Observation Value', type: 'VARIES' });
    expect(fieldDefinition('NK1', 2)).toEqual({ name: 'NK Name', type: 'XPN' });
    expect(fieldDefinition('PV1', 3)).toEqual({ name: 'Assigned Patient Location', type: 'PL' });
    expect(fieldDefinition('BTS', 1)).toEqual({ name: 'Batch Message Count', type: 'ST' });
  });

  it('names the components of composite data types', () => {
    expect(typeDescription('XPN')).toBe('Extended Person Name');
    expect(componentDefinition('XPN', 1)).toEqual({ name: 'Family Name', type: 'FN' });
    expect(componentDefinition('XPN', 2)).toEqual({ name: 'Given Name', type: 'ST' });
    expect(componentDefinition('MSG', 2)).toEqual({ name: 'Trigger Event', type: 'ID' });
    expect(componentDefinition('CX', 4)).toEqual({ name: 'Assigning Authority', type: 'HD' });
    expect(componentDefinition('HD', 1)).toEqual({ name: 'Namespace ID', type: 'IS' });
  });

  it('tidies the names its source writes with _ and *', () => {
    expect(fieldDefinition('SPM', 1)?.name).toBe('Set ID - SPM');
    expect(fieldDefinition('OBR', 5)?.name).toBe('Priority - OBR');
  });

  it('knows nothing of Z segments, fields past the end, primitive types', () => {
    expect(segmentDescription('ZPI')).toBeUndefined();
    expect(fieldDefinition('ZPI', 1)).toBeUndefined();
    expect(fieldDefinition('PID', 99)).toBeUndefined();
    expect(fieldDefinition('PID', 0)).toBeUndefined();
    expect(componentDefinition('ST', 1)).toBeUndefined();
    expect(componentDefinition('XPN', 99)).toBeUndefined();
    expect(typeDescription('NM')).toBeUndefined();
  });

  it('describes a position down to the subcomponent', () => {
    expect(describePosition('PID', 5, 1, 1)).toEqual({
      field: { name: 'Patient Name', type: 'XPN' },
      component: { name: 'Family Name', type: 'FN' },
      subcomponent: { name: 'Surname', type: 'ST' },
    });
    expect(describePosition('PID', 3, 4, 2).subcomponent).toEqual({ name: 'Universal ID', type: 'ST' });
    expect(describePosition('PID', 7)).toEqual({ field: { name: 'Date/Time of Birth', type: 'TS' } });
  });

  it('takes the field type given for VARIES fields (OBX-5 from OBX-2)', () => {
    expect(describePosition('OBX', 5, 2).component).toBeUndefined();
    expect(describePosition('OBX', 5, 2, undefined, 'CE').component).toEqual({ name: 'Text', type: 'ST' });
  });

  it('gives no names for an unknown segment at any depth', () => {
    expect(describePosition('ZPI', 1, 1, 1)).toEqual({});
  });
});
