import type { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';

/** The HL7 v2 a FHIR transformer builds names its sender and receiver from the settings. */
const PATIENT = { resourceType: 'Patient', name: [{ family: 'Doe', given: ['Jane'] }], gender: 'female' };
const REPORT = {
  resourceType: 'Bundle',
  type: 'collection',
  entry: [
    {
      resource: {
        resourceType: 'DiagnosticReport',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '24323-8' }] },
      },
    },
  ],
};

const header = (msg: unknown) => {
  const m = msg as Hl7Message;
  return [m.get('MSH-3'), m.get('MSH-4'), m.get('MSH-5'), m.get('MSH-6')];
};

describe('reverse maps fill MSH-3 to MSH-6 from the settings', () => {
  it('uses SINEW_HL7_* from the environment the library loads with', () => {
    const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS], undefined, {
      SINEW_HL7_SENDING_APPLICATION: 'SINEW_EHR',
      SINEW_HL7_SENDING_FACILITY: 'GOOD_CLINIC',
      SINEW_HL7_RECEIVING_APPLICATION: 'PMS',
      SINEW_HL7_RECEIVING_FACILITY: 'GOOD CLINIC FRONT DESK',
    });
    const expected = ['SINEW_EHR', 'GOOD_CLINIC', 'PMS', 'GOOD CLINIC FRONT DESK'];
    expect(header(library.get('patient-to-adt').run(PATIENT))).toEqual(expected);
    expect(header(library.get('patient-to-adt').run(PATIENT, { params: { event: 'A28' } }))).toEqual(
      expected,
    );
    expect(header(library.get('diagnosticreport-to-oru').run(REPORT))).toEqual(expected);
  });

  it('without settings: sending application SINEW, the others not sent', () => {
    const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS], undefined, {});
    const msg = library.get('patient-to-adt').run(PATIENT) as Hl7Message;
    expect(header(msg)).toEqual(['SINEW', '', '', '']);
    expect(msg.toString().split('\r')[0]).toMatch(/^MSH\|\^~\\&\|SINEW\|\|\|\|\d{14}/);
  });

  it('a value with HL7 delimiters is escaped, not split', () => {
    const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS], undefined, {
      SINEW_HL7_SENDING_FACILITY: 'A^B',
    });
    const msg = library.get('patient-to-adt').run(PATIENT) as Hl7Message;
    expect(msg.getRaw('MSH-4')).toBe('A\\S\\B');
    expect(msg.get('MSH-4')).toBe('A^B');
  });
});
