import { appointmentInput, chargeInput, FieldError, isInstant, patientInput } from './pms-records';

function refusal(fn: () => unknown): { field: string; message: string } | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof FieldError) return { field: err.field, message: err.message };
    throw err;
  }
}

describe('the PMS stand-in records', () => {
  it('takes a partial update of the fields given only, trimmed', () => {
    expect(patientInput({ given: ' Jo ' }, true)).toEqual({ given: 'Jo' });
    expect(appointmentInput({ status: 'fulfilled' }, true)).toEqual({ status: 'fulfilled' });
    expect(chargeInput({ amount: 10.005 }, true, '2026-12-07')).toEqual({ amount: 10.01 });
  });

  it('fills the defaults of a new appointment and charge', () => {
    expect(appointmentInput({ mrn: 'M', start: '2026-12-08T09:30:00Z' }, false)).toEqual({
      mrn: 'M',
      start: '2026-12-08T09:30:00Z',
      duration_min: 30,
      status: 'booked',
    });
    expect(chargeInput({ mrn: 'M', code: '99213', amount: 0 }, false, '2026-12-07')).toEqual({
      mrn: 'M',
      code: '99213',
      amount: 0,
      currency: 'USD',
      status: 'billed',
      service_date: '2026-12-07',
    });
  });

  it('names the field it refuses', () => {
    expect(refusal(() => appointmentInput({ duration_min: 0 }, true))).toEqual({
      field: 'duration_min',
      message: 'duration_min must be a whole number of minutes, 1-1440',
    });
    expect(refusal(() => appointmentInput({ status: 'done' }, true))).toEqual({
      field: 'status',
      message: 'status must be one of booked, cancelled, noshow, fulfilled',
    });
    expect(refusal(() => chargeInput({ currency: 'usd' }, true, '2026-12-07'))).toMatchObject({
      field: 'currency',
    });
    expect(refusal(() => chargeInput({ mrn: 'M', code: 'X' }, false, '2026-12-07'))).toEqual({
      field: 'amount',
      message: 'amount is required',
    });
    expect(refusal(() => patientInput({ mrn: 42 }, true))).toEqual({
      field: 'mrn',
      message: 'mrn must be a string',
    });
  });

  it('accepts a start time only with its offset and a real date', () => {
    expect(isInstant('2026-12-08T09:30-05:00')).toBe(true);
    expect(isInstant('2026-12-08T09:30:15.5+01:00')).toBe(true);
    expect(isInstant('2026-12-08T09:30:00')).toBe(false);
    expect(isInstant('2026-02-30T09:30:00Z')).toBe(false);
    expect(isInstant('2026-12-08T24:00:00Z')).toBe(false);
  });
});
