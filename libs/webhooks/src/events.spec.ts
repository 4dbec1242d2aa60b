import { createHubChangesDouble } from '../../../test/support/hub-changes-double';
import { parseCriteria, matchesCriteria, CriteriaError } from './criteria';
import { deriveEvents, eventTypeOf } from './events';

describe('events derived from sequences of hub changes', () => {
  it('names each change of a patient, an appointment, results and charges by the documented rules', () => {
    const hub = createHubChangesDouble();
    const p = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Test' }] };
    const appt = (status: string, extra: Record<string, unknown> = {}) => ({
      resourceType: 'Appointment',
      id: 'a1',
      status,
      ...extra,
    });
    const obs = (status: string, value = 1) => ({
      resourceType: 'Observation',
      id: 'o1',
      status,
      valueQuantity: { value },
    });
    const changes = hub.commit(
      { action: 'created', resource: p },
      { action: 'updated', resource: { ...p, gender: 'female' } },
      { action: 'merged', resource: { ...p, active: false }, mergedInto: 'p2' },
      { action: 'created', resource: appt('booked'), patientId: 'p2' },
      { action: 'updated', resource: appt('booked', { comment: 'room 2' }), patientId: 'p2' },
      { action: 'updated', resource: appt('cancelled'), patientId: 'p2' },
      { action: 'updated', resource: appt('booked'), patientId: 'p2' },
      { action: 'updated', resource: appt('noshow'), patientId: 'p2' },
      { action: 'created', resource: obs('preliminary'), patientId: 'p2' },
      { action: 'updated', resource: obs('final'), patientId: 'p2' },
      { action: 'updated', resource: obs('final', 2), patientId: 'p2' },
      { action: 'updated', resource: obs('amended', 3), patientId: 'p2' },
      {
        action: 'created',
        resource: { resourceType: 'DiagnosticReport', id: 'd1', status: 'final' },
        patientId: 'p2',
      },
      {
        action: 'created',
        resource: { resourceType: 'DiagnosticReport', id: 'd2', status: 'corrected' },
        patientId: 'p2',
      },
      {
        action: 'created',
        resource: { resourceType: 'ChargeItem', id: 'c1', status: 'billable' },
        patientId: 'p2',
      },
      {
        action: 'updated',
        resource: { resourceType: 'ChargeItem', id: 'c1', status: 'billed' },
        patientId: 'p2',
      },
      {
        action: 'created',
        resource: { resourceType: 'Invoice', id: 'i1', status: 'issued' },
        patientId: 'p2',
      },
      { action: 'created', resource: { resourceType: 'Practitioner', id: 'dr1' } },
      { action: 'deleted', resource: appt('booked'), patientId: 'p2' },
      { action: 'deleted', resource: p },
    );
    expect(changes.map((c) => eventTypeOf(c) ?? null)).toEqual([
      'patient.created',
      'patient.updated',
      'patient.merged',
      'appointment.booked',
      'appointment.changed',
      'appointment.cancelled',
      'appointment.booked',
      'appointment.cancelled',
      null,
      'result.final',
      'result.corrected',
      'result.corrected',
      'result.final',
      'result.corrected',
      'charge.created',
      null,
      'charge.created',
      null,
      'appointment.cancelled',
      null,
    ]);
    const events = deriveEvents(changes);
    expect(events).toHaveLength(16);
    expect(events[2]).toMatchObject({
      type: 'patient.merged',
      patientId: 'p1',
      data: { reference: 'Patient/p1', mergedInto: 'Patient/p2', versionId: '3' },
    });
    expect(events[5]).toMatchObject({
      type: 'appointment.cancelled',
      data: { status: 'cancelled', previousStatus: 'booked', patient: 'Patient/p2' },
    });
    // The same change always has the same event id (the webhook-id receivers de-duplicate by).
    expect(deriveEvents(changes).map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('an appointment created cancelled is a cancellation, and a result created preliminary is nothing yet', () => {
    const hub = createHubChangesDouble();
    const [a, o] = hub.commit(
      { action: 'created', resource: { resourceType: 'Appointment', id: 'a', status: 'cancelled' } },
      { action: 'created', resource: { resourceType: 'Observation', id: 'o', status: 'registered' } },
    );
    expect(eventTypeOf(a!)).toBe('appointment.cancelled');
    expect(eventTypeOf(o!)).toBeUndefined();
  });
});

describe('FHIR Subscription criteria', () => {
  it('matches by type, status and code', () => {
    const hub = createHubChangesDouble();
    const [glucose, other] = hub.commit(
      {
        action: 'created',
        resource: {
          resourceType: 'Observation',
          id: 'g',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
        },
      },
      {
        action: 'created',
        resource: {
          resourceType: 'Observation',
          id: 'x',
          status: 'final',
          code: { coding: [{ code: '1' }] },
        },
      },
    );
    const byCode = parseCriteria('Observation?code=http://loinc.org|2345-7');
    expect([matchesCriteria(byCode, glucose!), matchesCriteria(byCode, other!)]).toEqual([true, false]);
    expect(matchesCriteria(parseCriteria('Observation?code=2345-7&status=final'), glucose!)).toBe(true);
    expect(matchesCriteria(parseCriteria('Observation?status=preliminary'), glucose!)).toBe(false);
    expect(matchesCriteria(parseCriteria('Patient'), glucose!)).toBe(false);
  });

  it('refuses what the documented subset does not cover, saying what is supported', () => {
    expect(() => parseCriteria('Medication')).toThrow(CriteriaError);
    expect(() => parseCriteria('Patient?name=x')).toThrow(
      'criteria parameter name is not supported for Patient',
    );
    expect(() => parseCriteria('Appointment?code=1')).toThrow('(supported: status)');
    expect(() => parseCriteria('Appointment?status=')).toThrow('has no value');
  });
});
