import { Hl7Message } from '@sinew/hl7v2';
import { adtMessage, dftMessage, hl7Instant, hl7Utc, siuMessage } from './pms-hl7';
import type { Appointment, Charge, Patient } from './pms-records';

const patient: Patient = {
  id: 7,
  mrn: 'MRN-7',
  family: 'Núñez~Smith',
  given: 'Ana\\Maria',
  birth_date: '1975-11-30',
  sex: 'O',
  updated_at: '2026-12-07T10:00:00.000Z',
};
const header = { controlId: 'PMSX000001', now: new Date('2026-12-07T23:59:58.123Z') };

describe('the PMS stand-in messages', () => {
  it('writes times as HL7 DTM: UTC for its own clock, the entered offset for appointments', () => {
    expect(hl7Utc(header.now)).toBe('20261207235958+0000');
    expect(hl7Instant('2026-12-08T09:30:00-05:00')).toBe('20261208093000-0500');
    expect(hl7Instant('2026-12-31T23:45+05:30', 30)).toBe('20270101001500+0530');
    expect(hl7Instant('2026-03-01T00:10:00.250Z', -20)).toBe('20260228235000+0000');
    expect(() => hl7Instant('2026-12-08 09:30')).toThrow(RangeError);
  });

  it('escapes every value, so that the receiver reads it back unchanged', () => {
    const message = Hl7Message.parse(adtMessage('A08', patient, header));
    expect(message.get('MSH-9')).toBe('ADT^A08^ADT_A01');
    expect(message.get('MSH-10')).toBe('PMSX000001');
    expect(message.get('PID-5.1')).toBe('Núñez~Smith');
    expect(message.get('PID-5.2')).toBe('Ana\\Maria');
    expect(message.get('PID-7')).toBe('19751130');
    expect(message.get('PID-8')).toBe('O');
    expect(message.get('EVN-1')).toBe('A08');
    expect(message.get('PV1-2')).toBe('');
  });

  it('writes an appointment without practitioner or location without AIP and AIL', () => {
    const a: Appointment = {
      id: 1,
      appointment_id: 'APT-1',
      mrn: 'MRN-7',
      start: '2026-12-08T09:30:00Z',
      duration_min: 20,
      status: 'noshow',
      practitioner: null,
      location: null,
      updated_at: '',
    };
    const text = siuMessage('S14', a, patient, header);
    const message = Hl7Message.parse(text);
    expect(message.get('SCH-25')).toBe('Noshow');
    expect(message.get('SCH-11.4')).toBe('20261208093000+0000');
    expect(message.get('SCH-11.5')).toBe('20261208095000+0000');
    expect(text.split('\r').map((s) => s.slice(0, 3))).toEqual(['MSH', 'SCH', 'TQ1', 'PID', 'RGS', 'AIS']);
    expect(Hl7Message.parse(siuMessage('S15', a, patient, header)).get('SCH-25')).toBe('Cancelled');
  });

  it('writes amounts with cents and a cancelled charge as its reversal', () => {
    const c: Charge = {
      id: 3,
      charge_number: 'CHG-3',
      mrn: 'MRN-7',
      code: '80053',
      description: null,
      amount: 48.5,
      currency: 'EUR',
      status: 'billed',
      service_date: '2026-12-06',
      updated_at: '',
    };
    const billed = Hl7Message.parse(dftMessage(c, patient, header));
    expect(billed.get('FT1-7')).toBe('80053^^C4');
    expect(billed.get('FT1-11.1.1')).toBe('48.50');
    expect(billed.get('FT1-11.1.2')).toBe('EUR');
    const reversal = Hl7Message.parse(dftMessage({ ...c, status: 'cancelled' }, patient, header));
    expect([reversal.get('FT1-6'), reversal.get('FT1-11.1.1')]).toEqual(['CD', '-48.50']);
  });
});
