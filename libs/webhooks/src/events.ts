import type { FhirResource, HubChange } from '@sinew/hub';
import type { WebhookEvent, WebhookEventType } from './types';

/**
 * Which event a hub change is. One change is at most one event; changes no rule covers (a
 * Practitioner, a deleted Patient, an Observation still preliminary) are none.
 *
 * - Patient: created → `patient.created`; updated → `patient.updated`; merged (ADT^A40, the
 *   merged-away patient) → `patient.merged`.
 * - Appointment: created → `appointment.booked` (`appointment.cancelled` when it is created
 *   cancelled or noshow); updated with status changed to booked → `appointment.booked`, to
 *   cancelled or noshow → `appointment.cancelled`; any other update → `appointment.changed`;
 *   deleted (a cancel applied as a removal) → `appointment.cancelled`.
 * - DiagnosticReport and Observation: status final, the first time (created final, or
 *   updated to final from a status that was not final, amended or corrected) → `result.final`;
 *   status amended or corrected, or a final result updated → `result.corrected`.
 * - ChargeItem and Invoice: created → `charge.created`.
 */
export function eventTypeOf(change: HubChange): WebhookEventType | undefined {
  const { action, resourceType } = change;
  const status = statusOf(change.resource);
  const before = change.previous ? statusOf(change.previous) : undefined;
  switch (resourceType) {
    case 'Patient':
      if (action === 'created') return 'patient.created';
      if (action === 'updated') return 'patient.updated';
      if (action === 'merged') return 'patient.merged';
      return undefined;
    case 'Appointment':
      if (action === 'deleted') return 'appointment.cancelled';
      if (action === 'created')
        return CANCELLED.has(status ?? '') ? 'appointment.cancelled' : 'appointment.booked';
      if (action !== 'updated') return undefined;
      if (status !== before && status === 'booked') return 'appointment.booked';
      if (status !== before && CANCELLED.has(status ?? '')) return 'appointment.cancelled';
      return 'appointment.changed';
    case 'DiagnosticReport':
    case 'Observation':
      if (action !== 'created' && action !== 'updated') return undefined;
      if (status === 'amended' || status === 'corrected') return 'result.corrected';
      if (status !== 'final') return undefined;
      return action === 'updated' && RESULTED.has(before ?? '') ? 'result.corrected' : 'result.final';
    case 'ChargeItem':
    case 'Invoice':
      return action === 'created' ? 'charge.created' : undefined;
    default:
      return undefined;
  }
}

const CANCELLED = new Set(['cancelled', 'noshow']);
const RESULTED = new Set(['final', 'amended', 'corrected']);

function statusOf(resource: FhirResource): string | undefined {
  return typeof resource.status === 'string' ? resource.status : undefined;
}

/** The event id of a hub change (stable: the same change always gives the same id). */
export function hubEventId(change: HubChange): string {
  return `evt_${change.environment === 'sandbox' ? 's' : 'p'}${change.seq.toString(36)}`;
}

/** The event a hub change is, with its data; undefined when it is none. */
export function deriveEvent(change: HubChange): WebhookEvent | undefined {
  const type = eventTypeOf(change);
  return type ? changeEvent(change, type) : undefined;
}

/** A hub change as an event of the given type (`resource.changed` when no rule covers it). */
export function changeEvent(change: HubChange, type: WebhookEvent['type']): WebhookEvent {
  const data: Record<string, unknown> = {
    resourceType: change.resourceType,
    id: change.id,
    versionId: String(change.versionId),
    reference: `${change.resourceType}/${change.id}`,
    action: change.action,
  };
  if (change.patientId) data.patient = `Patient/${change.patientId}`;
  const status = statusOf(change.resource);
  if (status !== undefined) data.status = status;
  const before = change.previous ? statusOf(change.previous) : undefined;
  if (before !== undefined && before !== status) data.previousStatus = before;
  if (change.mergedInto) data.mergedInto = `Patient/${change.mergedInto}`;
  return {
    id: hubEventId(change),
    type,
    environment: change.environment,
    at: change.at,
    patientId: change.patientId,
    seq: change.seq,
    data,
    change,
  };
}

/** The events of a sequence of changes, in order (changes no rule covers are left out). */
export function deriveEvents(changes: readonly HubChange[]): WebhookEvent[] {
  const out: WebhookEvent[] = [];
  for (const c of changes) {
    const e = deriveEvent(c);
    if (e) out.push(e);
  }
  return out;
}

/** Every change as an event, for the fan-out: FHIR Subscriptions hear of changes no rule covers too. */
export function changeEvents(changes: readonly HubChange[]): WebhookEvent[] {
  return changes.map((c) => deriveEvent(c) ?? changeEvent(c, 'resource.changed'));
}
